package promotion

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

func ev(kv ...string) []kargoapi.ExpressionVariable {
	var out []kargoapi.ExpressionVariable
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, kargoapi.ExpressionVariable{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func taskStep(name, kind, as string, vars ...kargoapi.ExpressionVariable) kargoapi.PromotionStep {
	return kargoapi.PromotionStep{Task: &kargoapi.PromotionTaskReference{Name: name, Kind: kind}, As: as, Vars: vars}
}

func TestInflateSteps(t *testing.T) {
	tasks := map[string]*kargoapi.PromotionTaskSpec{
		"PromotionTask/open-pr": {
			Vars: ev("repoURL", "", "targetBranch", "main"),
			Steps: []kargoapi.PromotionStep{
				withVars(step("git-open-pr", "open", `{"repoURL":"${{ vars.repoURL }}"}`), "title", "t"),
				step("git-wait-for-pr", "", `{"prNumber":"${{ task.outputs.open.pr.id }}"}`),
			},
		},
		"ClusterPromotionTask/notify": {Steps: []kargoapi.PromotionStep{step("http", "", "")}},
		"PromotionTask/nested":        {Steps: []kargoapi.PromotionStep{taskStep("open-pr", "", "")}},
	}
	var asked []string
	getTask := func(_ context.Context, kind, name string) (*kargoapi.PromotionTaskSpec, error) {
		asked = append(asked, kind+"/"+name)
		if name == "broken" {
			return nil, errors.New("store unavailable")
		}
		return tasks[kind+"/"+name], nil
	}
	cases := []struct {
		name      string
		steps     []kargoapi.PromotionStep
		promoVars []kargoapi.ExpressionVariable
		aliases   []string
		// vars are the vars of each inflated step, as name=value.
		vars [][]string
		err  []string
	}{
		{
			name:    "steps without tasks are copied",
			steps:   []kargoapi.PromotionStep{step("git-clone", "", ""), step("git-push", "push", "")},
			aliases: []string{"", "push"},
			vars:    [][]string{nil, nil},
		},
		{
			name: "task steps get namespaced aliases, the task's defaults and the step's vars",
			steps: []kargoapi.PromotionStep{
				step("git-clone", "", ""),
				taskStep("open-pr", "", "", ev("repoURL", "https://git.example.com/x.git")...),
				taskStep("notify", kargoapi.PromotionTaskKindClusterPromotionTask, "ping"),
			},
			aliases: []string{"", "task-1::open", "task-1::step-1", "ping::step-0"},
			vars: [][]string{nil,
				{"targetBranch=main", "repoURL=https://git.example.com/x.git", "title=t"},
				{"targetBranch=main", "repoURL=https://git.example.com/x.git"},
				nil},
		},
		{
			name:      "a variable the Promotion sets satisfies the task and is left to it",
			steps:     []kargoapi.PromotionStep{taskStep("open-pr", "", "pr")},
			promoVars: ev("repoURL", "https://git.example.com/y.git", "targetBranch", "develop"),
			aliases:   []string{"pr::open", "pr::step-1"},
			vars:      [][]string{{"title=t"}, nil},
		},
		{
			name:    "a step var overrides the task's default",
			steps:   []kargoapi.PromotionStep{taskStep("open-pr", "", "pr", ev("repoURL", "r", "targetBranch", "dev")...)},
			aliases: []string{"pr::open", "pr::step-1"},
			vars:    [][]string{{"repoURL=r", "targetBranch=dev", "title=t"}, {"repoURL=r", "targetBranch=dev"}},
		},
		{
			name:  "a required variable that nothing sets is an error naming it",
			steps: []kargoapi.PromotionStep{step("git-clone", "", ""), taskStep("open-pr", "", "", ev("repoURL", "")...)},
			err: []string{`step 1 ("task-1") runs PromotionTask "open-pr"`, `variable "repoURL" has no default value`,
				"set it in the task step's vars"},
		},
		{
			name:  "a task that does not exist",
			steps: []kargoapi.PromotionStep{taskStep("nope", kargoapi.PromotionTaskKindClusterPromotionTask, "")},
			err:   []string{`no ClusterPromotionTask named "nope" exists in the cluster`},
		},
		{
			name:  "tasks do not nest",
			steps: []kargoapi.PromotionStep{taskStep("nested", "", "")},
			err:   []string{"tasks cannot be nested"},
		},
		{
			name:  "a read error is wrapped",
			steps: []kargoapi.PromotionStep{taskStep("broken", "", "")},
			err:   []string{"store unavailable"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orig := make([]kargoapi.PromotionStep, len(tc.steps))
			for i := range tc.steps {
				orig[i] = *tc.steps[i].DeepCopy()
			}
			got, err := InflateSteps(context.Background(), tc.steps, getTask, tc.promoVars...)
			if len(tc.err) > 0 {
				var terr *TaskError
				if !errors.As(err, &terr) {
					t.Fatalf("want a *TaskError, got %v", err)
				}
				for _, sub := range tc.err {
					if !strings.Contains(err.Error(), sub) {
						t.Errorf("error %q lacks %q", err, sub)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var aliases []string
			var vars [][]string
			for _, s := range got {
				if s.Task != nil {
					t.Errorf("a task step was left: %+v", s)
				}
				aliases = append(aliases, s.As)
				var vs []string
				for _, v := range s.Vars {
					vs = append(vs, v.Name+"="+v.Value)
				}
				vars = append(vars, vs)
			}
			if !reflect.DeepEqual(aliases, tc.aliases) || !reflect.DeepEqual(vars, tc.vars) {
				t.Errorf("aliases %q vars %q\nwant    %q vars %q", aliases, vars, tc.aliases, tc.vars)
			}
			if !reflect.DeepEqual(orig, tc.steps) {
				t.Error("InflateSteps changed its input")
			}
		})
	}
	if tasks["PromotionTask/open-pr"].Steps[0].As != "open" {
		t.Error("InflateSteps changed a task")
	}
	if !strings.Contains(strings.Join(asked, ","), "ClusterPromotionTask/notify") {
		t.Errorf("a ClusterPromotionTask should be asked for as such: %v", asked)
	}
}

// TestInflatedTaskRuns runs an inflated task end to end: the task's steps
// read each other's outputs through task.outputs, and compose-output makes
// the task's output readable by the Stage's next step.
func TestInflatedTaskRuns(t *testing.T) {
	spec := &kargoapi.PromotionTaskSpec{
		Vars: ev("greeting", ""),
		Steps: []kargoapi.PromotionStep{
			step("echo", "say", `{"text":"${{ vars.greeting }}, ${{ ctx.stage }}"}`),
			step("compose", "out", `{"said":"${{ task.outputs.say.text }}"}`),
		},
	}
	getTask := func(context.Context, string, string) (*kargoapi.PromotionTaskSpec, error) { return spec, nil }
	steps, err := InflateSteps(context.Background(), []kargoapi.PromotionStep{
		taskStep("greet", "", "greet", ev("greeting", "hello")...),
		step("echo", "after", `{"got":"${{ outputs.greet.said }}"}`),
	}, getTask)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, standardSteps()...)
	_, st := h.run(input(t, steps...))
	if st.Phase != kargoapi.PromotionPhaseSucceeded {
		t.Fatalf("%s %q", st.Phase, st.Message)
	}
	after, _ := outputs(t, st)["after"].(map[string]any)
	if after["got"] != "hello, uat" {
		t.Errorf("outputs: %v", outputs(t, st))
	}
}

func TestStepAlias(t *testing.T) {
	for _, tc := range []struct {
		step kargoapi.PromotionStep
		i    int
		want string
	}{
		{step("x", "", ""), 3, "step-3"},
		{step("x", " mine ", ""), 3, "mine"},
		{taskStep("t", "", ""), 0, "task-0"},
		{taskStep("t", "", "deploy"), 0, "deploy"},
	} {
		if got := StepAlias(&tc.step, tc.i); got != tc.want {
			t.Errorf("StepAlias(%+v, %d) = %q, want %q", tc.step, tc.i, got, tc.want)
		}
	}
}
