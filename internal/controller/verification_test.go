package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/admission"
	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/store"
	"github.com/caravan-dev/caravan/internal/testserver"
)

// ---- environment ----

// verifyEnv is a real SQLite store behind admission holding project p, a
// Warehouse and one Freight (an image and a commit), a Verifier and an
// AnalysisRun reconciler on one fake clock, and a log buffer.
type verifyEnv struct {
	st      store.Store
	clk     *testingclock.FakeClock
	logs    *syncBuffer
	log     *slog.Logger
	v       *Verifier
	runs    *AnalysisRunReconciler
	freight string
}

func newVerifyEnv(t *testing.T) *verifyEnv {
	t.Helper()
	e := &verifyEnv{
		st:   admission.New(openStore(t), admission.Options{}),
		clk:  testingclock.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)),
		logs: &syncBuffer{},
	}
	e.log = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.v = NewVerifier(VerifierOptions{Store: e.st, Clock: e.clk.Now, Logger: e.log, SharedNamespace: "kargo-shared-resources"})
	var err error
	if e.runs, err = NewAnalysisRunReconciler(AnalysisRunOptions{Store: e.st, Clock: e.clk.Now, Logger: e.log}); err != nil {
		t.Fatal(err)
	}
	e.create(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {name: p}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: p}
spec:
  subscriptions:
  - image: {repoURL: ghcr.io/acme/app}
  - git: {repoURL: https://git.example.com/app.git}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {name: x, namespace: p}
origin: {kind: Warehouse, name: w}
images:
- {repoURL: ghcr.io/acme/app, tag: v1.2.3, digest: "sha256:0000000000000000000000000000000000000000000000000000000000000001"}
commits:
- {repoURL: https://git.example.com/app.git, id: abcdef0123456789abcdef0123456789abcdef01}
`)
	list, err := e.st.List(context.Background(), "Freight", "p", store.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list freight: %v (%d items)", err, len(list.Items))
	}
	e.freight = list.Items[0].GetName()
	return e
}

// ctx is the context a Runner gives reconcilers, with the env's logger.
func (e *verifyEnv) ctx() context.Context {
	return withLogger(identity.WithActor(context.Background(), identity.Controller), e.log)
}

// create creates the objects of a multi-document manifest as alice.
func (e *verifyEnv) create(t *testing.T, docs string) {
	t.Helper()
	for _, doc := range strings.Split(docs, "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("parse manifest: %v\n%s", err, doc)
		}
		if _, err := e.st.Create(userCtx("alice"), u); err != nil {
			t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// stage creates Stage name with the given spec fields (YAML, besides
// requestedFreight) and gives it a current freight collection holding the
// env's Freight, left by Promotion "<name>.promo".
func (e *verifyEnv) stage(t *testing.T, name, spec string) *kargoapi.Stage {
	t.Helper()
	e.create(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: `+name+`, namespace: p}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: w}
    sources: {direct: true}
`+indent(spec, "  "))
	f, err := e.st.Get(context.Background(), "Freight", "p", e.freight)
	if err != nil {
		t.Fatal(err)
	}
	fr := &kargoapi.Freight{}
	if err := decodeObject(f, fr); err != nil {
		t.Fatal(err)
	}
	col := &kargoapi.FreightCollection{}
	col.UpdateOrPush(kargoapi.FreightReference{Name: fr.Name, Origin: fr.Origin, Images: fr.Images, Commits: fr.Commits})
	return e.setStatus(t, name, func(st *kargoapi.StageStatus) {
		st.FreightHistory.Record(col)
		st.LastPromotion = &kargoapi.PromotionReference{Name: name + ".promo"}
	})
}

// setStatus changes the Stage's status as its reconciler would.
func (e *verifyEnv) setStatus(t *testing.T, name string, mutate func(*kargoapi.StageStatus)) *kargoapi.Stage {
	t.Helper()
	obj, err := e.st.Get(context.Background(), "Stage", "p", name)
	if err != nil {
		t.Fatal(err)
	}
	s := &kargoapi.Stage{}
	if err := decodeObject(obj, s); err != nil {
		t.Fatal(err)
	}
	mutate(&s.Status)
	m, err := toMap(s.Status)
	if err != nil {
		t.Fatal(err)
	}
	obj.Object["status"] = m
	if _, err := e.st.UpdateStatus(e.ctx(), obj); err != nil {
		t.Fatalf("update status of stage %s: %v", name, err)
	}
	return e.getStage(t, name)
}

func (e *verifyEnv) getStage(t *testing.T, name string) *kargoapi.Stage {
	t.Helper()
	obj, err := e.st.Get(context.Background(), "Stage", "p", name)
	if err != nil {
		t.Fatal(err)
	}
	s := &kargoapi.Stage{}
	if err := decodeObject(obj, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// record writes info into the current collection's verification history
// as the Stage reconciler does: the entry with its ID is replaced, a new ID
// goes first.
func (e *verifyEnv) record(t *testing.T, name string, info *kargoapi.VerificationInfo) *kargoapi.Stage {
	t.Helper()
	return e.setStatus(t, name, func(st *kargoapi.StageStatus) {
		cur := st.FreightHistory.Current()
		if len(cur.VerificationHistory) > 0 && cur.VerificationHistory[0].ID == info.ID {
			cur.VerificationHistory[0] = *info
			return
		}
		cur.VerificationHistory = append([]kargoapi.VerificationInfo{*info}, cur.VerificationHistory...)
	})
}

// annotate sets an annotation of the Stage as user.
func (e *verifyEnv) annotate(t *testing.T, name, user, key, value string) *kargoapi.Stage {
	t.Helper()
	obj, err := e.st.Get(context.Background(), "Stage", "p", name)
	if err != nil {
		t.Fatal(err)
	}
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[key] = value
	obj.SetAnnotations(ann)
	if _, err := e.st.Update(userCtx(user), obj); err != nil {
		t.Fatalf("annotate stage %s: %v", name, err)
	}
	return e.getStage(t, name)
}

// verify calls the Verifier, failing the test on an error.
func (e *verifyEnv) verify(t *testing.T, stage *kargoapi.Stage) (*kargoapi.VerificationInfo, time.Duration) {
	t.Helper()
	info, next, err := e.v.Reconcile(e.ctx(), stage)
	if err != nil {
		t.Fatalf("verify stage %s: %v", stage.Name, err)
	}
	return info, next
}

// run reads an AnalysisRun.
func (e *verifyEnv) run(t *testing.T, name string) (*unstructured.Unstructured, *rolloutsapi.AnalysisRun) {
	t.Helper()
	obj, err := e.st.Get(context.Background(), "AnalysisRun", "p", name)
	if err != nil {
		t.Fatal(err)
	}
	run := &rolloutsapi.AnalysisRun{}
	if err := decodeObject(obj, run); err != nil {
		t.Fatal(err)
	}
	return obj, run
}

// runToEnd reconciles the AnalysisRun, moving the clock to each next
// measurement, until it completes.
func (e *verifyEnv) runToEnd(t *testing.T, name string) *rolloutsapi.AnalysisRun {
	t.Helper()
	for range 50 {
		res, err := e.runs.Reconcile(e.ctx(), Key{Namespace: "p", Name: name})
		if err != nil {
			t.Fatalf("reconcile analysisrun %s: %v", name, err)
		}
		if _, run := e.run(t, name); run.Status.Phase.Completed() {
			return run
		}
		if res.RequeueAfter <= 0 {
			t.Fatalf("analysisrun %s is not complete but asks for no requeue", name)
		}
		e.clk.Step(res.RequeueAfter)
	}
	t.Fatalf("analysisrun %s did not complete in 50 passes", name)
	return nil
}

// verifyToEnd starts the Stage's verification, runs its AnalysisRun to the
// end and returns the recorded outcome and the run.
func (e *verifyEnv) verifyToEnd(t *testing.T, stage *kargoapi.Stage) (*kargoapi.VerificationInfo, *rolloutsapi.AnalysisRun) {
	t.Helper()
	started, next := e.verify(t, stage)
	if started == nil || started.Phase != kargoapi.VerificationPhasePending || started.AnalysisRun == nil {
		t.Fatalf("started verification = %+v; want Pending with an AnalysisRun", started)
	}
	if next != DefaultVerificationPoll {
		t.Errorf("next = %s while pending; want %s", next, DefaultVerificationPoll)
	}
	stage = e.record(t, stage.Name, started)
	run := e.runToEnd(t, started.AnalysisRun.Name)
	done, next := e.verify(t, stage)
	if done == nil || done.ID != started.ID || !done.Phase.IsTerminal() || next != 0 {
		t.Fatalf("finished verification = %+v, next %s; want verification %s terminal, no requeue", done, next, started.ID)
	}
	stage = e.record(t, stage.Name, done)
	if again, _ := e.verify(t, stage); again != nil {
		t.Errorf("a finished verification was reported again: %+v", again)
	}
	return done, run
}

// events returns the Events of project p with the reason.
func (e *verifyEnv) events(t *testing.T, reason string) []unstructured.Unstructured {
	t.Helper()
	list, err := e.st.List(context.Background(), "Event", "p", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []unstructured.Unstructured
	for _, ev := range list.Items {
		if r, _, _ := unstructured.NestedString(ev.Object, "reason"); r == reason {
			out = append(out, ev)
		}
	}
	return out
}

// webValue is an endpoint answering {"value": V} with the value and status
// code the test sets, recording each request.
type webValue struct {
	srv  *httptest.Server
	mu   sync.Mutex
	val  any
	code int
	reqs []*http.Request
}

func newWebValue(t *testing.T, val any, code int) *webValue {
	t.Helper()
	w := &webValue{val: val, code: code}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.reqs = append(w.reqs, r.Clone(context.Background()))
		val, code := w.val, w.code
		w.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(code)
		_ = json.NewEncoder(rw).Encode(map[string]any{"value": val})
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webValue) requests() []*http.Request {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*http.Request(nil), w.reqs...)
}

// webTemplate is an AnalysisTemplate (or, with cluster, a
// ClusterAnalysisTemplate) of one web metric reading {$.value} from url,
// with extra metric fields (YAML).
func webTemplate(name, url, extra string, cluster bool) string {
	kind, ns := "AnalysisTemplate", ", namespace: p"
	if cluster {
		kind, ns = "ClusterAnalysisTemplate", ""
	}
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: %s
metadata: {name: %s%s}
spec:
  metrics:
  - name: %s-check
    provider:
      web: {url: %q, jsonPath: "{$.value}"}
%s`, kind, name, ns, name, url, indent(extra, "    "))
}

// verificationSpec references templates (name or "Cluster:name").
func verificationSpec(templates ...string) string {
	var b strings.Builder
	b.WriteString("verification:\n  analysisTemplates:\n")
	for _, t := range templates {
		if name, ok := strings.CutPrefix(t, "Cluster:"); ok {
			fmt.Fprintf(&b, "  - {name: %s, kind: ClusterAnalysisTemplate}\n", name)
			continue
		}
		fmt.Fprintf(&b, "  - {name: %s}\n", t)
	}
	return b.String()
}

// ---- tests ----

// TestVerifierOutcomes runs web verifications to each outcome and checks
// what is recorded: the AnalysisRun as Kargo builds it, the
// VerificationInfo, and the Event on the Freight.
func TestVerifierOutcomes(t *testing.T) {
	e := newVerifyEnv(t)
	cases := []struct {
		name   string
		val    any
		code   int
		metric string
		want   kargoapi.VerificationPhase
		reason string
		msg    string
	}{
		{"success", 1, 200, "successCondition: result == 1", kargoapi.VerificationPhaseSuccessful,
			EventReasonFreightVerificationSucceeded, ""},
		{"failure", 5, 200, "successCondition: result < 2", kargoapi.VerificationPhaseFailed,
			EventReasonFreightVerificationFailed, `Metric "failure-check" assessed Failed`},
		{"inconclusive", 5, 200, "successCondition: result < 2\nfailureCondition: result > 10",
			kargoapi.VerificationPhaseInconclusive, EventReasonFreightVerificationInconclusive, `"inconclusive-check" assessed Inconclusive`},
		{"errors", nil, 500, "consecutiveErrorLimit: 2\nsuccessCondition: result == 1",
			kargoapi.VerificationPhaseError, EventReasonFreightVerificationErrored, "500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			web := newWebValue(t, tc.val, tc.code)
			e.create(t, webTemplate(tc.name, web.srv.URL, tc.metric, false))
			start := e.clk.Now().UTC().Truncate(time.Second)
			stage := e.stage(t, tc.name, verificationSpec(tc.name)+`  analysisRunMetadata:
    labels: {team: shop}
    annotations: {note: from-stage}
`)
			info, run := e.verifyToEnd(t, stage)
			if info.Phase != tc.want || !strings.Contains(info.Message, tc.msg) {
				t.Errorf("verification = %s %q; want %s with %q", info.Phase, info.Message, tc.want, tc.msg)
			}
			if info.StartTime == nil || !info.StartTime.Time.Equal(start) || info.FinishTime == nil ||
				!info.FinishTime.Equal(run.Status.CompletedAt) || info.Actor != "" {
				t.Errorf("verification times/actor = %v → %v by %q; want %v → the run's completion %v, no actor",
					info.StartTime, info.FinishTime, info.Actor, start, run.Status.CompletedAt)
			}
			if tc.name == "errors" && len(web.requests()) != 3 {
				t.Errorf("the endpoint was called %d times; want 3 (consecutiveErrorLimit 2 ends the run at the third error)", len(web.requests()))
			}

			// The AnalysisRun, as Kargo names, labels and owns it.
			col := stage.Status.FreightHistory.Current().ID
			if !regexp.MustCompile(`^`+tc.name+`\.[0-9a-z]{26}\.`+col[:7]+`$`).MatchString(run.Name) ||
				!strings.Contains(run.Name, info.ID) {
				t.Errorf("run name %q; want %s.<verification ULID %s>.%s", run.Name, tc.name, info.ID, col[:7])
			}
			wantLabels := map[string]string{kargoapi.LabelKeyStage: tc.name, kargoapi.LabelKeyFreightCollection: col,
				kargoapi.LabelKeyPromotion: tc.name + ".promo", "team": "shop"}
			for k, v := range wantLabels {
				if run.Labels[k] != v {
					t.Errorf("run label %s = %q; want %q", k, run.Labels[k], v)
				}
			}
			if run.Annotations["note"] != "from-stage" || run.Annotations[AnnotationKeyVerificationID] != info.ID {
				t.Errorf("run annotations = %v", run.Annotations)
			}
			f, _ := e.st.Get(context.Background(), "Freight", "p", e.freight)
			if o := run.OwnerReferences; len(o) != 1 || o[0].Kind != "Freight" || o[0].Name != e.freight || o[0].UID != f.GetUID() {
				t.Errorf("run owners = %+v; want the Freight", o)
			}

			// One Event, on the Freight, with Kargo's annotations.
			evs := e.events(t, tc.reason)
			var ev *unstructured.Unstructured
			for i := range evs {
				if evs[i].GetAnnotations()[kargoapi.AnnotationKeyEventStageName] == tc.name {
					ev = &evs[i]
				}
			}
			if ev == nil {
				t.Fatalf("no %s event for stage %s", tc.reason, tc.name)
			}
			ann := ev.GetAnnotations()
			want := map[string]string{
				kargoapi.AnnotationKeyEventActor:              "controller:stage-controller",
				kargoapi.AnnotationKeyEventProject:            "p",
				kargoapi.AnnotationKeyEventFreightName:        e.freight,
				kargoapi.AnnotationKeyEventAnalysisRunName:    run.Name,
				kargoapi.AnnotationKeyEventPromotionName:      tc.name + ".promo",
				kargoapi.AnnotationKeyEventVerificationStart:  start.Format(time.RFC3339),
				kargoapi.AnnotationKeyEventVerificationFinish: info.FinishTime.UTC().Format(time.RFC3339),
			}
			for k, v := range want {
				if ann[k] != v {
					t.Errorf("event annotation %s = %q; want %q", k, ann[k], v)
				}
			}
			if ann[kargoapi.AnnotationKeyEventFreightAlias] == "" {
				t.Error("event has no freight alias")
			}
			if kind, _, _ := unstructured.NestedString(ev.Object, "involvedObject", "kind"); kind != "Freight" {
				t.Errorf("event is about a %s; want the Freight", kind)
			}
		})
	}
}

// TestVerifierPrometheus verifies against a real Prometheus scraping an
// exporter whose value the test sets: healthy, then unhealthy.
func TestVerifierPrometheus(t *testing.T) {
	exp := testserver.NewExporter(t)
	exp.Set(`caravan_error_rate{service="api"}`, 0.01)
	prom := testserver.NewPrometheus(t, exp.Target())
	query := `caravan_error_rate{service="api"}`
	prom.WaitForValue(t, query, 0.01)

	e := newVerifyEnv(t)
	e.create(t, `apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: error-rate, namespace: p}
spec:
  args:
  - name: service
  metrics:
  - name: error-rate
    successCondition: result[0] < 0.05
    provider:
      prometheus:
        address: `+prom.URL()+`
        query: caravan_error_rate{service="{{args.service}}"}`)
	spec := verificationSpec("error-rate") + "  args:\n  - {name: service, value: api}\n"

	info, run := e.verifyToEnd(t, e.stage(t, "healthy", spec))
	if info.Phase != kargoapi.VerificationPhaseSuccessful {
		t.Errorf("healthy: %s %q; want Successful", info.Phase, info.Message)
	}
	if m := run.Status.MetricResults[0].Measurements[0]; m.Value != "[0.01]" {
		t.Errorf("measured %q; want [0.01]", m.Value)
	}

	exp.Set(`caravan_error_rate{service="api"}`, 0.5)
	prom.WaitForValue(t, query, 0.5)
	info, _ = e.verifyToEnd(t, e.stage(t, "unhealthy", spec))
	if info.Phase != kargoapi.VerificationPhaseFailed || !strings.Contains(info.Message, `"error-rate" assessed Failed`) {
		t.Errorf("unhealthy: %s %q; want Failed naming the metric", info.Phase, info.Message)
	}
}

// TestVerifierAbort aborts a long-running verification with the abort
// annotation: the run is terminated, the verification is Aborted by who
// asked, and an abort naming another verification changes nothing.
func TestVerifierAbort(t *testing.T) {
	e := newVerifyEnv(t)
	web := newWebValue(t, 1, 200)
	e.create(t, webTemplate("slow", web.srv.URL, "interval: 1m\ncount: 30\nsuccessCondition: result == 1", false))
	stage := e.stage(t, "slow", verificationSpec("slow"))
	started, _ := e.verify(t, stage)
	stage = e.record(t, "slow", started)
	runName := started.AnalysisRun.Name
	if _, err := e.runs.Reconcile(e.ctx(), Key{Namespace: "p", Name: runName}); err != nil {
		t.Fatal(err)
	}
	running, next := e.verify(t, stage)
	if running.Phase != kargoapi.VerificationPhaseRunning || next != DefaultVerificationPoll {
		t.Fatalf("verification = %s (next %s); want Running, polled", running.Phase, next)
	}
	stage = e.record(t, "slow", running)

	stage = e.annotate(t, "slow", "bob", kargoapi.AnnotationKeyAbort, "01jnotthisone0000000000000")
	if got, _ := e.verify(t, stage); got.Phase != kargoapi.VerificationPhaseRunning {
		t.Fatalf("an abort of another verification made this one %s", got.Phase)
	}

	stage = e.annotate(t, "slow", "bob", kargoapi.AnnotationKeyAbort, started.ID)
	if req, _ := kargoapi.ParseVerificationRequest(stage.Annotations[kargoapi.AnnotationKeyAbort]); req.Actor != "bob" {
		t.Fatalf("abort annotation = %s; want admission to record bob", stage.Annotations[kargoapi.AnnotationKeyAbort])
	}
	aborted, next := e.verify(t, stage)
	if aborted.ID != started.ID || aborted.Phase != kargoapi.VerificationPhaseAborted || aborted.Actor != "bob" ||
		aborted.Message != "Verification aborted by bob" || aborted.FinishTime == nil || next != 0 {
		t.Fatalf("aborted = %+v (next %s); want Aborted by bob", aborted, next)
	}
	if _, run := e.run(t, runName); !run.Spec.Terminate {
		t.Error("the AnalysisRun was not terminated")
	}
	stage = e.record(t, "slow", aborted)
	if again, _ := e.verify(t, stage); again != nil {
		t.Errorf("an aborted verification was reported again: %+v", again)
	}
	// The run ends without measuring again.
	calls := len(web.requests())
	if run := e.runToEnd(t, runName); run.Status.Message != "Run Terminated" || len(web.requests()) != calls {
		t.Errorf("terminated run: %s %q after %d more calls", run.Status.Phase, run.Status.Message, len(web.requests())-calls)
	}
	evs := e.events(t, EventReasonFreightVerificationAborted)
	if len(evs) != 1 || evs[0].GetAnnotations()[kargoapi.AnnotationKeyEventActor] != "bob" {
		t.Errorf("aborted events = %+v; want 1 by bob", evs)
	}
}

// TestVerifierReverify re-runs a finished verification with the reverify
// annotation: a second verification, newest first, by who asked; a lost
// status write adopts the run already made instead of making another.
func TestVerifierReverify(t *testing.T) {
	e := newVerifyEnv(t)
	web := newWebValue(t, 1, 200)
	e.create(t, webTemplate("again", web.srv.URL, "successCondition: result == 1", false))
	stage := e.stage(t, "again", verificationSpec("again"))
	first, _ := e.verifyToEnd(t, stage)

	e.clk.Step(time.Hour)
	stage = e.annotate(t, "again", "carol", kargoapi.AnnotationKeyReverify, `{"id":"`+first.ID+`"}`)
	second, _ := e.verify(t, stage)
	if second == nil || second.ID == first.ID || second.Actor != "carol" || second.Phase != kargoapi.VerificationPhasePending {
		t.Fatalf("reverification = %+v; want a new Pending verification by carol", second)
	}
	// The status write was lost: the same verification, not a second run.
	if lost, _ := e.verify(t, stage); lost.ID != second.ID || lost.AnalysisRun.Name != second.AnalysisRun.Name {
		t.Errorf("after a lost status write: %s/%s; want %s/%s", lost.ID, lost.AnalysisRun.Name, second.ID, second.AnalysisRun.Name)
	}
	_, run := e.run(t, second.AnalysisRun.Name)
	if run.Annotations[AnnotationKeyReverifyOf] != first.ID || run.Labels[kargoapi.LabelKeyPromotion] != "" {
		t.Errorf("reverify run: annotations %v, labels %v; want reverify-of %s and no promotion label",
			run.Annotations, run.Labels, first.ID)
	}
	stage = e.record(t, "again", second)
	e.runToEnd(t, second.AnalysisRun.Name)
	done, _ := e.verify(t, stage)
	stage = e.record(t, "again", done)

	hist := stage.Status.FreightHistory.Current().VerificationHistory
	if len(hist) != 2 || hist[0].ID != second.ID || hist[1].ID != first.ID ||
		hist[0].Phase != kargoapi.VerificationPhaseSuccessful || hist[0].Actor != "carol" {
		t.Errorf("history = %+v; want [second by carol Successful, first]", hist)
	}
	// The annotation names the first verification: nothing more to do.
	if again, _ := e.verify(t, stage); again != nil {
		t.Errorf("a consumed reverify started another verification: %+v", again)
	}
	list, _ := e.st.List(context.Background(), "AnalysisRun", "p", store.ListOptions{})
	if len(list.Items) != 2 {
		t.Errorf("%d AnalysisRuns; want 2", len(list.Items))
	}
}

// TestVerifierArgs passes Stage args evaluated as expressions (ctx, vars,
// imageFrom, commitFrom) and a template argument read from a Secret into
// a web metric's URL and header; the secret's value is sent but appears
// nowhere else.
func TestVerifierArgs(t *testing.T) {
	const secret = "s3cr3t-v3r1fy-t0k3n"
	e := newVerifyEnv(t)
	var mu sync.Mutex
	var gotQuery, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotQuery, gotAuth = r.URL.RawQuery, r.Header.Get("Authorization")
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": r.Header.Get("Authorization") == "Bearer "+secret})
	}))
	defer srv.Close()
	e.create(t, `apiVersion: v1
kind: Secret
metadata: {name: api, namespace: p}
stringData: {token: `+secret+`}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: smoke, namespace: p}
spec:
  args:
  - {name: where}
  - {name: version}
  - {name: commit}
  - {name: limit, value: "10"}
  - name: token
    valueFrom: {secretKeyRef: {name: api, key: token}}
  metrics:
  - name: smoke
    successCondition: result == true
    provider:
      web:
        url: "`+srv.URL+`/smoke?where={{args.where}}&version={{args.version}}&commit={{args.commit}}&limit={{args.limit}}"
        headers: [{key: Authorization, value: "Bearer {{args.token}}"}]
        jsonPath: "{$.ok}"`)
	stage := e.stage(t, "uat", `vars:
- {name: env, value: "${{ ctx.project }}-${{ ctx.stage }}"}
`+verificationSpec("smoke")+`  args:
  - {name: where, value: "${{ vars.env }}"}
  - {name: version, value: "${{ imageFrom('ghcr.io/acme/app').Tag }}"}
  - {name: commit, value: "${{ commitFrom('https://git.example.com/app.git').ID }}"}
`)
	info, run := e.verifyToEnd(t, stage)
	if info.Phase != kargoapi.VerificationPhaseSuccessful {
		t.Fatalf("verification %s %q; want Successful (the header carried the secret)", info.Phase, info.Message)
	}
	mu.Lock()
	q, auth := gotQuery, gotAuth
	mu.Unlock()
	if want := "where=p-uat&version=v1.2.3&commit=abcdef0123456789abcdef0123456789abcdef01&limit=10"; q != want || auth != "Bearer "+secret {
		t.Errorf("request query %q; want %q (header sent: %t)", q, want, auth == "Bearer "+secret)
	}
	runObj, _ := e.run(t, run.Name)
	evs, _ := e.st.List(context.Background(), "Event", "p", store.ListOptions{})
	stageObj, _ := e.st.Get(context.Background(), "Stage", "p", "uat")
	for what, v := range map[string]any{"run": runObj.Object, "events": evs.Items, "stage": stageObj.Object, "info": info} {
		doc, _ := json.Marshal(v)
		if strings.Contains(string(doc), secret) {
			t.Errorf("the secret appears in the %s: %s", what, doc)
		}
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Errorf("the secret appears in the logs:\n%s", e.logs.String())
	}
	if tok := run.Spec.Args[4]; tok.Value != nil || tok.ValueFrom == nil || tok.ValueFrom.SecretKeyRef.Name != "api" {
		t.Errorf("token argument = %+v; want its secretKeyRef kept", tok)
	}
}

// TestVerifierClusterTemplate merges an AnalysisTemplate and a
// ClusterAnalysisTemplate into one run.
func TestVerifierClusterTemplate(t *testing.T) {
	e := newVerifyEnv(t)
	web := newWebValue(t, 1, 200)
	e.create(t, webTemplate("local", web.srv.URL, "successCondition: result == 1", false)+"\n---\n"+
		webTemplate("global", web.srv.URL, "successCondition: result > 0", true))
	info, run := e.verifyToEnd(t, e.stage(t, "both", verificationSpec("local", "Cluster:global")))
	if info.Phase != kargoapi.VerificationPhaseSuccessful || len(run.Spec.Metrics) != 2 ||
		run.Spec.Metrics[0].Name != "local-check" || run.Spec.Metrics[1].Name != "global-check" {
		t.Errorf("verification %s %q, metrics %d; want Successful over both templates' metrics", info.Phase, info.Message, len(run.Spec.Metrics))
	}
}

// TestVerifierCannotStart: what cannot be built ends at once in Error with
// a message saying what to fix, and an Event; nothing is created.
func TestVerifierCannotStart(t *testing.T) {
	e := newVerifyEnv(t)
	e.create(t, `apiVersion: v1
kind: Secret
metadata: {name: db, namespace: p}
stringData: {password: hunter2-hunter2}
---
`+webTemplate("ok", "http://127.0.0.1:1/", "successCondition: result == 1\n", false)+`
  args: [{name: x}]`)
	cases := []struct{ name, spec, msg string }{
		{"missing", verificationSpec("nope"),
			`AnalysisTemplate "nope" not found in project "p": create it, or correct spec.verification.analysisTemplates[0]`},
		{"missing-cluster", verificationSpec("Cluster:nope"),
			`ClusterAnalysisTemplate "nope" not found (cluster-wide)`},
		{"no-arg", verificationSpec("ok"), `argument "x" has no value`},
		{"number", verificationSpec("ok") + "  args: [{name: x, value: '${{ 6 * 7 }}'}]\n", "evaluates to a number, not a string"},
		{"bad-expr", verificationSpec("ok") + "  args: [{name: x, value: '${{ nosuch(1) }}'}]\n", "spec.verification.args[0] (x)"},
		{"secret", verificationSpec("ok") + "  args: [{name: x, value: \"${{ secret('db').password }}\"}]\n",
			"carries a value read from a Secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, next := e.verify(t, e.stage(t, tc.name, tc.spec))
			if info.Phase != kargoapi.VerificationPhaseError || !strings.Contains(info.Message, tc.msg) ||
				info.FinishTime == nil || info.AnalysisRun != nil || next != 0 {
				t.Errorf("verification = %s %q (run %v, next %s); want Error containing %q", info.Phase, info.Message, info.AnalysisRun, next, tc.msg)
			}
			if strings.Contains(info.Message, "hunter2") {
				t.Errorf("the message quotes the secret: %s", info.Message)
			}
		})
	}
	if n := len(e.events(t, EventReasonFreightVerificationErrored)); n != len(cases) {
		t.Errorf("%d Errored events; want %d", n, len(cases))
	}
	if list, _ := e.st.List(context.Background(), "AnalysisRun", "p", store.ListOptions{}); len(list.Items) != 0 {
		t.Errorf("%d AnalysisRuns were created", len(list.Items))
	}
}

// TestVerifierNoVerification: a Stage without spec.verification is verified
// at once; one with a running Promotion or no Freight is left alone.
func TestVerifierNoVerification(t *testing.T) {
	e := newVerifyEnv(t)
	stage := e.stage(t, "plain", "")
	info, next := e.verify(t, stage)
	if info.Phase != kargoapi.VerificationPhaseSuccessful || info.ID == "" || info.FinishTime == nil || next != 0 {
		t.Errorf("verification = %+v; want Successful at once", info)
	}
	if n := len(e.events(t, EventReasonFreightVerificationSucceeded)); n != 1 {
		t.Errorf("%d Succeeded events; want 1", n)
	}
	stage.Status.CurrentPromotion = &kargoapi.PromotionReference{Name: "plain.next"}
	if info, _ := e.verify(t, stage); info != nil {
		t.Errorf("verified during a promotion: %+v", info)
	}
	stage.Status = kargoapi.StageStatus{}
	if info, _ := e.verify(t, stage); info != nil {
		t.Errorf("verified without Freight: %+v", info)
	}
}
