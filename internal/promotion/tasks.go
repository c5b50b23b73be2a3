package promotion

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/expr"
)

// StepAlias returns the alias of the step at index i: its own (as), or
// Kargo's default, task-i for a step that references a task and step-i for
// any other.
func StepAlias(s *kargoapi.PromotionStep, i int) string {
	if a := strings.TrimSpace(s.As); a != "" {
		return a
	}
	if s.Task != nil {
		return "task-" + strconv.Itoa(i)
	}
	return "step-" + strconv.Itoa(i)
}

// TaskGetter returns the spec of the (Cluster)PromotionTask a step
// references: kind is PromotionTask (in the promotion's project) or
// ClusterPromotionTask. A task that does not exist is (nil, nil) or an
// error; other errors are returned as they are, wrapped.
type TaskGetter func(ctx context.Context, kind, name string) (*kargoapi.PromotionTaskSpec, error)

// TaskError is an error inflating the step at Index, which references a
// task. Its message says what to fix.
type TaskError struct {
	// Index is the step's index in the list given to InflateSteps.
	Index int
	// Alias is the task step's alias.
	Alias string
	// Kind and Name identify the task.
	Kind, Name string
	// Err is what went wrong.
	Err error
}

// Error returns `step N ("alias") runs Kind "name": <problem>`.
func (e *TaskError) Error() string {
	return fmt.Sprintf("step %d (%q) runs %s %q: %v", e.Index, e.Alias, e.Kind, e.Name, e.Err)
}

// Unwrap returns the underlying error.
func (e *TaskError) Unwrap() error { return e.Err }

// InflateSteps returns steps with every step that references a
// PromotionTask or ClusterPromotionTask replaced by the task's steps, as
// Kargo does when it creates a Promotion:
//
//   - each inflated step's alias is "<task step alias>::<its own alias>"
//     (task-N and step-N by default), so aliases stay unique and the task's
//     steps read each other's outputs as task.outputs['<own alias>'];
//   - the task's variables become step variables of each inflated step,
//     ahead of the step's own: a variable the task step sets in its vars
//     takes that value; else one the Promotion sets (vars, from its Stage)
//     is left to it; else the task's default. A task variable without a
//     default that neither sets is an error naming it.
//
// Steps that reference no task are copied unchanged. getTask reads the
// tasks; vars are the Promotion's variables. Errors are *TaskError, except
// those getTask returns, which are wrapped in one.
func InflateSteps(
	ctx context.Context,
	steps []kargoapi.PromotionStep,
	getTask TaskGetter,
	vars ...kargoapi.ExpressionVariable,
) ([]kargoapi.PromotionStep, error) {
	out := make([]kargoapi.PromotionStep, 0, len(steps))
	for i := range steps {
		step := &steps[i]
		if step.Task == nil {
			out = append(out, *step.DeepCopy())
			continue
		}
		taskSteps, err := inflateTask(ctx, i, step, getTask, vars)
		if err != nil {
			return nil, err
		}
		out = append(out, taskSteps...)
	}
	return out, nil
}

func inflateTask(
	ctx context.Context,
	i int,
	step *kargoapi.PromotionStep,
	getTask TaskGetter,
	promoVars []kargoapi.ExpressionVariable,
) ([]kargoapi.PromotionStep, error) {
	alias := StepAlias(step, i)
	kind := step.Task.Kind
	if kind == "" {
		kind = kargoapi.PromotionTaskKindPromotionTask
	}
	terr := &TaskError{Index: i, Alias: alias, Kind: kind, Name: step.Task.Name}
	if kind != kargoapi.PromotionTaskKindPromotionTask && kind != kargoapi.PromotionTaskKindClusterPromotionTask {
		terr.Err = fmt.Errorf("task.kind must be %s or %s", kargoapi.PromotionTaskKindPromotionTask,
			kargoapi.PromotionTaskKindClusterPromotionTask)
		return nil, terr
	}
	if getTask == nil {
		terr.Err = fmt.Errorf("tasks cannot be read here")
		return nil, terr
	}
	spec, err := getTask(ctx, kind, step.Task.Name)
	if err != nil {
		terr.Err = err
		return nil, terr
	}
	if spec == nil {
		where := "in the project"
		if kind == kargoapi.PromotionTaskKindClusterPromotionTask {
			where = "in the cluster"
		}
		terr.Err = fmt.Errorf("no %s named %q exists %s: create it, or correct task.name and task.kind", kind, step.Task.Name, where)
		return nil, terr
	}
	taskVars, err := taskStepVars(spec.Vars, promoVars, step.Vars)
	if err != nil {
		terr.Err = err
		return nil, terr
	}
	out := make([]kargoapi.PromotionStep, 0, len(spec.Steps))
	for j := range spec.Steps {
		ts := spec.Steps[j].DeepCopy()
		if ts.Task != nil {
			terr.Err = fmt.Errorf("its step %d references the task %q, and tasks cannot be nested: "+
				"copy that task's steps into %s %q instead", j, ts.Task.Name, kind, step.Task.Name)
			return nil, terr
		}
		ts.As = alias + expr.AliasSeparator + StepAlias(ts, j)
		vars := make([]kargoapi.ExpressionVariable, 0, len(taskVars)+len(ts.Vars))
		vars = append(vars, taskVars...)
		ts.Vars = append(vars, ts.Vars...)
		if len(ts.Vars) == 0 {
			ts.Vars = nil
		}
		out = append(out, *ts)
	}
	return out, nil
}

// taskStepVars resolves a task's variables against the Promotion's and the
// task step's: the defaults the Promotion does not override, then the task
// step's own vars. A required variable (no default) must be set, with a
// non-empty value, by the task step or the Promotion.
func taskStepVars(taskVars, promoVars, stepVars []kargoapi.ExpressionVariable) ([]kargoapi.ExpressionVariable, error) {
	setByPromo := make(map[string]bool, len(promoVars))
	for _, v := range promoVars {
		if v.Value != "" {
			setByPromo[v.Name] = true
		}
	}
	setByStep := make(map[string]bool, len(stepVars))
	for _, v := range stepVars {
		if v.Value != "" {
			setByStep[v.Name] = true
		}
	}
	var out []kargoapi.ExpressionVariable
	var missing []string
	for _, v := range taskVars {
		switch {
		case setByStep[v.Name] || setByPromo[v.Name]:
			// The step's vars (appended below) or the Promotion's win.
		case v.Value != "":
			out = append(out, v)
		default:
			missing = append(missing, v.Name)
		}
	}
	if len(missing) > 0 {
		noun := "variable " + quoteList(missing) + " has"
		if len(missing) > 1 {
			noun = "variables " + quoteList(missing) + " have"
		}
		return nil, fmt.Errorf("the task's %s no default value: set %s in the task step's vars "+
			"(vars: [{name: %s, value: ...}]) or in the Stage's vars", noun, pronoun(len(missing)), missing[0])
	}
	return append(out, stepVars...), nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}
