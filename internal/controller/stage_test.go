package controller

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/admission"
	"github.com/caravan-dev/caravan/internal/pipeline"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/promotion/steps"
	"github.com/caravan-dev/caravan/internal/store"
)

// stageEnv is a project "p" with Warehouse "w" over a real SQLite store
// behind admission, the real promotion engine with two built-in steps that
// touch nothing outside the workspace (compose-output, fail), and the
// Promotion and Stage reconcilers, all on one injected clock.
type stageEnv struct {
	st     store.Store
	clock  *testingclock.FakeClock
	stages *StageReconciler
	promos *PromotionReconciler
	// lastCreated is when the newest Freight was created.
	lastCreated time.Time
	commits     int
}

func newStageEnv(t *testing.T) *stageEnv {
	t.Helper()
	e := &stageEnv{clock: testingclock.NewFakeClock(time.Now().UTC().Truncate(time.Second))}
	e.st = admission.New(openStore(t), admission.Options{Clock: e.clock})
	quiet := slog.New(slog.DiscardHandler)
	engine := promotion.NewEngine(promotion.EngineOptions{
		Registry: promotion.NewRegistry(steps.NewComposeOutput(), steps.NewFail()),
		Lookups:  NewPromotionLookups(e.st, "kargo-shared-resources"),
		Logger:   quiet,
		Clock:    e.clock.Now,
	})
	var err error
	e.promos, err = NewPromotionReconciler(PromotionOptions{Store: e.st, Engine: engine, WorkDir: t.TempDir(), Clock: e.clock, TurnPoll: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if e.stages, err = NewStageReconciler(StageOptions{Store: e.st, Clock: e.clock}); err != nil {
		t.Fatal(err)
	}
	e.apply(t, "alice", `apiVersion: kargo.akuity.io/v1alpha1
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
	return e
}

// apply creates the objects of a multi-document YAML manifest as user.
func (e *stageEnv) apply(t *testing.T, user, docs string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(docs, "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("parse manifest: %v\n%s", err, doc)
		}
		created, err := e.st.Create(userCtx(user), u)
		if err != nil {
			t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		out = append(out, created)
	}
	return out
}

// autoPromoteAll writes a ProjectConfig enabling auto-promotion for the
// Stages whose names match pattern (a promotion policy name selector).
func (e *stageEnv) autoPromote(t *testing.T, pattern string) {
	t.Helper()
	e.apply(t, "alice", `apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: p, namespace: p}
spec:
  promotionPolicies:
  - stageSelector: {name: "`+pattern+`"}
    autoPromotionEnabled: true
`)
}

// stage creates a Stage requesting Freight of Warehouse w from sources (a
// YAML flow mapping's inside, e.g. "direct: true"); steps is a YAML list of
// promotion steps, or "" for a control-flow Stage.
func (e *stageEnv) stage(t *testing.T, name, sources, steps string) {
	t.Helper()
	doc := `apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: ` + name + `, namespace: p}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: w}
    sources: {` + sources + `}
`
	if steps != "" {
		doc += "  promotionTemplate:\n    spec:\n      steps:\n" + indent(steps, "      ")
	}
	e.apply(t, "alice", doc)
}

// noop is the steps of a Stage whose promotions do no work.
const noop = "- uses: compose-output\n  config: {done: true}\n"

// newFreight creates Freight from Warehouse w, strictly newer (by the
// store's second-resolution creation time) than the Freight before it, and
// returns its name.
func (e *stageEnv) newFreight(t *testing.T) string {
	t.Helper()
	for !time.Now().UTC().Truncate(time.Second).After(e.lastCreated) {
		time.Sleep(10 * time.Millisecond) // wait for the next second: creation times order Freight
	}
	e.commits++
	u := e.apply(t, "alice", fmt.Sprintf(`apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {name: x, namespace: p}
origin: {kind: Warehouse, name: w}
commits:
- {repoURL: https://git.example.com/app.git, id: "%040d"}
`, e.commits))[0]
	e.lastCreated = u.GetCreationTimestamp().Time
	return u.GetName()
}

// promote creates a Promotion of freight into stage as user.
func (e *stageEnv) promote(t *testing.T, user, stage, freight string) string {
	t.Helper()
	u := e.apply(t, user, `apiVersion: kargo.akuity.io/v1alpha1
kind: Promotion
metadata: {name: x, namespace: p}
spec: {stage: `+stage+`, freight: `+freight+`}
`)
	return u[0].GetName()
}

// approve records freight as approved for stage, as the approve action does.
func (e *stageEnv) approve(t *testing.T, freight, stage string) {
	t.Helper()
	err := updateStatus(userCtx("bob"), e.st, "Freight", "p", freight, func(obj *unstructured.Unstructured) (any, bool, error) {
		f := &kargoapi.Freight{}
		if err := decodeObject(obj, f); err != nil {
			return nil, false, err
		}
		return f.Status, pipeline.RecordApproved(f, stage, e.clock.Now()), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// storeVersion is the store's newest resourceVersion.
func (e *stageEnv) storeVersion(t *testing.T) string {
	t.Helper()
	_, rv, err := e.st.ListRaw(context.Background(), "Project", "", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rv
}

// settle reconciles every Stage and every unfinished Promotion, in rounds,
// until a round writes nothing; it returns the Stages' last results.
func (e *stageEnv) settle(t *testing.T) map[string]Result {
	t.Helper()
	results := map[string]Result{}
	for round := 0; round < 50; round++ {
		before := e.storeVersion(t)
		list, err := e.st.List(context.Background(), "Stage", "p", store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list.Items {
			res, err := e.stages.Reconcile(ctxActor(), Key{Namespace: "p", Name: s.GetName()})
			if err != nil {
				t.Fatalf("reconcile stage %s: %v", s.GetName(), err)
			}
			results[s.GetName()] = res
		}
		promos, err := e.st.List(context.Background(), "Promotion", "p", store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range promos.Items {
			if phase, _, _ := unstructured.NestedString(p.Object, "status", "phase"); kargoapi.PromotionPhase(phase).IsTerminal() {
				continue
			}
			if _, err := e.promos.Reconcile(ctxActor(), Key{Namespace: "p", Name: p.GetName()}); err != nil {
				t.Fatalf("reconcile promotion %s: %v", p.GetName(), err)
			}
		}
		if e.storeVersion(t) == before {
			return results
		}
	}
	t.Fatal("the pipeline did not settle in 50 rounds")
	return nil
}

func (e *stageEnv) getStage(t *testing.T, name string) *kargoapi.Stage {
	t.Helper()
	st, err := e.stages.getStage(context.Background(), "p", name)
	if err != nil || st == nil {
		t.Fatalf("get stage %s: %v", name, err)
	}
	return st
}

func (e *stageEnv) getFreight(t *testing.T, name string) *kargoapi.Freight {
	t.Helper()
	f, err := e.promos.getFreight(context.Background(), "p", name)
	if err != nil || f == nil {
		t.Fatalf("get freight %s: %v", name, err)
	}
	return f
}

// current is the name of the Freight a Stage uses now, or "".
func (e *stageEnv) current(t *testing.T, stage string) string {
	t.Helper()
	cur := e.getStage(t, stage).Status.FreightHistory.Current()
	if cur == nil {
		return ""
	}
	return cur.Freight["Warehouse/w"].Name
}

// promotionsOf lists the Promotions into stage, oldest first.
func (e *stageEnv) promotionsOf(t *testing.T, stage string) []kargoapi.Promotion {
	t.Helper()
	st := e.getStage(t, stage)
	out, err := e.stages.listPromotions(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wantCond checks a Stage condition's status and reason and that its
// message holds every part.
func wantCond(t *testing.T, st *kargoapi.Stage, typ string, status metav1.ConditionStatus, reason string, parts ...string) {
	t.Helper()
	c := meta.FindStatusCondition(st.Status.Conditions, typ)
	if c == nil {
		t.Fatalf("stage %s has no %s condition; conditions: %+v", st.Name, typ, st.Status.Conditions)
	}
	if c.Status != status || c.Reason != reason {
		t.Errorf("stage %s %s = %s/%s (%s), want %s/%s", st.Name, typ, c.Status, c.Reason, c.Message, status, reason)
	}
	for _, p := range parts {
		if !strings.Contains(c.Message, p) {
			t.Errorf("stage %s %s message %q lacks %q", st.Name, typ, c.Message, p)
		}
	}
}

func TestStageVerifiesOnPromotion(t *testing.T) {
	e := newStageEnv(t)
	e.stage(t, "dev", "direct: true", noop)
	f := e.newFreight(t)
	e.settle(t)
	st := e.getStage(t, "dev")
	wantCond(t, st, ConditionAutoPromotion, metav1.ConditionFalse, ReasonAutoPromotionDisabled, "no ProjectConfig")
	wantCond(t, st, ConditionReady, metav1.ConditionFalse, ReasonNoFreight, `no Freight has been promoted into Stage "dev" yet`,
		"auto-promotion is not enabled")
	if st.Status.FreightSummary != "0/1 Fulfilled" || st.Status.AutoPromotionEnabled {
		t.Errorf("summary %q, autoPromotionEnabled %v", st.Status.FreightSummary, st.Status.AutoPromotionEnabled)
	}

	e.promote(t, "alice", "dev", f)
	e.settle(t)
	st = e.getStage(t, "dev")
	if st.Status.FreightSummary != f {
		t.Errorf("freightSummary %q, want %s", st.Status.FreightSummary, f)
	}
	cur := st.Status.FreightHistory.Current()
	if cur == nil || len(cur.VerificationHistory) != 1 || cur.VerificationHistory[0].Phase != kargoapi.VerificationPhaseSuccessful {
		t.Fatalf("current collection %+v", cur)
	}
	wantCond(t, st, ConditionVerified, metav1.ConditionTrue, ReasonStageVerified)
	wantCond(t, st, ConditionReady, metav1.ConditionTrue, ReasonStageVerified)
	fr := e.getFreight(t, f)
	if !pipeline.VerifiedIn(fr, "dev") || !pipeline.CurrentlyIn(fr, "dev") {
		t.Errorf("freight status %+v", fr.Status)
	}
	if n := countEvents(t, e, EventReasonFreightVerificationSucceeded); n != 1 {
		t.Errorf("%d FreightVerificationSucceeded events, want 1", n)
	}
}

func countEvents(t *testing.T, e *stageEnv, reason string) int {
	t.Helper()
	list, err := e.st.List(context.Background(), "Event", "p", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range list.Items {
		if r, _, _ := unstructured.NestedString(ev.Object, "reason"); r == reason {
			n++
		}
	}
	return n
}

// TestStageSoak: Freight soaks upstream on the injected clock; the Stage
// asks to be woken when the soak ends and says so meanwhile.
func TestStageSoak(t *testing.T) {
	e := newStageEnv(t)
	e.autoPromote(t, "glob:*")
	e.stage(t, "dev", "direct: true", noop)
	e.stage(t, "uat", "stages: [dev], requiredSoakTime: 1h", noop)
	f := e.newFreight(t)
	res := e.settle(t)
	if got := e.current(t, "dev"); got != f {
		t.Fatalf("dev uses %q, want %s", got, f)
	}
	if e.current(t, "uat") != "" {
		t.Fatalf("uat was promoted before the soak ended")
	}
	wantCond(t, e.getStage(t, "uat"), ConditionAutoPromotion, metav1.ConditionFalse, ReasonAutoPromotionWaiting,
		`soaking in "dev" for 1h more (requiredSoakTime 1h)`)
	if w := res["uat"].RequeueAfter; w <= 59*time.Minute || w > time.Hour {
		t.Errorf("uat requeues after %s, want about 1h", w)
	}

	e.clock.Step(40 * time.Minute)
	e.settle(t)
	wantCond(t, e.getStage(t, "uat"), ConditionAutoPromotion, metav1.ConditionFalse, ReasonAutoPromotionWaiting,
		`soaking in "dev" for 20m more`)
	e.clock.Step(20 * time.Minute)
	e.settle(t)
	if got := e.current(t, "uat"); got != f {
		t.Fatalf("after the soak uat uses %q, want %s", got, f)
	}
	wantCond(t, e.getStage(t, "uat"), ConditionAutoPromotion, metav1.ConditionTrue, ReasonAutoPromotionUpToDate, "already uses the candidate")
}

// TestStageApproval: Freight approved for a Stage is available to it
// without being verified upstream.
func TestStageApproval(t *testing.T) {
	e := newStageEnv(t)
	e.autoPromote(t, "uat")
	e.stage(t, "dev", "direct: true", noop)
	e.stage(t, "uat", "stages: [dev]", noop)
	f := e.newFreight(t)
	e.settle(t)
	wantCond(t, e.getStage(t, "uat"), ConditionAutoPromotion, metav1.ConditionFalse, ReasonAutoPromotionWaiting,
		`not verified in upstream Stage "dev"`, `not approved for "uat"`)
	e.approve(t, f, "uat")
	e.settle(t)
	if got := e.current(t, "uat"); got != f {
		t.Fatalf("uat uses %q, want the approved %s", got, f)
	}
	if e.current(t, "dev") != "" {
		t.Errorf("dev, without auto-promotion, was promoted")
	}
}

// TestStageHolds: a user's rollback holds auto-promotion of its origin,
// newer Freight does not lift it, promoting the candidate does.
func TestStageHolds(t *testing.T) {
	e := newStageEnv(t)
	e.autoPromote(t, "dev")
	e.stage(t, "dev", "direct: true", noop)
	f1 := e.newFreight(t)
	e.settle(t)
	f2 := e.newFreight(t)
	e.settle(t)
	if got := e.current(t, "dev"); got != f2 {
		t.Fatalf("dev uses %q, want the newest %s", got, f2)
	}

	rollback := e.promote(t, "alice", "dev", f1)
	e.settle(t)
	st := e.getStage(t, "dev")
	if got := e.current(t, "dev"); got != f1 {
		t.Fatalf("after the rollback dev uses %q, want %s", got, f1)
	}
	hold, ok := st.Status.AutoPromotionHolds["Warehouse/w"]
	if !ok || hold.FreightName != f1 || hold.Actor != "alice" || hold.PromotionName != rollback {
		t.Fatalf("holds %+v", st.Status.AutoPromotionHolds)
	}
	wantCond(t, st, ConditionAutoPromotion, metav1.ConditionFalse, ReasonAutoPromotionOnHold, "on hold", "by alice",
		"promote the candidate")

	f3 := e.newFreight(t)
	e.settle(t)
	if got := e.current(t, "dev"); got != f1 {
		t.Fatalf("newer Freight lifted the hold: dev uses %q, want %s", got, f1)
	}

	e.promote(t, "alice", "dev", f3)
	e.settle(t)
	if st := e.getStage(t, "dev"); len(st.Status.AutoPromotionHolds) != 0 {
		t.Fatalf("promoting the candidate left holds %+v", st.Status.AutoPromotionHolds)
	}
	f4 := e.newFreight(t)
	e.settle(t)
	if got := e.current(t, "dev"); got != f4 {
		t.Fatalf("after the hold was lifted dev uses %q, want %s", got, f4)
	}
}

// TestStageMatchUpstream: with MatchUpstream a Stage follows what its
// upstream Stage uses, not the newest Freight verified there.
func TestStageMatchUpstream(t *testing.T) {
	e := newStageEnv(t)
	e.autoPromote(t, "regex:^uat")
	e.stage(t, "dev", "direct: true", noop)
	e.stage(t, "uat-match", "stages: [dev], autoPromotionOptions: {selectionPolicy: MatchUpstream}", noop)
	e.stage(t, "uat-newest", "stages: [dev]", noop)
	f1 := e.newFreight(t)
	f2 := e.newFreight(t)
	e.promote(t, "alice", "dev", f2)
	e.settle(t)
	e.promote(t, "alice", "dev", f1)
	e.settle(t)
	if got := e.current(t, "dev"); got != f1 {
		t.Fatalf("dev uses %q, want %s", got, f1)
	}
	if got := e.current(t, "uat-match"); got != f1 {
		t.Errorf("uat-match uses %q, want %s, which dev uses", got, f1)
	}
	if got := e.current(t, "uat-newest"); got != f2 {
		t.Errorf("uat-newest uses %q, want the newest verified %s", got, f2)
	}
}

// TestStageFailedPromotionNotRetried: auto-promotion does not retry a
// Freight whose Promotion failed, and says so.
func TestStageFailedPromotionNotRetried(t *testing.T) {
	e := newStageEnv(t)
	e.autoPromote(t, "glob:*")
	e.stage(t, "dev", "direct: true", "- uses: fail\n  config: {message: the test says no}\n")
	e.newFreight(t)
	e.settle(t)
	e.clock.Step(time.Hour)
	e.settle(t)
	promos := e.promotionsOf(t, "dev")
	if len(promos) != 1 || promos[0].Status.Phase != kargoapi.PromotionPhaseFailed {
		t.Fatalf("promotions %d, first %v; want one Failed", len(promos), promos)
	}
	st := e.getStage(t, "dev")
	wantCond(t, st, ConditionAutoPromotion, metav1.ConditionFalse, ReasonAutoPromotionWaiting, "not retried automatically")
	wantCond(t, st, ConditionReady, metav1.ConditionFalse, "LastPromotionFailed", "the test says no")
}

// TestStageFanInAll: with availabilityStrategy All, Freight verified in
// one upstream Stage only is not available, and the reason names the other.
func TestStageFanInAll(t *testing.T) {
	e := newStageEnv(t)
	e.autoPromote(t, "prod")
	e.stage(t, "a", "direct: true", noop)
	e.stage(t, "b", "direct: true", noop)
	e.stage(t, "prod", "stages: [a, b], availabilityStrategy: All", noop)
	f := e.newFreight(t)
	e.promote(t, "alice", "a", f)
	e.settle(t)
	wantCond(t, e.getStage(t, "prod"), ConditionAutoPromotion, metav1.ConditionFalse, ReasonAutoPromotionWaiting,
		`not verified in upstream Stage "b"`, "availabilityStrategy All")
	e.promote(t, "alice", "b", f)
	e.settle(t)
	if got := e.current(t, "prod"); got != f {
		t.Fatalf("prod uses %q, want %s", got, f)
	}
	for _, p := range e.promotionsOf(t, "prod") {
		if actor := p.Annotations[kargoapi.AnnotationKeyCreateActor]; !strings.HasPrefix(actor, "controller:") {
			t.Errorf("promotion %s created by %q, want the controller", p.Name, actor)
		}
	}
	if n := countEvents(t, e, stageEventPromotionCreated); n != 1 {
		t.Errorf("%d PromotionCreated events, want 1", n)
	}
}

// TestPipelineIndex: the triggers wake only the Stages a change concerns.
func TestPipelineIndex(t *testing.T) {
	ix := newPipelineIndex()
	stageObj := func(name, sources string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		doc := "metadata: {name: " + name + ", namespace: p}\nspec:\n  requestedFreight:\n  - origin: {kind: Warehouse, name: w}\n    sources: {" + sources + "}\n"
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		return u
	}
	names := func(keys []Key) []string {
		var out []string
		for _, k := range keys {
			out = append(out, k.Name)
		}
		slices.Sort(out)
		return out
	}
	ix.observeStage(stageObj("dev", "direct: true"))
	ix.observeStage(stageObj("uat", "stages: [dev]"))
	ix.observeStage(stageObj("prod", "stages: [uat]"))
	freight := func(uid, status string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte("metadata: {name: f, namespace: p, uid: '"+uid+"'}\norigin: {kind: Warehouse, name: w}\nstatus: {"+status+"}\n"), &u.Object); err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, tc := range []struct {
		obj  *unstructured.Unstructured
		want []string
	}{
		{freight("1", ""), []string{"dev"}},                                                // new: direct Stages
		{freight("1", ""), nil},                                                            // unchanged
		{freight("1", "verifiedIn: {dev: {}}"), []string{"uat"}},                           // newly verified in dev
		{freight("1", "verifiedIn: {dev: {}}, currentlyIn: {dev: {}}"), nil},               // only currentlyIn changed
		{freight("1", "verifiedIn: {dev: {}}, approvedFor: {prod: {}}"), []string{"prod"}}, // approved
	} {
		// The Freight informer caches Freight decoded (freightFromObject).
		cached, err := freightFromObject(tc.obj)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cached.(*kargoapi.Freight); !ok {
			t.Fatalf("freightFromObject cached a %T, want *Freight", cached)
		}
		if again, _ := freightFromObject(cached); again != cached {
			t.Error("freightFromObject changed its own output")
		}
		if got := names(ix.observeFreight(cached)); !slices.Equal(got, tc.want) {
			t.Errorf("observeFreight(%v) = %v, want %v", tc.obj.Object["status"], got, tc.want)
		}
	}
	full := stageObj("uat", "stages: [dev]")
	full.Object["status"] = map[string]any{"freightHistory": []any{map[string]any{"id": "c1", "items": map[string]any{}}, map[string]any{"id": "c0"}}}
	// The trigger caches Stages trimmed to what observeStage reads.
	trimmed, _ := trimStage(full)
	uat := trimmed.(*unstructured.Unstructured)
	if again, _ := trimStage(uat); !reflect.DeepEqual(again, uat) {
		t.Errorf("trimStage changed its own output: %v", again)
	}
	if h, _, _ := unstructured.NestedSlice(uat.Object, "status", "freightHistory"); len(h) != 1 || currentCollectionID(uat) != "c1" {
		t.Errorf("trimmed Stage keeps freightHistory %v, want only the current id", h)
	}
	if got := names(ix.observeStage(uat)); !slices.Equal(got, []string{"prod"}) {
		t.Errorf("a new current collection of uat wakes %v, want prod", got)
	}
	if got := ix.observeStage(uat); got != nil {
		t.Errorf("an unchanged uat wakes %v", got)
	}
	fullPromo := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "x", "namespace": "p", "uid": "9"},
		"spec":     map[string]any{"stage": "uat", "freight": "f", "steps": []any{map[string]any{"uses": "x"}}},
		"status":   map[string]any{"phase": "Running", "message": "long"},
	}}
	trimmedPromo, _ := trimPromotion(fullPromo)
	promo := trimmedPromo.(*unstructured.Unstructured)
	if want := map[string]any{"stage": "uat"}; !reflect.DeepEqual(promo.Object["spec"], want) {
		t.Errorf("trimmed Promotion spec %v, want %v", promo.Object["spec"], want)
	}
	if got := names(ix.observePromotion(promo)); !slices.Equal(got, []string{"uat"}) {
		t.Errorf("a new promotion wakes %v", got)
	}
	if got := ix.observePromotion(promo); got != nil {
		t.Errorf("a promotion whose phase did not change wakes %v", got)
	}
}
