package v1alpha1

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// StepRules says what a list of promotion steps may hold. Stages,
// PromotionTasks, ClusterPromotionTasks and Promotions share one
// implementation of the step and variable rules and differ only here.
type StepRules struct {
	// Owner names what holds the steps in messages, e.g. "a PromotionTask".
	Owner string
	// AllowTasks admits steps that reference a (Cluster)PromotionTask with
	// task instead of running a built-in step with uses. Only a Stage's
	// promotion template may do that; tasks are inlined into Promotions and
	// cannot nest.
	AllowTasks bool
	// RequireSteps refuses an empty list of steps.
	RequireSteps bool
	// EmptyHint, when set, is appended to the message refusing an empty list
	// of steps, e.g. to say how to do without steps altogether.
	EmptyHint string
	// NoTasksHint completes the message refusing a task step when tasks are
	// not allowed; it should say how to fix the manifest.
	NoTasksHint string
}

// ValidateStepsAndVars checks the vars and steps found under p (as p.vars
// and p.steps): variable names, exactly one of uses and task per step (or
// uses only, by the rules), no config, retry, if or continueOnError on a task
// step, well-formed task references, unique aliases that are not reserved
// (step-N, task-N), and retry settings.
func ValidateStepsAndVars(p *field.Path, vars []ExpressionVariable, steps []PromotionStep, rules StepRules) field.ErrorList {
	errs := ValidateVars(p.Child("vars"), vars)
	return append(errs, ValidateSteps(p.Child("steps"), steps, rules)...)
}

// ValidateVars checks a list of expression variables: each has a name that
// expressions can refer to as vars.NAME.
func ValidateVars(p *field.Path, vars []ExpressionVariable) field.ErrorList {
	var errs field.ErrorList
	for i, v := range vars {
		np := p.Index(i).Child("name")
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(np,
				"a variable needs a name that expressions refer to as vars.NAME: set name"))
		case !varNameRegex.MatchString(v.Name):
			errs = append(errs, field.Invalid(np, v.Name,
				"a variable name must start with a letter or '_' and hold only letters, digits and '_' "+
					"(pattern ^[a-zA-Z_]\\w*$), so that expressions can use it as vars.NAME: rename it, "+
					"e.g. replacing '-' with '_'"))
		}
	}
	return errs
}

// ValidateSteps checks a list of promotion steps by the given rules.
func ValidateSteps(p *field.Path, steps []PromotionStep, rules StepRules) field.ErrorList {
	owner := rules.Owner
	if owner == "" {
		owner = "a promotion"
	}
	var errs field.ErrorList
	if rules.RequireSteps && len(steps) == 0 {
		msg := fmt.Sprintf("%s needs at least one step: add a step such as {uses: git-clone, config: {...}}", owner)
		if rules.EmptyHint != "" {
			msg += ", " + rules.EmptyHint
		}
		errs = append(errs, field.Required(p, msg))
	}
	firstByAlias := make(map[string]*field.Path, len(steps))
	for i := range steps {
		step := &steps[i]
		sp := p.Index(i)
		errs = append(errs, validateStepKind(sp, step, rules, owner)...)
		if step.Task != nil && rules.AllowTasks {
			errs = append(errs, validateTaskStep(sp, step)...)
		}
		if alias := strings.TrimSpace(step.As); alias != "" {
			ap := sp.Child("as")
			if IsReservedStepAlias(alias) {
				errs = append(errs, field.Invalid(ap, alias,
					"aliases of the form step-N and task-N are reserved for steps without an alias: "+
						"choose another alias"))
			}
			if first, seen := firstByAlias[alias]; seen {
				errs = append(errs, duplicateOf(ap, alias, first,
					"each step's alias must be unique so its outputs can be told apart; rename one"))
			} else {
				firstByAlias[alias] = ap
			}
		}
		if step.Retry != nil {
			if err := validateNonNegativeDuration(sp.Child("retry", "timeout"), step.Retry.Timeout); err != nil {
				errs = append(errs, err)
			}
		}
		errs = append(errs, ValidateVars(sp.Child("vars"), step.Vars)...)
	}
	return errs
}

// validateStepKind checks that a step runs exactly one thing.
func validateStepKind(sp *field.Path, step *PromotionStep, rules StepRules, owner string) field.ErrorList {
	uses := strings.TrimSpace(step.Uses) != ""
	task := step.Task != nil
	switch {
	case task && !rules.AllowTasks:
		hint := rules.NoTasksHint
		if hint == "" {
			hint = "replace the task step with uses: <step>"
		}
		return field.ErrorList{field.Forbidden(sp.Child("task"), fmt.Sprintf(
			"the steps of %s cannot reference a task: %s", owner, hint,
		))}
	case uses && task:
		return field.ErrorList{field.Forbidden(sp, fmt.Sprintf(
			"a step runs either a built-in step (uses: %q) or a task (task: %q), not both: remove one",
			step.Uses, step.Task.Name,
		))}
	case !uses && !task && rules.AllowTasks:
		return field.ErrorList{field.Required(sp.Child("uses"),
			"a step needs exactly one of uses (a built-in step such as git-clone) or task "+
				"(a PromotionTask to inline): set one")}
	case !uses && !task:
		return field.ErrorList{field.Required(sp.Child("uses"),
			"a step needs uses, the built-in step to run (such as git-clone): set it")}
	}
	return nil
}

// validateTaskStep checks a step that inlines a task: the reference is well
// formed, and the fields that belong to the task's own steps are absent.
func validateTaskStep(sp *field.Path, step *PromotionStep) field.ErrorList {
	tp := sp.Child("task")
	errs := validateDNSSubdomain(tp.Child("name"), step.Task.Name, "the task's name")
	if step.Task.Kind != "" {
		if err := validateEnum(tp.Child("kind"), step.Task.Kind,
			PromotionTaskKindPromotionTask, PromotionTaskKindClusterPromotionTask); err != nil {
			errs = append(errs, err)
		}
	}
	const why = "a step that references a task takes its behaviour from the task's steps"
	if !step.Config.IsEmpty() {
		errs = append(errs, field.Forbidden(sp.Child("config"),
			why+": pass values to the task with vars instead of config"))
	}
	if step.Retry != nil {
		errs = append(errs, field.Forbidden(sp.Child("retry"),
			why+": set retry on the task's steps instead"))
	}
	if step.If != "" {
		errs = append(errs, field.Forbidden(sp.Child("if"),
			why+": put the condition on the task's steps instead"))
	}
	if step.ContinueOnError {
		errs = append(errs, field.Forbidden(sp.Child("continueOnError"),
			why+": set continueOnError on the task's steps instead"))
	}
	return errs
}

// ValidatePromotionTask checks a PromotionTask's own fields: at least one
// step, every step uses a built-in step (tasks do not nest), and the shared
// alias, variable and retry rules.
func ValidatePromotionTask(t *PromotionTask) field.ErrorList {
	if t == nil {
		return nil
	}
	return validatePromotionTaskSpec(&t.Spec, "a PromotionTask")
}

// ValidateClusterPromotionTask checks a ClusterPromotionTask by the same
// rules as a PromotionTask.
func ValidateClusterPromotionTask(t *ClusterPromotionTask) field.ErrorList {
	if t == nil {
		return nil
	}
	return validatePromotionTaskSpec(&t.Spec, "a ClusterPromotionTask")
}

func validatePromotionTaskSpec(spec *PromotionTaskSpec, owner string) field.ErrorList {
	return ValidateStepsAndVars(field.NewPath("spec"), spec.Vars, spec.Steps, StepRules{
		Owner:        owner,
		RequireSteps: true,
		NoTasksHint:  "tasks cannot be nested; copy the other task's steps here, or reference both tasks from the Stage",
	})
}
