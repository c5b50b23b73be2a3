package controller

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/identity"
)

// analysisRunDoc is an AnalysisRun of one web metric reading {$.value}
// from url, with extra metric fields and extra spec fields (YAML).
func analysisRunDoc(name, url, metric, spec string) string {
	return `apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata: {name: ` + name + `, namespace: p}
spec:
  metrics:
  - name: check
    provider:
      web: {url: "` + url + `", jsonPath: "{$.value}"}
` + indent(metric, "    ") + indent(spec, "  ")
}

// TestAnalysisRunRunner runs AnalysisRuns through a Runner on the real
// clock: one to success over two measurements a second apart; one with an
// hour between measurements that spec.terminate wakes and ends at once.
func TestAnalysisRunRunner(t *testing.T) {
	e := newVerifyEnv(t)
	web := newWebValue(t, 1, 200)
	rec, err := NewAnalysisRunReconciler(AnalysisRunOptions{Store: e.st, Logger: e.log})
	if err != nil {
		t.Fatal(err)
	}
	runner, err := NewAnalysisRunRunner(e.st, rec, RunnerOptions{Logger: e.log, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { runner.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	phase := func(name string) (rolloutsapi.AnalysisPhase, *rolloutsapi.AnalysisRun) {
		obj, err := e.st.Get(context.Background(), "AnalysisRun", "p", name)
		if err != nil {
			t.Fatal(err)
		}
		run := &rolloutsapi.AnalysisRun{}
		if err := decodeObject(obj, run); err != nil {
			t.Fatal(err)
		}
		return run.Status.Phase, run
	}

	e.create(t, analysisRunDoc("twice", web.srv.URL, "interval: 1s\ncount: 2\nsuccessCondition: result == 1", ""))
	poll(t, "run twice to succeed", func() bool { p, _ := phase("twice"); return p == rolloutsapi.AnalysisPhaseSuccessful })
	if _, run := phase("twice"); run.Status.MetricResults[0].Count != 2 || len(web.requests()) != 2 {
		t.Errorf("count %d, %d calls; want 2 measurements", run.Status.MetricResults[0].Count, len(web.requests()))
	}

	e.create(t, analysisRunDoc("hourly", web.srv.URL, "interval: 1h\ncount: 5\nsuccessCondition: result == 1", ""))
	poll(t, "run hourly to take its first measurement", func() bool {
		p, run := phase("hourly")
		return p == rolloutsapi.AnalysisPhaseRunning && len(run.Status.MetricResults) == 1 && run.Status.MetricResults[0].Count == 1
	})
	obj, err := e.st.Get(context.Background(), "AnalysisRun", "p", "hourly")
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(obj.Object, true, "spec", "terminate"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Update(userCtx("alice"), obj); err != nil {
		t.Fatal(err)
	}
	poll(t, "the terminated run to complete", func() bool { p, _ := phase("hourly"); return p.Completed() })
	if _, run := phase("hourly"); run.Status.Message != "Run Terminated" || run.Status.MetricResults[0].Count != 1 {
		t.Errorf("terminated run: %q after %d measurements; want Run Terminated after 1", run.Status.Message, run.Status.MetricResults[0].Count)
	}
}

// TestAnalysisRunSecrets reads an argument from the project's Secrets each
// time a measurement is taken: a missing Secret ends the run in Error with
// a message naming it; once it exists, the header carries its value, which
// the run never stores.
func TestAnalysisRunSecrets(t *testing.T) {
	const secret = "hdr-s3cr3t-value"
	e := newVerifyEnv(t)
	web := newWebValue(t, 1, 200)
	metric := "successCondition: result == 1"
	spec := `args:
- name: token
  valueFrom: {secretKeyRef: {name: api, key: token}}`
	withHeader := func(name string) string {
		return strings.Replace(analysisRunDoc(name, web.srv.URL, metric, spec),
			`jsonPath: "{$.value}"}`, `jsonPath: "{$.value}", headers: [{key: X-Token, value: "{{args.token}}"}]}`, 1)
	}

	e.create(t, withHeader("no-secret"))
	run := e.runToEnd(t, "no-secret")
	if run.Status.Phase != rolloutsapi.AnalysisPhaseError ||
		!strings.Contains(run.Status.Message, `secret "api" not found in project "p": create it with the key "token"`) {
		t.Errorf("without the Secret: %s %q; want Error naming it", run.Status.Phase, run.Status.Message)
	}

	e.create(t, `apiVersion: v1
kind: Secret
metadata: {name: api, namespace: p}
stringData: {other: x}`)
	e.create(t, withHeader("no-key"))
	if run := e.runToEnd(t, "no-key"); !strings.Contains(run.Status.Message, `secret "api" in project "p" has no key "token"`) {
		t.Errorf("without the key: %q", run.Status.Message)
	}

	obj, err := e.st.Get(context.Background(), "Secret", "p", "api")
	if err != nil {
		t.Fatal(err)
	}
	obj.Object["stringData"] = map[string]any{"token": secret}
	if _, err := e.st.Update(userCtx("alice"), obj); err != nil {
		t.Fatal(err)
	}
	e.create(t, withHeader("with-secret"))
	run = e.runToEnd(t, "with-secret")
	reqs := web.requests()
	if run.Status.Phase != rolloutsapi.AnalysisPhaseSuccessful || reqs[len(reqs)-1].Header.Get("X-Token") != secret {
		t.Errorf("with the Secret: %s %q; want Successful with the header sent", run.Status.Phase, run.Status.Message)
	}
	stored, _ := e.st.Get(context.Background(), "AnalysisRun", "p", "with-secret")
	for what, text := range map[string]string{"run": toJSON(t, stored.Object), "logs": e.logs.String()} {
		if strings.Contains(text, secret) {
			t.Errorf("the secret appears in the %s", what)
		}
	}
}

// TestAnalysisRunStatusWrites: a completed run is left alone; a status
// write over a stale read writes over a status change, but yields to a spec
// change (a Conflict, so the runner measures again over the new spec).
func TestAnalysisRunStatusWrites(t *testing.T) {
	e := newVerifyEnv(t)
	web := newWebValue(t, 1, 200)
	e.create(t, analysisRunDoc("r", web.srv.URL, "interval: 1m\ncount: 3\nsuccessCondition: result == 1", ""))
	key := Key{Namespace: "p", Name: "r"}
	ctx := withLogger(identity.WithActor(context.Background(), identity.Controller), e.log)

	stale, err := e.st.Get(ctx, "AnalysisRun", "p", "r")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.runs.Reconcile(ctx, key); err != nil { // a status write
		t.Fatal(err)
	}
	st := &rolloutsapi.AnalysisRunStatus{Phase: rolloutsapi.AnalysisPhaseRunning, Message: "over a status change"}
	if err := e.runs.writeStatus(ctx, key, stale, st); err != nil {
		t.Fatalf("write over a status change: %v", err)
	}
	_, run := e.run(t, "r")
	if run.Status.Message != "over a status change" {
		t.Errorf("status message = %q", run.Status.Message)
	}

	stale, _ = e.st.Get(ctx, "AnalysisRun", "p", "r")
	obj := stale.DeepCopy()
	_ = unstructured.SetNestedField(obj.Object, true, "spec", "terminate")
	if _, err := e.st.Update(userCtx("alice"), obj); err != nil {
		t.Fatal(err)
	}
	if err := e.runs.writeStatus(ctx, key, stale, st); !apierrors.IsConflict(err) {
		t.Errorf("write over a spec change: %v; want a Conflict", err)
	}

	done := e.runToEnd(t, "r")
	before := e.resourceVersion(t, "r")
	e.clk.Step(time.Hour)
	if res, err := e.runs.Reconcile(ctx, key); err != nil || res.RequeueAfter != 0 {
		t.Errorf("reconcile of a completed run: %+v, %v", res, err)
	}
	if after := e.resourceVersion(t, "r"); after != before || done.Status.Message != "Run Terminated" {
		t.Errorf("a completed run was written (%s → %s), or did not end terminated (%q)", before, after, done.Status.Message)
	}
}

func (e *verifyEnv) resourceVersion(t *testing.T, name string) string {
	t.Helper()
	obj, _ := e.run(t, name)
	return obj.GetResourceVersion()
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStageKeysOfAnalysisRun maps the runs of a Verifier back to their
// Stage, also when the Stage's name is too long for a label's value.
func TestStageKeysOfAnalysisRun(t *testing.T) {
	e := newVerifyEnv(t)
	web := newWebValue(t, 1, 200)
	e.create(t, webTemplate("t", web.srv.URL, "successCondition: result == 1", false))
	long := "a-stage-whose-name-is-far-too-long-for-a-label-value-of-sixty-three-characters"
	for _, name := range []string{"short", long} {
		info, _ := e.verify(t, e.stage(t, name, verificationSpec("t")))
		obj, _ := e.run(t, info.AnalysisRun.Name)
		if l := obj.GetLabels()[kargoapi.LabelKeyStage]; len(l) > 63 {
			t.Errorf("stage label %q is longer than 63 characters", l)
		}
		if keys := StageKeysOfAnalysisRun(obj); len(keys) != 1 || keys[0] != (Key{Namespace: "p", Name: name}) {
			t.Errorf("keys of the run of %s = %v", name, keys)
		}
	}
	if keys := StageKeysOfAnalysisRun(&unstructured.Unstructured{Object: map[string]any{}}); keys != nil {
		t.Errorf("keys of an unlabelled run = %v; want none", keys)
	}
}
