package promotion

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/retry"
)

const strictSchema = `{
  "type": "object",
  "additionalProperties": false,
  "required": ["path"],
  "properties": {
    "path": {"type": "string"},
    "images": {"type": "array", "items": {
      "type": "object", "additionalProperties": false, "required": ["image"],
      "properties": {"image": {"type": "string"}, "tag": {"type": "string"}}
    }}
  }
}`

// standardSteps returns fresh test steps: ok, fail, error, panic, echo,
// strict (with a schema), weird (an invalid status) and compose (a task
// output step).
func standardSteps() []Step {
	return []Step{
		&scriptStep{name: "ok", do: ok(map[string]any{"value": "v"})},
		&scriptStep{name: "fail", do: func(int, *StepContext) (StepResult, error) {
			return StepResult{Status: StepStatusFailed, Message: "the check failed"}, nil
		}},
		&scriptStep{name: "error", do: func(int, *StepContext) (StepResult, error) {
			return StepResult{}, errors.New("boom")
		}},
		&scriptStep{name: "panic", do: func(int, *StepContext) (StepResult, error) { panic("kaboom") }},
		&scriptStep{name: "echo", do: echo},
		&scriptStep{name: "strict", schema: strictSchema, do: echo},
		&scriptStep{name: "weird", do: func(int, *StepContext) (StepResult, error) {
			return StepResult{Status: "Weird"}, nil
		}},
		&scriptStep{name: "compose", do: echo, taskOutput: true},
	}
}

func withIf(s kargoapi.PromotionStep, cond string) kargoapi.PromotionStep {
	s.If = cond
	return s
}

func withCOE(s kargoapi.PromotionStep) kargoapi.PromotionStep {
	s.ContinueOnError = true
	return s
}

func withVars(s kargoapi.PromotionStep, kv ...string) kargoapi.PromotionStep {
	for i := 0; i+1 < len(kv); i += 2 {
		s.Vars = append(s.Vars, kargoapi.ExpressionVariable{Name: kv[i], Value: kv[i+1]})
	}
	return s
}

func TestRunStepModel(t *testing.T) {
	cases := []struct {
		name     string
		steps    []kargoapi.PromotionStep
		vars     []kargoapi.ExpressionVariable
		phase    kargoapi.PromotionPhase
		statuses string
		// stepMsgs are substrings of each step's message, by index.
		stepMsgs map[int][]string
		// msgs are substrings of the promotion's message.
		msgs []string
		// outputs are expected values of saved outputs: alias → key → value.
		outputs map[string]map[string]any
	}{
		{
			name:     "every step succeeds; default aliases are step-N",
			steps:    []kargoapi.PromotionStep{step("ok", "", ""), step("echo", "", `{"x":"${{ outputs['step-0'].value }}"}`)},
			phase:    kargoapi.PromotionPhaseSucceeded,
			statuses: "Succeeded,Succeeded",
			outputs:  map[string]map[string]any{"step-0": {"value": "v"}, "step-1": {"x": "v"}},
		},
		{
			name: "after a failure, steps without if are skipped; failure() and always() run",
			steps: []kargoapi.PromotionStep{
				step("fail", "check", ""),
				step("ok", "", ""),
				withIf(step("echo", "on-failure", `{"s":"${{ status('check') }}"}`), "${{ failure() }}"),
				withIf(step("ok", "always", ""), "${{ always() }}"),
				withIf(step("ok", "on-success", ""), "${{ success() }}"),
			},
			phase:    kargoapi.PromotionPhaseFailed,
			statuses: "Failed,Skipped,Succeeded,Succeeded,Skipped",
			stepMsgs: map[int][]string{0: {"the check failed"}, 1: {"an earlier step failed", "always()"}, 4: {"if condition is false"}},
			msgs:     []string{`step 0 "check" (fail) failed: the check failed`},
			outputs:  map[string]map[string]any{"on-failure": {"s": "Failed"}},
		},
		{
			name: "continueOnError: the failure counts for neither success() nor the phase",
			steps: []kargoapi.PromotionStep{
				withCOE(step("error", "flaky", "")),
				step("ok", "", ""),
				withIf(step("ok", "on-success", ""), "${{ success() }}"),
				withIf(step("echo", "which", `{"s":"${{ status('flaky') }}"}`), "${{ status('flaky') == 'Errored' }}"),
			},
			phase:    kargoapi.PromotionPhaseSucceeded,
			statuses: "Errored,Succeeded,Succeeded,Succeeded",
			stepMsgs: map[int][]string{0: {"boom"}},
			outputs:  map[string]map[string]any{"which": {"s": "Errored"}},
		},
		{
			name:     "an if without delimiters is an expression; literal false skips",
			steps:    []kargoapi.PromotionStep{withIf(step("ok", "a", ""), "always()"), withIf(step("ok", "b", ""), "false")},
			phase:    kargoapi.PromotionPhaseSucceeded,
			statuses: "Succeeded,Skipped",
		},
		{
			name:     "an if that is not a bool errors the step",
			steps:    []kargoapi.PromotionStep{withIf(step("ok", "a", ""), "${{ 'yes' }}")},
			phase:    kargoapi.PromotionPhaseErrored,
			statuses: "Errored",
			stepMsgs: map[int][]string{0: {"if must evaluate to true or false", `"yes"`}},
		},
		{
			name:     "an unknown step errors with the known steps",
			steps:    []kargoapi.PromotionStep{step("ehco", "", ""), step("ok", "", "")},
			phase:    kargoapi.PromotionPhaseErrored,
			statuses: "Errored,Skipped",
			stepMsgs: map[int][]string{0: {`unknown step "ehco": known steps are compose, echo, error, fail, ok, panic, strict, weird; did you mean "echo"?`}},
			msgs:     []string{`step 0 "step-0" (ehco) errored: unknown step`},
		},
		{
			name:     "a bad expression errors the step, naming the field",
			steps:    []kargoapi.PromotionStep{step("echo", "render", `{"images":[{"tag":"${{ imageFrom('ghcr.io/acme/shop').Tga }}"}]}`)},
			phase:    kargoapi.PromotionPhaseErrored,
			statuses: "Errored",
			stepMsgs: map[int][]string{0: {"config.images[0].tag: evaluate expression", "Tga"}},
			msgs:     []string{`step 0 "render" (echo) errored: config.images[0].tag`},
		},
		{
			name:     "a config that fails its schema names the field",
			steps:    []kargoapi.PromotionStep{step("strict", "s", `{"path": 42, "images": [{"imag": "x"}], "pathh": 1}`)},
			phase:    kargoapi.PromotionPhaseErrored,
			statuses: "Errored",
			stepMsgs: map[int][]string{0: {
				"config.path: got number, want string",
				`config.images[0].image: required field missing`,
				`config.images[0].imag: unknown field (did you mean "image"?)`,
				`config.pathh: unknown field (did you mean "path"?)`,
			}},
		},
		{
			name:     "a config evaluated into the schema's types passes",
			steps:    []kargoapi.PromotionStep{step("strict", "s", `{"path": "${{ quote(40 + 2) }}", "images": [{"image": "${{ imageFrom('ghcr.io/acme/shop').RepoURL }}", "tag": "${{ quote(imageFrom('ghcr.io/acme/shop').Tag) }}"}]}`)},
			phase:    kargoapi.PromotionPhaseSucceeded,
			statuses: "Succeeded",
			outputs:  map[string]map[string]any{"s": {"path": "42"}},
		},
		{
			name:     "a panic is an errored step, not a crash",
			steps:    []kargoapi.PromotionStep{step("panic", "", ""), withIf(step("ok", "after", ""), "${{ always() }}")},
			phase:    kargoapi.PromotionPhaseErrored,
			statuses: "Errored,Succeeded",
			stepMsgs: map[int][]string{0: {"the step panicked: kaboom"}},
		},
		{
			name:     "a status steps may not return errors the step",
			steps:    []kargoapi.PromotionStep{step("weird", "", "")},
			phase:    kargoapi.PromotionPhaseErrored,
			statuses: "Errored",
			stepMsgs: map[int][]string{0: {`the status "Weird"`}},
		},
		{
			name: "vars: promotion vars, then step vars that see outputs and override",
			vars: []kargoapi.ExpressionVariable{{Name: "repo", Value: "ghcr.io/acme/shop"}, {Name: "branch", Value: "stage/${{ ctx.stage }}"}},
			steps: []kargoapi.PromotionStep{
				step("ok", "first", ""),
				withVars(step("echo", "e", `{"branch":"${{ vars.branch }}","tag":"${{ imageFrom(vars.repo).Tag }}","seen":"${{ vars.seen }}","who":"${{ ctx.meta.promotion.actor }}","freight":"${{ ctx.targetFreight.name }}/${{ ctx.targetFreight.origin.name }}"}`),
					"seen", "${{ outputs.first.value }}", "branch", "override"),
			},
			phase:    kargoapi.PromotionPhaseSucceeded,
			statuses: "Succeeded,Succeeded",
			outputs: map[string]map[string]any{"e": {"branch": "override", "tag": "1.2.0", "seen": "v",
				"who": "email:dev@example.com", "freight": "f0123456789/shop"}},
		},
		{
			name: "task steps read task.outputs by short alias; compose output becomes the task's",
			steps: []kargoapi.PromotionStep{
				step("ok", "deploy::clone", ""),
				step("compose", "deploy::out", `{"from":"${{ task.outputs.clone.value }}","status":"${{ status('clone') }}"}`),
				step("echo", "after", `{"composed":"${{ outputs.deploy.from }}"}`),
			},
			phase:    kargoapi.PromotionPhaseSucceeded,
			statuses: "Succeeded,Succeeded,Succeeded",
			outputs: map[string]map[string]any{"deploy": {"from": "v", "status": "Succeeded"},
				"after": {"composed": "v"}},
		},
		{
			name:     "status() of an alias no step has is an error that lists them",
			steps:    []kargoapi.PromotionStep{step("echo", "a", `{"s":"${{ status('nope') }}"}`)},
			phase:    kargoapi.PromotionPhaseErrored,
			statuses: "Errored",
			stepMsgs: map[int][]string{0: {`no step has the alias "nope"; the aliases are a`}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, standardSteps()...)
			in := input(t, tc.steps...)
			in.Vars = tc.vars
			res, st := h.run(in)
			if !res.Done {
				t.Fatalf("want Done, got %+v (%s)", res, statuses(st))
			}
			if st.Phase != tc.phase || statuses(st) != tc.statuses {
				t.Fatalf("got %s [%s] %q, want %s [%s]", st.Phase, statuses(st), st.Message, tc.phase, tc.statuses)
			}
			for i, subs := range tc.stepMsgs {
				for _, sub := range subs {
					if !strings.Contains(st.StepExecutionMetadata[i].Message, sub) {
						t.Errorf("step %d message %q lacks %q", i, st.StepExecutionMetadata[i].Message, sub)
					}
				}
			}
			for _, sub := range tc.msgs {
				if !strings.Contains(st.Message, sub) {
					t.Errorf("promotion message %q lacks %q", st.Message, sub)
				}
			}
			out := outputs(t, st)
			for alias, kv := range tc.outputs {
				got, _ := out[alias].(map[string]any)
				for k, v := range kv {
					if got[k] != v {
						t.Errorf("outputs[%q][%q] = %v, want %v", alias, k, got[k], v)
					}
				}
			}
			if st.StartedAt == nil || st.FinishedAt == nil || st.Freight == nil || st.Freight.Name != "f0123456789" {
				t.Errorf("startedAt, finishedAt and freight should be set: %+v", st)
			}
		})
	}
}

func TestRetryErrorThreshold(t *testing.T) {
	cases := []struct {
		name      string
		threshold uint32
		errs      []error // the step's errors, run by run; then it succeeds
		phase     kargoapi.PromotionPhase
		runs      int
		waits     []time.Duration
		msg       string
	}{
		{name: "default threshold 1: the first error fails the step", errs: []error{errors.New("e1")},
			phase: kargoapi.PromotionPhaseErrored, runs: 1, msg: "e1"},
		{name: "errors below the threshold are retried with backoff", threshold: 3,
			errs: []error{errors.New("e1"), errors.New("e2")}, phase: kargoapi.PromotionPhaseSucceeded, runs: 3,
			waits: []time.Duration{5 * time.Second, 10 * time.Second}},
		{name: "reaching the threshold errors the step", threshold: 2,
			errs: []error{errors.New("e1"), errors.New("e2")}, phase: kargoapi.PromotionPhaseErrored, runs: 2,
			waits: []time.Duration{5 * time.Second}, msg: "2 errors in a row, reaching retry.errorThreshold 2; the last: e2"},
		{name: "a terminal error is not retried", threshold: 5, errs: []error{retry.Terminal(errors.New("bad input"))},
			phase: kargoapi.PromotionPhaseErrored, runs: 1, msg: "bad input"},
		{name: "retry.After chooses the delay", threshold: 2, errs: []error{retry.After(42*time.Second, errors.New("later"))},
			phase: kargoapi.PromotionPhaseSucceeded, runs: 2, waits: []time.Duration{42 * time.Second}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flaky := &scriptStep{name: "flaky", do: func(n int, _ *StepContext) (StepResult, error) {
				if n <= len(tc.errs) {
					return StepResult{}, tc.errs[n-1]
				}
				return StepResult{Status: StepStatusSucceeded}, nil
			}}
			h := newHarness(t, flaky)
			s := step("flaky", "", "")
			if tc.threshold > 0 {
				s.Retry = &kargoapi.PromotionStepRetry{ErrorThreshold: tc.threshold}
			}
			in := input(t, s)
			var waits []time.Duration
			var st *kargoapi.PromotionStatus
			for i := 0; i < 10; i++ {
				var res RunResult
				res, st = h.run(in)
				if res.Done {
					break
				}
				if st.Phase != kargoapi.PromotionPhaseRunning || st.StepExecutionMetadata[0].Status != kargoapi.PromotionStepStatusRunning {
					t.Fatalf("a step being retried should be Running: %s [%s]", st.Phase, statuses(st))
				}
				waits = append(waits, res.RetryAfter)
			}
			if st.Phase != tc.phase || len(flaky.runsOf()) != tc.runs {
				t.Fatalf("got %s after %d runs, want %s after %d: %q", st.Phase, len(flaky.runsOf()), tc.phase, tc.runs, st.Message)
			}
			if len(waits) != len(tc.waits) {
				t.Fatalf("waits %v, want %v", waits, tc.waits)
			}
			for i := range waits {
				if waits[i] != tc.waits[i] {
					t.Errorf("wait %d = %v, want %v", i, waits[i], tc.waits[i])
				}
			}
			if tc.msg != "" && !strings.Contains(st.StepExecutionMetadata[0].Message, tc.msg) {
				t.Errorf("message %q lacks %q", st.StepExecutionMetadata[0].Message, tc.msg)
			}
			for i, r := range flaky.runsOf() {
				if r.attempt != i+1 {
					t.Errorf("run %d saw attempt %d", i+1, r.attempt)
				}
			}
		})
	}
}

func TestRunningStepTimeout(t *testing.T) {
	waiter := &scriptStep{name: "wait", do: func(int, *StepContext) (StepResult, error) {
		return StepResult{Status: StepStatusRunning, Message: "waiting for the PR", RetryAfter: time.Minute}, nil
	}}
	h := newHarness(t, waiter)
	s := step("wait", "pr", "")
	s.Retry = &kargoapi.PromotionStepRetry{Timeout: &metav1.Duration{Duration: 90 * time.Second}}
	in := input(t, s)

	res, st := h.run(in)
	if res.Done || res.RetryAfter != time.Minute || st.StepExecutionMetadata[0].Message != "waiting for the PR" {
		t.Fatalf("first run: %+v %q", res, st.StepExecutionMetadata[0].Message)
	}
	h.clock.Advance(time.Minute)
	res, _ = h.run(in)
	if res.Done || res.RetryAfter != 31*time.Second {
		t.Fatalf("the wait should end just after the timeout: %+v", res)
	}
	h.clock.Advance(31 * time.Second)
	res, st = h.run(in)
	if !res.Done || st.Phase != kargoapi.PromotionPhaseErrored {
		t.Fatalf("want Errored after the timeout, got %+v %s", res, st.Phase)
	}
	if m := st.StepExecutionMetadata[0].Message; !strings.Contains(m, "timed out") || !strings.Contains(m, "1m30s") ||
		!strings.Contains(m, "waiting for the PR") {
		t.Errorf("message %q", m)
	}
}

func TestAbortBetweenSteps(t *testing.T) {
	waiter := &scriptStep{name: "wait", do: func(int, *StepContext) (StepResult, error) {
		return StepResult{Status: StepStatusRunning}, nil
	}}
	after := &scriptStep{name: "ok"}
	h := newHarness(t, waiter, after)
	in := input(t, step("ok", "", ""), step("wait", "", ""), step("ok", "", ""))
	res, st := h.run(in)
	if res.Done || res.RetryAfter != DefaultRetryAfter || st.CurrentStep != 1 {
		t.Fatalf("want a wait at step 1: %+v %d", res, st.CurrentStep)
	}
	aborted := false
	in.Aborted = func() bool { return aborted }
	aborted = true
	res, st = h.run(in)
	if !res.Done || st.Phase != kargoapi.PromotionPhaseAborted || statuses(st) != "Succeeded,Aborted" {
		t.Fatalf("got %+v %s [%s]", res, st.Phase, statuses(st))
	}
	if len(after.runsOf()) != 1 || len(waiter.runsOf()) != 1 {
		t.Errorf("nothing should run after the abort: ok ran %d, wait %d", len(after.runsOf()), len(waiter.runsOf()))
	}
	if !strings.Contains(st.Message, "aborted before step 1") {
		t.Errorf("message %q", st.Message)
	}
}

func TestResumeFromSavedStatus(t *testing.T) {
	first := &scriptStep{name: "first", do: ok(map[string]any{"commit": "abc123"})}
	second := &scriptStep{name: "second", do: func(n int, _ *StepContext) (StepResult, error) {
		if n == 1 {
			return StepResult{Status: StepStatusRunning, Output: map[string]any{"pr": 7}}, nil
		}
		return StepResult{Status: StepStatusSucceeded, Output: map[string]any{"pr": 7, "merged": true}}, nil
	}}
	third := &scriptStep{name: "third", do: echo}
	h := newHarness(t, first, second, third)
	in := input(t, step("first", "one", ""), step("second", "two", ""),
		step("third", "", `{"commit":"${{ outputs.one.commit }}","pr":"${{ outputs.two.pr }}"}`))

	res, st := h.run(in)
	if res.Done || st.CurrentStep != 1 || statuses(st) != "Succeeded,Running" {
		t.Fatalf("first run: %+v %d [%s]", res, st.CurrentStep, statuses(st))
	}
	// A new engine (a restarted server) continues from the saved status.
	h.rebuild()
	res, st = h.run(in)
	if !res.Done || st.Phase != kargoapi.PromotionPhaseSucceeded {
		t.Fatalf("second run: %+v %s %q", res, st.Phase, st.Message)
	}
	if n := len(first.runsOf()); n != 1 {
		t.Errorf("step 1 ran %d times, want once", n)
	}
	if runs := second.runsOf(); len(runs) != 2 || runs[1].attempt != 2 || runs[1].outputs["two"]["pr"] != float64(7) {
		t.Errorf("step 2 should run twice, the second time as attempt 2 that sees its saved output: %+v", runs)
	}
	runs := third.runsOf()
	if len(runs) != 1 || runs[0].config["commit"] != "abc123" || runs[0].config["pr"] != float64(7) {
		t.Fatalf("step 3 should see the outputs saved before the restart: %+v", runs)
	}
	if runs[0].outputs["one"]["commit"] != "abc123" {
		t.Errorf("StepContext.Outputs: %v", runs[0].outputs)
	}
}

func TestResumeAfterAnInterruptedRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var sawStart *kargoapi.StepExecutionMetadata
	var h *harness
	push := &scriptStep{name: "push", do: func(n int, sc *StepContext) (StepResult, error) {
		if n == 1 {
			// The save before the step must already record its start.
			m := h.stored().StepExecutionMetadata[1]
			sawStart = &m
			cancel() // the server stops while the step runs
			return StepResult{}, context.Canceled
		}
		return StepResult{Status: StepStatusSucceeded, Output: map[string]any{"attempt": sc.Attempt}}, nil
	}}
	h = newHarness(t, &scriptStep{name: "ok"}, push)
	in := input(t, step("ok", "", ""), step("push", "", ""))
	st := h.stored()
	if _, err := h.engine.Run(ctx, in, st, h.save); !errors.Is(err, context.Canceled) {
		t.Fatalf("want the context's error, got %v", err)
	}
	if sawStart == nil || sawStart.Status != kargoapi.PromotionStepStatusRunning || sawStart.StartedAt == nil || sawStart.Attempts != 1 {
		t.Fatalf("the step's start was not saved before it ran: %+v", sawStart)
	}
	h.rebuild()
	res, st := h.run(in)
	if !res.Done || st.Phase != kargoapi.PromotionPhaseSucceeded {
		t.Fatalf("got %+v %s %q", res, st.Phase, st.Message)
	}
	if got := outputs(t, st)["step-1"].(map[string]any)["attempt"]; got != float64(2) {
		t.Errorf("the resumed step should run as attempt 2, got %v", got)
	}
}

func TestSavesBeforeEachStepAndAtTheEnd(t *testing.T) {
	h := newHarness(t, &scriptStep{name: "ok"})
	in := input(t, step("ok", "", ""), withIf(step("ok", "", ""), "false"), step("ok", "", ""))
	_, st := h.run(in)
	// One save before each step that runs, one at the end; the skipped step
	// is recorded with the next save.
	if h.saves != 3 || statuses(st) != "Succeeded,Skipped,Succeeded" || st.CurrentStep != 2 {
		t.Errorf("saves %d, [%s], currentStep %d", h.saves, statuses(st), st.CurrentStep)
	}
	// A finished promotion is left alone.
	res, _ := h.run(in)
	if !res.Done || h.saves != 3 {
		t.Errorf("a finished promotion ran again: %+v, saves %d", res, h.saves)
	}
}

func TestSecretsStayOutOfMessagesAndOutputs(t *testing.T) {
	leak := &scriptStep{name: "leak", do: func(_ int, sc *StepContext) (StepResult, error) {
		return StepResult{Status: StepStatusFailed, Message: "rejected " + string(sc.Config),
			Output: map[string]any{"echo": string(sc.Config)}}, nil
	}}
	h := newHarness(t, leak)
	h.lookups.secrets = map[string]map[string]string{
		"acme/creds":                   {"token": "s3cr3t-value"},
		"kargo-shared-resources/slack": {"hook": "https://hooks.example.com/XYZ123"},
	}
	in := input(t, step("leak", "", `{"t":"${{ secret('creds').token }}","h":"${{ sharedSecret('slack').hook }}","missing":"${{ secret('nope').token }}"}`))
	_, st := h.run(in)
	runs := leak.runsOf()
	if len(runs) != 1 || runs[0].config["t"] != "s3cr3t-value" || runs[0].config["missing"] != "" {
		t.Fatalf("the step should see the secrets: %+v", runs)
	}
	saved := string(h.saved)
	for _, secret := range []string{"s3cr3t-value", "XYZ123"} {
		if strings.Contains(saved, secret) {
			t.Errorf("a secret reached the saved status: %s", saved)
		}
	}
	if !strings.Contains(st.StepExecutionMetadata[0].Message, "***") {
		t.Errorf("message %q should show the redaction", st.StepExecutionMetadata[0].Message)
	}
}

func TestLookupFailureIsRetriedNotRecorded(t *testing.T) {
	h := newHarness(t, &scriptStep{name: "echo", do: echo})
	h.lookups.err = errors.New("database is locked")
	in := input(t, step("echo", "", `{"t":"${{ configMap('settings').x }}"}`))
	_, err := h.engine.Run(context.Background(), in, h.stored(), h.save)
	if err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Fatalf("want the lookup's error, got %v", err)
	}
	if st := h.stored(); st.Phase.IsTerminal() {
		t.Errorf("a store failure must not end the promotion: %s %q", st.Phase, st.Message)
	}
	h.lookups.err = nil
	h.lookups.configMaps = map[string]map[string]string{"acme/settings": {"x": "1"}}
	if _, st := h.run(in); st.Phase != kargoapi.PromotionPhaseSucceeded {
		t.Errorf("after the store recovers: %s %q", st.Phase, st.Message)
	}
}

func TestHealthChecksAreCollected(t *testing.T) {
	hc := &kargoapi.HealthCheckStep{Uses: "argocd-update", Config: &kargoapi.JSON{Raw: []byte(`{"apps":["a"]}`)}}
	s := &scriptStep{name: "sync", do: func(int, *StepContext) (StepResult, error) {
		return StepResult{Status: StepStatusSucceeded, HealthCheck: hc}, nil
	}}
	h := newHarness(t, s)
	_, st := h.run(input(t, step("sync", "", ""), step("sync", "", "")))
	if len(st.HealthChecks) != 1 || st.HealthChecks[0].Uses != "argocd-update" {
		t.Errorf("health checks: %+v", st.HealthChecks)
	}
}

func TestNoStepsSucceeds(t *testing.T) {
	h := newHarness(t)
	res, st := h.run(input(t))
	if !res.Done || st.Phase != kargoapi.PromotionPhaseSucceeded {
		t.Errorf("got %+v %s", res, st.Phase)
	}
}

// BenchmarkRunSixNoOpSteps measures the engine's own cost per promotion:
// six steps with small configs (two with expressions), a schema on each,
// and a save (JSON encoding) before each step and at the end.
func BenchmarkRunSixNoOpSteps(b *testing.B) {
	noop := &scriptStep{name: "noop", schema: `{"type":"object","properties":{"path":{"type":"string"}}}`,
		do: ok(map[string]any{"commit": "abc"})}
	h := newHarness(b, noop)
	in := input(b,
		step("noop", "clone", `{"path":"./src"}`),
		step("noop", "", `{"path":"./out"}`),
		step("noop", "", `{"path":"${{ imageFrom('ghcr.io/acme/shop').Tag }}"}`),
		step("noop", "", `{"path":"./out"}`),
		step("noop", "commit", `{"path":"${{ outputs.clone.commit }}"}`),
		step("noop", "", `{"path":"./out"}`),
	)
	in.WorkDir = ""
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st := &kargoapi.PromotionStatus{}
		res, err := h.engine.Run(ctx, in, st, h.save)
		if err != nil || !res.Done || st.Phase != kargoapi.PromotionPhaseSucceeded {
			b.Fatalf("%v %+v %s %q", err, res, st.Phase, st.Message)
		}
	}
}

// TestWarehouseSubscriptionsDisambiguate checks that, with Freight from two
// Warehouses, their subscriptions (read through Lookups) decide whether an
// imageFrom without an origin is ambiguous, as in Kargo.
func TestWarehouseSubscriptionsDisambiguate(t *testing.T) {
	h := newHarness(t, standardSteps()...)
	sub := kargoapi.RepoSubscriptions{{Image: &kargoapi.ImageSubscription{RepoURL: "ghcr.io/acme/shop"}}}
	h.lookups.warehouses = map[string]*kargoapi.Warehouse{
		"shop":  {Spec: kargoapi.WarehouseSpec{Subscriptions: sub}},
		"other": {Spec: kargoapi.WarehouseSpec{Subscriptions: sub}},
	}
	in := input(t, step("echo", "plain", `{"tag":"${{ imageFrom('ghcr.io/acme/shop').Tag }}"}`))
	other := kargoapi.FreightReference{Name: "f-other", Origin: kargoapi.FreightOrigin{Kind: kargoapi.FreightOriginKindWarehouse, Name: "other"}}
	in.Freight.Freight[other.Origin.String()] = other
	_, st := h.run(in)
	if st.Phase != kargoapi.PromotionPhaseErrored || !strings.Contains(st.Message, "is ambiguous") {
		t.Fatalf("want an ambiguity error, got %s %q", st.Phase, st.Message)
	}

	h = newHarness(t, standardSteps()...)
	h.lookups.warehouses = map[string]*kargoapi.Warehouse{"shop": {Spec: kargoapi.WarehouseSpec{Subscriptions: sub}}}
	in.Steps = []kargoapi.PromotionStep{step("echo", "plain", `{"tag":"${{ imageFrom('ghcr.io/acme/shop').Tag }}"}`)}
	_, st = h.run(in)
	if st.Phase != kargoapi.PromotionPhaseSucceeded || outputs(t, st)["plain"].(map[string]any)["tag"] != "1.2.0" {
		t.Fatalf("with one subscriber the lookup is not ambiguous: %s %q", st.Phase, st.Message)
	}
}
