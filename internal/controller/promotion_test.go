package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/admission"
	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/store"
)

// ---- environment ----

// promoEnv is a real SQLite store behind admission, the real engine with
// the test steps, and a Promotion reconciler over them.
type promoEnv struct {
	st      store.Store
	steps   *testSteps
	workDir string
	rec     *PromotionReconciler
	freight []string // the Freight made by newPromoEnv, oldest first
}

func newPromoEnv(t *testing.T) *promoEnv {
	t.Helper()
	e := &promoEnv{st: admission.New(openStore(t), admission.Options{}), steps: newTestSteps(), workDir: t.TempDir()}
	e.rec = e.newReconciler(t)
	e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {name: p}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: p}
spec:
  subscriptions:
  - git: {repoURL: https://git.example.com/app.git, branch: main}
`)
	for _, id := range []string{"1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"} {
		f := e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {name: x, namespace: p}
origin: {kind: Warehouse, name: w}
commits:
- {repoURL: https://git.example.com/app.git, id: "`+id+`"}
`)
		e.freight = append(e.freight, f[0].GetName())
	}
	return e
}

// newReconciler returns a reconciler with its own engine over the test
// steps, as a restarted server would have.
func (e *promoEnv) newReconciler(t *testing.T) *PromotionReconciler {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	engine := promotion.NewEngine(promotion.EngineOptions{
		Registry: e.steps.registry(),
		Lookups:  NewPromotionLookups(e.st, "kargo-shared-resources"),
		Logger:   quiet,
	})
	rec, err := NewPromotionReconciler(PromotionOptions{Store: e.st, Engine: engine, WorkDir: e.workDir, TurnPoll: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// userCtx is the context of a request by user alice.
func userCtx(name string) context.Context {
	return identity.WithActor(context.Background(), identity.Actor{Name: name})
}

// apply creates the objects of a multi-document YAML manifest as alice.
func (e *promoEnv) apply(t *testing.T, docs string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(docs, "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("parse manifest: %v\n%s", err, doc)
		}
		created, err := e.st.Create(userCtx("alice"), u)
		if err != nil {
			t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		out = append(out, created)
	}
	return out
}

// stage creates Stage name whose promotions run steps (a YAML list).
func (e *promoEnv) stage(t *testing.T, name, steps string) {
	t.Helper()
	e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: `+name+`, namespace: p}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: w}
    sources: {direct: true}
  promotionTemplate:
    spec:
      steps:
`+indent(steps, "      "))
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// promote creates a Promotion of Freight number i into stage, as alice.
func (e *promoEnv) promote(t *testing.T, stage string, i int) string {
	t.Helper()
	u := e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Promotion
metadata: {name: x, namespace: p}
spec: {stage: `+stage+`, freight: `+e.freight[i]+`}
`)
	return u[0].GetName()
}

func (e *promoEnv) reconcile(t *testing.T, rec *PromotionReconciler, name string) (Result, error) {
	t.Helper()
	return rec.Reconcile(ctxActor(), Key{Namespace: "p", Name: name})
}

func (e *promoEnv) promotion(t *testing.T, name string) *kargoapi.Promotion {
	t.Helper()
	u, err := e.st.Get(context.Background(), "Promotion", "p", name)
	if err != nil {
		t.Fatal(err)
	}
	p := &kargoapi.Promotion{}
	if err := decodeObject(u, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *promoEnv) stageObj(t *testing.T, name string) *kargoapi.Stage {
	t.Helper()
	st, err := e.rec.getStage(context.Background(), "p", name)
	if err != nil || st == nil {
		t.Fatalf("get stage %s: %v", name, err)
	}
	return st
}

func (e *promoEnv) freightObj(t *testing.T, i int) *kargoapi.Freight {
	t.Helper()
	f, err := e.rec.getFreight(context.Background(), "p", e.freight[i])
	if err != nil || f == nil {
		t.Fatalf("get freight %d: %v", i, err)
	}
	return f
}

// events returns the Events about a Promotion.
func (e *promoEnv) events(t *testing.T, promo string) []*unstructured.Unstructured {
	t.Helper()
	list, err := e.st.List(context.Background(), "Event", "p", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for i := range list.Items {
		if name, _, _ := unstructured.NestedString(list.Items[i].Object, "involvedObject", "name"); name == promo {
			out = append(out, &list.Items[i])
		}
	}
	return out
}

// abort sets the abort annotation of a Promotion as user bob.
func (e *promoEnv) abort(t *testing.T, name string) {
	t.Helper()
	u, err := e.st.Get(context.Background(), "Promotion", "p", name)
	if err != nil {
		t.Fatal(err)
	}
	ann := u.GetAnnotations()
	ann[kargoapi.AnnotationKeyAbort] = "terminate"
	u.SetAnnotations(ann)
	if _, err := e.st.Update(userCtx("bob"), u); err != nil {
		t.Fatal(err)
	}
}

// run starts a Promotion runner with workers over e's store; it stops
// when the test ends.
func (e *promoEnv) run(t *testing.T, workers int) {
	t.Helper()
	r, err := NewPromotionRunner(e.st, e.rec, RunnerOptions{Workers: workers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() {
		// Let blocked steps return, then wait for the workers.
		cancel()
		<-done
	})
}

func (e *promoEnv) waitPhase(t *testing.T, name string, phase kargoapi.PromotionPhase) *kargoapi.Promotion {
	t.Helper()
	var p *kargoapi.Promotion
	poll(t, fmt.Sprintf("promotion %s to be %s", name, phase), func() bool {
		p = e.promotion(t, name)
		return p.Status.Phase == phase
	})
	return p
}

// nextEntered returns the next promotion whose gate step started.
func (e *promoEnv) nextEntered(t *testing.T) string {
	t.Helper()
	select {
	case name := <-e.steps.entered:
		return name
	case <-time.After(deadline):
		t.Fatalf("no promotion reached its gate step within %s", deadline)
		return ""
	}
}

// ---- tests ----

// TestPromotionSucceeded runs a Promotion to success and checks its status,
// the Stage's and the Freight's bookkeeping, the Event and the workspace;
// a second Promotion moves the Stage on to other Freight.
func TestPromotionSucceeded(t *testing.T) {
	e := newPromoEnv(t)
	e.stage(t, "s", `- uses: test-record
  as: first
  config: {value: "${{ ctx.stage }}-${{ ctx.targetFreight.name }}", file: a.txt}
- uses: test-check
  config: {file: a.txt}
`)
	name := e.promote(t, "s", 0)
	if !strings.HasPrefix(name, "s.") {
		t.Fatalf("admission named the promotion %q, want s.<ULID>.<freight>", name)
	}
	res, err := e.reconcile(t, e.rec, name)
	if err != nil || res.RequeueAfter != 0 {
		t.Fatalf("reconcile: %+v, %v", res, err)
	}
	p := e.promotion(t, name)
	st := p.Status
	if st.Phase != kargoapi.PromotionPhaseSucceeded || st.StartedAt == nil || st.FinishedAt == nil {
		t.Fatalf("status: phase %s (%s), startedAt %v, finishedAt %v", st.Phase, st.Message, st.StartedAt, st.FinishedAt)
	}
	if st.Freight == nil || st.Freight.Name != e.freight[0] {
		t.Errorf("status.freight = %+v, want %s", st.Freight, e.freight[0])
	}
	if st.FreightCollection == nil || st.FreightCollection.ID != kargoapi.FreightCollectionID([]string{e.freight[0]}) ||
		st.FreightCollection.Freight["Warehouse/w"].Name != e.freight[0] {
		t.Errorf("status.freightCollection = %+v", st.FreightCollection)
	}
	if len(st.StepExecutionMetadata) != 2 || st.StepExecutionMetadata[0].Alias != "first" ||
		st.StepExecutionMetadata[1].Status != kargoapi.PromotionStepStatusSucceeded {
		t.Errorf("stepExecutionMetadata = %+v", st.StepExecutionMetadata)
	}
	if st.State == nil || !strings.Contains(string(st.State.Raw), `"s-`+e.freight[0]+`"`) {
		t.Errorf("status.state does not hold the first step's output: %v", st.State)
	}
	if _, err := os.Stat(e.rec.WorkspacePath("p", name)); !os.IsNotExist(err) {
		t.Errorf("the workspace of a finished promotion is still there: %v", err)
	}

	stage := e.stageObj(t, "s")
	if stage.Status.CurrentPromotion != nil || stage.Status.LastPromotion == nil || stage.Status.LastPromotion.Name != name ||
		stage.Status.LastPromotion.Status.Phase != kargoapi.PromotionPhaseSucceeded {
		t.Errorf("stage promotions: current %+v, last %+v", stage.Status.CurrentPromotion, stage.Status.LastPromotion)
	}
	if cur := stage.Status.FreightHistory.Current(); cur == nil || cur.Freight["Warehouse/w"].Name != e.freight[0] {
		t.Errorf("stage freightHistory = %+v", stage.Status.FreightHistory)
	}
	if stage.Status.FreightSummary != e.freight[0] {
		t.Errorf("stage freightSummary = %q, want %s", stage.Status.FreightSummary, e.freight[0])
	}
	if _, in := e.freightObj(t, 0).Status.CurrentlyIn["s"]; !in {
		t.Errorf("freight 0 is not currentlyIn stage s")
	}

	evs := e.events(t, name)
	if len(evs) != 1 {
		t.Fatalf("want 1 event about the promotion, got %d", len(evs))
	}
	reason, _, _ := unstructured.NestedString(evs[0].Object, "reason")
	ann := evs[0].GetAnnotations()
	if reason != EventReasonPromotionSucceeded || ann[kargoapi.AnnotationKeyEventActor] != "alice" ||
		ann[kargoapi.AnnotationKeyEventStageName] != "s" || ann[kargoapi.AnnotationKeyEventFreightName] != e.freight[0] ||
		ann[kargoapi.AnnotationKeyEventFreightAlias] != e.freightObj(t, 0).Alias || ann[kargoapi.AnnotationKeyEventPromotionName] != name ||
		ann[kargoapi.AnnotationKeyEventVerificationPending] != "false" || !strings.Contains(ann[kargoapi.AnnotationKeyEventFreightCommits], "1111") {
		t.Errorf("event: reason %s, annotations %v", reason, ann)
	}

	// Reconciling the finished Promotion again changes nothing.
	if _, err := e.reconcile(t, e.rec, name); err != nil {
		t.Fatal(err)
	}
	if n := len(e.steps.ran(name)); n != 2 {
		t.Errorf("a finished promotion ran steps again: %v", e.steps.ran(name))
	}

	// The next Freight replaces the first in the Stage.
	second := e.promote(t, "s", 1)
	if _, err := e.reconcile(t, e.rec, second); err != nil {
		t.Fatal(err)
	}
	e.waitPhase(t, second, kargoapi.PromotionPhaseSucceeded)
	stage = e.stageObj(t, "s")
	if len(stage.Status.FreightHistory) != 2 || stage.Status.FreightHistory.Current().Freight["Warehouse/w"].Name != e.freight[1] {
		t.Errorf("freightHistory after a second promotion: %+v", stage.Status.FreightHistory)
	}
	if _, in := e.freightObj(t, 0).Status.CurrentlyIn["s"]; in {
		t.Errorf("freight 0 is still currentlyIn stage s after freight 1 replaced it")
	}
	if _, in := e.freightObj(t, 1).Status.CurrentlyIn["s"]; !in {
		t.Errorf("freight 1 is not currentlyIn stage s")
	}
}

// TestPromotionOutcomes: a step that fails, errors, is unknown, has a bad
// expression or a config failing its schema ends the Promotion Failed or
// Errored with a message naming the step; the Stage keeps its Freight.
func TestPromotionOutcomes(t *testing.T) {
	cases := []struct {
		name   string
		steps  string
		phase  kargoapi.PromotionPhase
		reason string
		msg    []string
	}{
		{"failed", "- uses: test-fail\n  as: judge\n- uses: test-record\n", kargoapi.PromotionPhaseFailed, EventReasonPromotionFailed,
			[]string{`"judge"`, "the test step says no"}},
		{"errored", "- uses: test-error\n", kargoapi.PromotionPhaseErrored, EventReasonPromotionErrored,
			[]string{`"step-0"`, "the test step broke"}},
		{"unknown step", "- uses: test-recrod\n  as: typo\n", kargoapi.PromotionPhaseErrored, EventReasonPromotionErrored,
			[]string{`"typo"`, `unknown step "test-recrod"`, `"test-record"`}},
		{"bad expression", "- uses: test-record\n  as: expr\n  config: {value: \"${{ ctx.stage + }}\"}\n", kargoapi.PromotionPhaseErrored,
			EventReasonPromotionErrored, []string{`"expr"`}},
		{"schema", "- uses: test-record\n  as: schema\n  config: {value: 5}\n", kargoapi.PromotionPhaseErrored,
			EventReasonPromotionErrored, []string{`"schema"`, "value"}},
	}
	e := newPromoEnv(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stage := fmt.Sprintf("s%d", i)
			e.stage(t, stage, tc.steps)
			name := e.promote(t, stage, 0)
			if _, err := e.reconcile(t, e.rec, name); err != nil {
				t.Fatalf("reconcile: %v", err)
			}
			p := e.promotion(t, name)
			if p.Status.Phase != tc.phase {
				t.Fatalf("phase %s (%s), want %s", p.Status.Phase, p.Status.Message, tc.phase)
			}
			for _, want := range tc.msg {
				if !strings.Contains(p.Status.Message, want) {
					t.Errorf("message %q does not say %s", p.Status.Message, want)
				}
			}
			if p.Status.FinishedAt == nil {
				t.Error("no finishedAt")
			}
			st := e.stageObj(t, stage)
			if st.Status.CurrentPromotion != nil || st.Status.LastPromotion == nil || st.Status.LastPromotion.Name != name ||
				len(st.Status.FreightHistory) != 0 {
				t.Errorf("stage: current %+v, last %+v, history %d", st.Status.CurrentPromotion, st.Status.LastPromotion, len(st.Status.FreightHistory))
			}
			evs := e.events(t, name)
			if len(evs) != 1 {
				t.Fatalf("want 1 event, got %d", len(evs))
			}
			if r, _, _ := unstructured.NestedString(evs[0].Object, "reason"); r != tc.reason {
				t.Errorf("event reason %s, want %s", r, tc.reason)
			}
		})
	}
}

// TestPromotionOnePerStage: the Promotions of one Stage run one at a time,
// in the order they were created, however many workers there are; a
// waiting one says what it waits for.
func TestPromotionOnePerStage(t *testing.T) {
	e := newPromoEnv(t)
	e.stage(t, "s", "- uses: test-gate\n  config: {gate: \"${{ ctx.promotion }}\"}\n- uses: test-record\n")
	var names []string
	for range 3 {
		names = append(names, e.promote(t, "s", 0))
	}
	if !slices.IsSorted(names) {
		t.Fatalf("promotion names are not in creation order: %v", names)
	}
	e.run(t, 4)
	for i, name := range names {
		if got := e.nextEntered(t); got != name {
			t.Fatalf("promotion %d to start is %s, want %s (creation order %v)", i, got, name, names)
		}
		// Those behind it wait, saying for which.
		for _, later := range names[i+1:] {
			p := e.waitPhase(t, later, kargoapi.PromotionPhasePending)
			poll(t, later+" to say what it waits for", func() bool {
				p = e.promotion(t, later)
				return strings.Contains(p.Status.Message, "waiting for Promotion "+name)
			})
		}
		if cur := e.stageObj(t, "s").Status.CurrentPromotion; cur == nil || cur.Name != name {
			t.Errorf("stage currentPromotion = %+v, want %s", cur, name)
		}
		e.steps.open(name)
		e.waitPhase(t, name, kargoapi.PromotionPhaseSucceeded)
	}
	poll(t, "the stage to record the last promotion", func() bool {
		last := e.stageObj(t, "s").Status.LastPromotion
		return last != nil && last.Name == names[2]
	})
}

// TestPromotionConcurrentStages: Promotions of different Stages run at
// once, up to the number of workers.
func TestPromotionConcurrentStages(t *testing.T) {
	e := newPromoEnv(t)
	var names []string
	for i := range 3 {
		stage := fmt.Sprintf("s%d", i)
		e.stage(t, stage, "- uses: test-gate\n  config: {gate: \"${{ ctx.promotion }}\"}\n")
		names = append(names, e.promote(t, stage, 0))
	}
	e.run(t, 2)
	running := []string{e.nextEntered(t), e.nextEntered(t)}
	// Both workers are held by the gates: the third cannot have started.
	waiting := ""
	for _, n := range names {
		if !slices.Contains(running, n) {
			waiting = n
		}
	}
	if p := e.promotion(t, waiting); p.Status.Phase == kargoapi.PromotionPhaseRunning {
		t.Errorf("a third promotion runs with 2 workers busy")
	}
	e.steps.open(running[0])
	if got := e.nextEntered(t); got != waiting {
		t.Errorf("after one ended, %s started, want %s", got, waiting)
	}
	e.steps.open(running[1])
	e.steps.open(waiting)
	for _, n := range names {
		e.waitPhase(t, n, kargoapi.PromotionPhaseSucceeded)
	}
}

// TestPromotionAbort: the abort annotation ends a Pending Promotion at
// once, a waiting one at once, and a running one at its next step
// boundary; none runs another step, and the Event names who aborted.
func TestPromotionAbort(t *testing.T) {
	e := newPromoEnv(t)
	e.stage(t, "s", "- uses: test-gate\n  config: {gate: \"${{ ctx.promotion }}\"}\n- uses: test-record\n  as: after\n")
	e.run(t, 2)

	// Running at a step boundary, with a Pending one behind it.
	running := e.promote(t, "s", 0)
	pending := e.promote(t, "s", 1)
	if got := e.nextEntered(t); got != running {
		t.Fatalf("%s started first, want %s", got, running)
	}
	e.waitPhase(t, pending, kargoapi.PromotionPhasePending)
	e.abort(t, pending)
	p := e.waitPhase(t, pending, kargoapi.PromotionPhaseAborted)
	if p.Status.Message != "Promotion terminated by bob" || p.Status.FinishedAt == nil {
		t.Errorf("aborted pending promotion: message %q, finishedAt %v", p.Status.Message, p.Status.FinishedAt)
	}
	e.abort(t, running)
	e.steps.open(running)
	p = e.waitPhase(t, running, kargoapi.PromotionPhaseAborted)
	if !strings.HasPrefix(p.Status.Message, "Promotion terminated by bob") {
		t.Errorf("aborted running promotion: message %q", p.Status.Message)
	}
	for _, n := range []string{running, pending} {
		if slices.ContainsFunc(e.steps.ran(n), func(r string) bool { return strings.HasPrefix(r, "after#") }) {
			t.Errorf("aborted promotion %s ran its next step: %v", n, e.steps.ran(n))
		}
		var evs []*unstructured.Unstructured
		poll(t, "the event of "+n, func() bool { evs = e.events(t, n); return len(evs) > 0 })
		if len(evs) != 1 {
			t.Fatalf("%s: want 1 event, got %d", n, len(evs))
		}
		if r, _, _ := unstructured.NestedString(evs[0].Object, "reason"); r != EventReasonPromotionAborted ||
			evs[0].GetAnnotations()[kargoapi.AnnotationKeyEventActor] != "bob" {
			t.Errorf("%s: event %s by %s", n, r, evs[0].GetAnnotations()[kargoapi.AnnotationKeyEventActor])
		}
	}
	var st *kargoapi.Stage
	poll(t, "the stage to be free", func() bool { st = e.stageObj(t, "s"); return st.Status.CurrentPromotion == nil })
	if len(st.Status.FreightHistory) != 0 || st.Status.LastPromotion == nil ||
		st.Status.LastPromotion.Name != pending {
		t.Errorf("stage after aborts: current %+v, last %+v, history %d", st.Status.CurrentPromotion, st.Status.LastPromotion,
			len(st.Status.FreightHistory))
	}

	// Waiting between runs of a step.
	e.stage(t, "w", "- uses: test-wait\n  as: wait\n  config: {key: never}\n- uses: test-record\n  as: after\n")
	waiting := e.promote(t, "w", 0)
	poll(t, waiting+" to wait", func() bool {
		p := e.promotion(t, waiting)
		return len(p.Status.StepExecutionMetadata) > 0 && p.Status.StepExecutionMetadata[0].Message == "not yet"
	})
	e.abort(t, waiting)
	p = e.waitPhase(t, waiting, kargoapi.PromotionPhaseAborted)
	if md := p.Status.StepExecutionMetadata[0]; md.Status != kargoapi.PromotionStepStatusAborted || md.FinishedAt == nil {
		t.Errorf("the waiting step of an aborted promotion: %+v", md)
	}
	if slices.ContainsFunc(e.steps.ran(waiting), func(r string) bool { return strings.HasPrefix(r, "after#") }) {
		t.Errorf("aborted promotion ran its next step: %v", e.steps.ran(waiting))
	}
}

// TestPromotionResume: a Promotion whose server stopped during its third
// step is continued by a new reconciler (a restarted server): steps 1 and 2
// do not run again, step 3 runs as its second attempt, in the same
// workspace. When the workspace is gone, the steps run again from the
// first to rebuild it.
func TestPromotionResume(t *testing.T) {
	for _, tc := range []struct {
		name          string
		dropWorkspace bool
		want          []string
	}{
		{"same workspace", false, []string{"a#1", "b#1", "gate#1", "gate#2", "check#1"}},
		{"workspace gone", true, []string{"a#1", "b#1", "gate#1", "a#2", "b#2", "gate#2", "check#1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newPromoEnv(t)
			e.stage(t, "s", `- {uses: test-record, as: a, config: {value: one, file: a.txt}}
- {uses: test-record, as: b, config: {value: "${{ outputs.a.value }}-two"}}
- {uses: test-gate, as: gate, config: {gate: "${{ ctx.promotion }}"}}
- {uses: test-check, as: check, config: {file: a.txt}}
`)
			name := e.promote(t, "s", 0)
			ctx, stop := context.WithCancel(ctxActor())
			done := make(chan error, 1)
			go func() {
				_, err := e.rec.Reconcile(ctx, Key{Namespace: "p", Name: name})
				done <- err
			}()
			e.nextEntered(t)
			stop() // the server stops while step 3 runs
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("reconcile of a stopping server: %v", err)
			}
			p := e.promotion(t, name)
			if p.Status.Phase != kargoapi.PromotionPhaseRunning || p.Status.CurrentStep != 2 {
				t.Fatalf("saved status: phase %s, currentStep %d", p.Status.Phase, p.Status.CurrentStep)
			}
			if tc.dropWorkspace {
				if err := os.RemoveAll(e.rec.WorkspacePath("p", name)); err != nil {
					t.Fatal(err)
				}
			}

			e.steps.open(name)
			restarted := e.newReconciler(t)
			if _, err := e.reconcile(t, restarted, name); err != nil {
				t.Fatalf("reconcile after the restart: %v", err)
			}
			p = e.promotion(t, name)
			if p.Status.Phase != kargoapi.PromotionPhaseSucceeded {
				t.Fatalf("phase after the restart: %s (%s)", p.Status.Phase, p.Status.Message)
			}
			if got := e.steps.ran(name); !slices.Equal(got, tc.want) {
				t.Errorf("steps ran %v, want %v", got, tc.want)
			}
			if !strings.Contains(string(p.Status.State.Raw), `"one-two"`) {
				t.Errorf("outputs lost across the restart: %s", p.Status.State.Raw)
			}
		})
	}
}

// TestPromotionRefreshAndGone: the refresh annotation is recorded in
// status.lastHandledRefresh; a Promotion deleted while it ran frees its
// Stage and wakes the next one.
func TestPromotionRefreshAndGone(t *testing.T) {
	e := newPromoEnv(t)
	e.stage(t, "s", "- uses: test-wait\n  config: {key: \"${{ ctx.promotion }}\"}\n")
	first := e.promote(t, "s", 0)
	if res, err := e.reconcile(t, e.rec, first); err != nil || res.RequeueAfter <= 0 {
		t.Fatalf("reconcile of a waiting promotion: %+v, %v", res, err)
	}
	u, err := e.st.Get(context.Background(), "Promotion", "p", first)
	if err != nil {
		t.Fatal(err)
	}
	ann := u.GetAnnotations()
	ann[kargoapi.AnnotationKeyRefresh] = "now-1"
	u.SetAnnotations(ann)
	if _, err := e.st.Update(userCtx("alice"), u); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reconcile(t, e.rec, first); err != nil {
		t.Fatal(err)
	}
	if p := e.promotion(t, first); p.Status.LastHandledRefresh != "now-1" {
		t.Errorf("lastHandledRefresh = %q, want now-1", p.Status.LastHandledRefresh)
	}
	if cur := e.stageObj(t, "s").Status.CurrentPromotion; cur == nil || cur.Name != first {
		t.Fatalf("stage currentPromotion = %+v, want %s", cur, first)
	}

	second := e.promote(t, "s", 1)
	if _, err := e.reconcile(t, e.rec, second); err != nil {
		t.Fatal(err)
	}
	if p := e.promotion(t, second); p.Status.Phase != kargoapi.PromotionPhasePending {
		t.Fatalf("second promotion: %s, want Pending", p.Status.Phase)
	}
	var woken []Key
	e.rec.enqueue = func(k Key) { woken = append(woken, k) }
	if err := e.st.Delete(context.Background(), "Promotion", "p", first, store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reconcile(t, e.rec, first); err != nil {
		t.Fatal(err)
	}
	if cur := e.stageObj(t, "s").Status.CurrentPromotion; cur != nil {
		t.Errorf("stage still names deleted promotion %s as current", cur.Name)
	}
	if !slices.Equal(woken, []Key{{Namespace: "p", Name: second}}) {
		t.Errorf("woken %v, want %s", woken, second)
	}
	e.steps.setReady(second)
	if _, err := e.reconcile(t, e.rec, second); err != nil {
		t.Fatal(err)
	}
	if p := e.promotion(t, second); p.Status.Phase != kargoapi.PromotionPhaseSucceeded {
		t.Errorf("second promotion: %s (%s), want Succeeded", p.Status.Phase, p.Status.Message)
	}
	if _, err := os.Stat(filepath.Join(e.workDir, "p", first)); !os.IsNotExist(err) {
		t.Errorf("the workspace of the deleted promotion remains: %v", err)
	}
}

// TestAbortRequest reads the abort annotation's forms: Kargo's JSON (with
// the actor admission records) and action word, and the Promotion's name.
func TestAbortRequest(t *testing.T) {
	cases := []struct {
		value   string
		abort   bool
		message string
	}{
		{`{"action":"terminate","actor":"bob"}`, true, "Promotion terminated by bob"},
		{`{"action":"terminate","controlPlane":true}`, true, "Promotion terminated by controller:promotion-controller"},
		{"terminate", true, "Promotion terminated per user request"},
		{"s.01abc.1234567", true, "Promotion terminated per user request"},
		{"stop", false, ""},
		{`{"action":"pause"}`, false, ""},
	}
	for _, tc := range cases {
		promo := &kargoapi.Promotion{}
		promo.Name = "s.01abc.1234567"
		promo.Annotations = map[string]string{kargoapi.AnnotationKeyAbort: tc.value}
		req, ok := abortRequest(promo)
		if ok != tc.abort {
			t.Errorf("%s: abort %t, want %t", tc.value, ok, tc.abort)
			continue
		}
		if ok && abortMessage(req) != tc.message {
			t.Errorf("%s: message %q, want %q", tc.value, abortMessage(req), tc.message)
		}
	}
}
