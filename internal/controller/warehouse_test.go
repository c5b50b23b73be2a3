package controller

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/admission"
	"github.com/caravan-dev/caravan/internal/credentials"
	"github.com/caravan-dev/caravan/internal/discovery/chart"
	"github.com/caravan-dev/caravan/internal/discovery/git"
	"github.com/caravan-dev/caravan/internal/discovery/image"
	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/retry"
	"github.com/caravan-dev/caravan/internal/store"
	"github.com/caravan-dev/caravan/internal/testserver"
)

// warehouseEnv is a real store behind admission, real discoverers and a
// reconciler on a fake clock.
type warehouseEnv struct {
	db  store.Store // the SQLite store, under admission
	st  store.Store // the admission-wrapped store the reconciler uses
	clk *testingclock.FakeClock
	rec *WarehouseReconciler
}

func newWarehouseEnv(t *testing.T) *warehouseEnv {
	t.Helper()
	db := openStore(t)
	st := admission.New(db, admission.Options{})
	quiet := slog.New(slog.DiscardHandler)
	mirrors, err := git.NewMirrors(t.TempDir(), git.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	e := &warehouseEnv{db: db, st: st, clk: testingclock.NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	e.rec, err = NewWarehouseReconciler(WarehouseOptions{
		Store:       st,
		Git:         mirrors,
		Images:      image.NewDiscoverer(image.Options{Logger: quiet}),
		Charts:      chart.NewDiscoverer(chart.Options{Logger: quiet}),
		Credentials: credentials.New(st, credentials.Options{Logger: quiet}),
		Clock:       e.clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, "apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata:\n  name: p\n")
	return e
}

// ctxActor is the context a Runner gives Reconcile: the controller actor
// and a logger (here a silent one).
func ctxActor() context.Context {
	return withLogger(identity.WithActor(context.Background(), identity.Controller), slog.New(slog.DiscardHandler))
}

// apply creates the object of a YAML manifest through admission.
func (e *warehouseEnv) apply(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("parse manifest: %v\n%s", err, doc)
	}
	return mustCreate(t, e.st, u)
}

func (e *warehouseEnv) reconcile(t *testing.T, name string) (Result, error) {
	t.Helper()
	return e.rec.Reconcile(ctxActor(), Key{Namespace: "p", Name: name})
}

func (e *warehouseEnv) warehouse(t *testing.T, name string) (*unstructured.Unstructured, *kargoapi.Warehouse) {
	t.Helper()
	u, err := e.st.Get(context.Background(), "Warehouse", "p", name)
	if err != nil {
		t.Fatal(err)
	}
	w := &kargoapi.Warehouse{}
	if err := decodeObject(u, w); err != nil {
		t.Fatal(err)
	}
	return u, w
}

// freight lists the Freight of Warehouse origin.
func (e *warehouseEnv) freight(t *testing.T, origin string) []kargoapi.Freight {
	t.Helper()
	list, err := e.st.List(context.Background(), "Freight", "p", store.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("origin.name", origin),
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]kargoapi.Freight, len(list.Items))
	for i := range list.Items {
		if err := decodeObject(&list.Items[i], &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func condition(t *testing.T, w *kargoapi.Warehouse, typ string) *metav1.Condition {
	t.Helper()
	return meta.FindStatusCondition(w.Status.Conditions, typ)
}

func wantCondition(t *testing.T, w *kargoapi.Warehouse, typ string, status metav1.ConditionStatus, reason string, msgParts ...string) {
	t.Helper()
	c := condition(t, w, typ)
	if c == nil {
		t.Fatalf("warehouse %s has no %s condition: %+v", w.Name, typ, w.Status.Conditions)
	}
	if c.Status != status || c.Reason != reason {
		t.Errorf("warehouse %s: %s is %s/%s (%s), want %s/%s", w.Name, typ, c.Status, c.Reason, c.Message, status, reason)
	}
	for _, part := range msgParts {
		if !strings.Contains(c.Message, part) {
			t.Errorf("warehouse %s: %s message %q does not say %q", w.Name, typ, c.Message, part)
		}
	}
	if c.ObservedGeneration != w.Generation {
		t.Errorf("warehouse %s: %s observedGeneration %d, want %d", w.Name, typ, c.ObservedGeneration, w.Generation)
	}
}

func setRefresh(t *testing.T, e *warehouseEnv, name, token string) {
	t.Helper()
	u, _ := e.warehouse(t, name)
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[kargoapi.AnnotationKeyRefresh] = token
	u.SetAnnotations(ann)
	if _, err := e.st.Update(context.Background(), u); err != nil {
		t.Fatal(err)
	}
}

// TestWarehouseFreight discovers a Git repository, an image in a real
// registry and a classic Helm repository, and checks the Freight, the
// status, the schedule and that the same artifacts never make two Freight.
func TestWarehouseFreight(t *testing.T) {
	e := newWarehouseEnv(t)
	gs := testserver.NewGitServer(t, testserver.GitServerOptions{})
	repo := gs.CreateRepo(t, "app")
	first := repo.Commit(t, testserver.Commit{Message: "Add the app\n\nWith a body.", Files: map[string]string{"app.yaml": "v: 1"},
		Author: "Ann Author <ann@example.com>"})
	repo.Push(t)
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	digest := reg.PushImage(t, "demo/app", "1.0.0", testserver.ImageSpec{Annotations: map[string]string{"org.opencontainers.image.source": "https://example.com/app"}})
	reg.PushImage(t, "demo/app", "0.9.0", testserver.ImageSpec{})
	helm := testserver.NewHelmRepo(t, map[string][]string{"app": {"0.1.0", "0.2.0"}}, testserver.HelmRepoOptions{})

	e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: p}
spec:
  interval: 10m
  subscriptions:
  - name: src
    git: {repoURL: `+repo.URL+`, branch: main}
  - image: {repoURL: `+reg.Repo("demo/app")+`}
  - chart: {repoURL: `+helm.URL()+`, name: app}
`)
	start := time.Now()
	res, err := e.reconcile(t, "w")
	t.Logf("first discovery of 3 subscriptions: %s", time.Since(start))
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if res.RequeueAfter != 10*time.Minute {
		t.Errorf("RequeueAfter = %s, want the interval 10m", res.RequeueAfter)
	}
	fs := e.freight(t, "w")
	if len(fs) != 1 {
		t.Fatalf("want 1 Freight, got %d", len(fs))
	}
	f := fs[0]
	if f.Name != f.GenerateID() {
		t.Errorf("Freight name %s is not its ID %s", f.Name, f.GenerateID())
	}
	if f.Alias == "" || f.Labels[kargoapi.LabelKeyAlias] != f.Alias {
		t.Errorf("Freight has alias %q and label %q, want a generated alias mirrored to the label", f.Alias, f.Labels[kargoapi.LabelKeyAlias])
	}
	wantCommit := kargoapi.GitCommit{RepoURL: repo.URL, ID: first, Branch: "main", Message: "Add the app",
		Author: "Ann Author <ann@example.com>", Committer: "Caravan Test <test@caravan.invalid>", SubscriptionName: "src"}
	if len(f.Commits) != 1 {
		t.Fatalf("Freight commits = %+v, want one", f.Commits)
	}
	got := f.Commits[0]
	if got.RepoURL != wantCommit.RepoURL || got.ID != wantCommit.ID || got.Branch != wantCommit.Branch ||
		got.Message != wantCommit.Message || got.SubscriptionName != wantCommit.SubscriptionName ||
		!strings.Contains(got.Author, "Ann Author") {
		t.Errorf("Freight commit = %+v, want %+v", got, wantCommit)
	}
	if len(f.Images) != 1 || f.Images[0].Tag != "1.0.0" || f.Images[0].Digest != digest ||
		f.Images[0].RepoURL != reg.Repo("demo/app") || f.Images[0].Annotations["org.opencontainers.image.source"] != "https://example.com/app" {
		t.Errorf("Freight images = %+v, want tag 1.0.0 digest %s with its annotations", f.Images, digest)
	}
	if len(f.Charts) != 1 || f.Charts[0].Version != "0.2.0" || f.Charts[0].Name != "app" {
		t.Errorf("Freight charts = %+v, want app 0.2.0", f.Charts)
	}
	if f.Origin != (kargoapi.FreightOrigin{Kind: kargoapi.FreightOriginKindWarehouse, Name: "w"}) {
		t.Errorf("Freight origin = %+v", f.Origin)
	}
	if got, want := f.Annotations[AnnotationKeyDiscoveredAt], e.clk.Now().Format(time.RFC3339); got != want {
		t.Errorf("Freight %s annotation = %q, want %q", AnnotationKeyDiscoveredAt, got, want)
	}

	u, w := e.warehouse(t, "w")
	if w.Status.LastFreightID != f.Name || w.Status.ObservedGeneration != w.Generation {
		t.Errorf("status lastFreightID %q observedGeneration %d, want %q and %d", w.Status.LastFreightID, w.Status.ObservedGeneration, f.Name, w.Generation)
	}
	da := w.Status.DiscoveredArtifacts
	if da == nil || !da.DiscoveredAt.Time.Equal(e.clk.Now()) || len(da.Git) != 1 || len(da.Images) != 1 || len(da.Charts) != 1 {
		t.Fatalf("status.discoveredArtifacts = %+v, want one result per subscription discovered at %s", da, e.clk.Now())
	}
	if da.Images[0].References[0].Tag != "1.0.0" || len(da.Images[0].References) != 2 || da.Charts[0].Versions[0] != "0.2.0" {
		t.Errorf("discovered images %+v, charts %+v: want newest first", da.Images[0].References, da.Charts[0].Versions)
	}
	wantCondition(t, w, ConditionReady, metav1.ConditionTrue, ReasonArtifactsDiscovered, "3 subscriptions")
	wantCondition(t, w, ConditionFreightCreated, metav1.ConditionTrue, ReasonNewFreight, f.Name, f.Alias)
	for _, typ := range []string{ConditionReconciling, ConditionStalled, ConditionDeprecated} {
		if c := condition(t, w, typ); c != nil {
			t.Errorf("unexpected %s condition: %+v", typ, c)
		}
	}

	// Not due: nothing is written, and the rest of the interval is waited.
	e.clk.Step(4 * time.Minute)
	res, err = e.reconcile(t, "w")
	if err != nil || res.RequeueAfter != 6*time.Minute {
		t.Errorf("reconcile before the interval: %v, RequeueAfter %s, want nil and 6m", err, res.RequeueAfter)
	}
	if u2, _ := e.warehouse(t, "w"); u2.GetResourceVersion() != u.GetResourceVersion() {
		t.Errorf("a reconcile that was not due wrote the Warehouse")
	}

	// The interval elapsed, nothing changed: the same Freight, not a second.
	e.clk.Step(6 * time.Minute)
	if _, err := e.reconcile(t, "w"); err != nil {
		t.Fatal(err)
	}
	if fs := e.freight(t, "w"); len(fs) != 1 {
		t.Fatalf("same artifacts made %d Freight, want 1", len(fs))
	}
	_, w = e.warehouse(t, "w")
	wantCondition(t, w, ConditionFreightCreated, metav1.ConditionFalse, ReasonAlreadyExists, f.Name)
	if w.Status.LastFreightID != f.Name {
		t.Errorf("lastFreightID = %q, want %q", w.Status.LastFreightID, f.Name)
	}

	// A new commit and a refresh: discovered at once, new Freight.
	second := repo.Commit(t, testserver.Commit{Message: "Second", Files: map[string]string{"app.yaml": "v: 2"}})
	repo.Push(t)
	setRefresh(t, e, "w", "token-1")
	e.clk.Step(time.Second)
	if _, err := e.reconcile(t, "w"); err != nil {
		t.Fatal(err)
	}
	_, w = e.warehouse(t, "w")
	if w.Status.LastHandledRefresh != "token-1" {
		t.Errorf("lastHandledRefresh = %q, want token-1", w.Status.LastHandledRefresh)
	}
	fs = e.freight(t, "w")
	if len(fs) != 2 {
		t.Fatalf("want 2 Freight after a new commit, got %d", len(fs))
	}
	if !slices.ContainsFunc(fs, func(f kargoapi.Freight) bool { return f.Name == w.Status.LastFreightID && f.Commits[0].ID == second }) {
		t.Errorf("lastFreightID %s is not the Freight of commit %s", w.Status.LastFreightID, second)
	}
}

// TestWarehouseNoFreight: the Manual policy and criteria that do not hold
// make no Freight, with Ready true and the reason in a condition; the
// deprecated allowTags gets a warning condition; a subscription that
// matches nothing makes no Freight and says so.
func TestWarehouseNoFreight(t *testing.T) {
	e := newWarehouseEnv(t)
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	reg.PushImage(t, "demo/app", "1.0.0", testserver.ImageSpec{})
	img := reg.Repo("demo/app")

	e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: manual, namespace: p}
spec:
  freightCreationPolicy: Manual
  subscriptions:
  - image: {repoURL: `+img+`}
`)
	e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: criteria, namespace: p}
spec:
  freightCreationCriteria:
    expression: imageFrom("`+img+`").Tag == "2.0.0"
  subscriptions:
  - image: {repoURL: `+img+`, allowTags: "^1[.]"}
`)
	e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: nomatch, namespace: p}
spec:
  subscriptions:
  - image: {repoURL: `+img+`, constraint: "^5.0.0"}
`)
	for _, name := range []string{"manual", "criteria", "nomatch"} {
		if res, err := e.reconcile(t, name); err != nil || res.RequeueAfter != 5*time.Minute {
			t.Errorf("reconcile %s: %v, RequeueAfter %s; want nil and the default interval 5m", name, err, res.RequeueAfter)
		}
		if fs := e.freight(t, name); len(fs) != 0 {
			t.Errorf("warehouse %s made %d Freight, want none", name, len(fs))
		}
	}
	_, w := e.warehouse(t, "manual")
	wantCondition(t, w, ConditionReady, metav1.ConditionTrue, ReasonArtifactsDiscovered, "Manual")
	if c := condition(t, w, ConditionFreightCreated); c != nil {
		t.Errorf("Manual warehouse has a FreightCreated condition: %+v", c)
	}
	if len(w.Status.DiscoveredArtifacts.Images) != 1 {
		t.Errorf("Manual warehouse did not record what it discovered: %+v", w.Status.DiscoveredArtifacts)
	}
	_, w = e.warehouse(t, "criteria")
	wantCondition(t, w, ConditionReady, metav1.ConditionTrue, ReasonArtifactsDiscovered)
	wantCondition(t, w, ConditionFreightCreationCriteriaSatisfied, metav1.ConditionFalse, ReasonCriteriaNotSatisfied, `"2.0.0"`, "no Freight")
	wantCondition(t, w, ConditionDeprecated, metav1.ConditionTrue, ReasonDeprecatedFields, "allowTags", "allowTagsRegexes")
	// Nothing matches the constraint: not ready, but nothing to retry before the interval.
	_, w = e.warehouse(t, "nomatch")
	wantCondition(t, w, ConditionReady, metav1.ConditionFalse, ReasonNoArtifacts, "image subscription "+img)
	if c := condition(t, w, ConditionReconciling); c != nil {
		t.Errorf("a subscription that matches nothing is retried: %+v", c)
	}
	t.Logf("no match: %s", condition(t, w, ConditionReady).Message)
}

// TestWarehouseInvalidSubscription: a constraint that cannot work stalls
// its Warehouse with a message naming the subscription, makes no Freight,
// stops retrying, and leaves another Warehouse of the project unaffected.
func TestWarehouseInvalidSubscription(t *testing.T) {
	e := newWarehouseEnv(t)
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	reg.PushImage(t, "demo/app", "1.0.0", testserver.ImageSpec{})
	img := reg.Repo("demo/app")
	// Digest follows one tag; "^1.0.0" is a semver range, not a tag.
	e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: bad, namespace: p}
spec:
  subscriptions:
  - name: api
    image: {repoURL: `+img+`, imageSelectionStrategy: Digest, constraint: "^1.0.0"}
`)
	e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: good, namespace: p}
spec:
  subscriptions:
  - image: {repoURL: `+img+`}
`)
	res, err := e.reconcile(t, "bad")
	if !retry.IsTerminal(err) {
		t.Fatalf("reconcile of an invalid subscription: %v (RequeueAfter %s), want a terminal error", err, res.RequeueAfter)
	}
	if _, err := e.reconcile(t, "good"); err != nil {
		t.Fatalf("reconcile good: %v", err)
	}
	if fs := e.freight(t, "bad"); len(fs) != 0 {
		t.Errorf("the invalid Warehouse made %d Freight", len(fs))
	}
	if fs := e.freight(t, "good"); len(fs) != 1 {
		t.Errorf("the valid Warehouse made %d Freight, want 1", len(fs))
	}
	_, w := e.warehouse(t, "bad")
	wantCondition(t, w, ConditionStalled, metav1.ConditionTrue, ReasonInvalidSubscription, `"api"`, "^1.0.0", "not a tag")
	wantCondition(t, w, ConditionReady, metav1.ConditionFalse, ReasonInvalidSubscription, `image subscription "api"`)
	_, good := e.warehouse(t, "good")
	wantCondition(t, good, ConditionReady, metav1.ConditionTrue, ReasonArtifactsDiscovered)

	// Stalled: even after the interval, nothing happens until a change.
	e.clk.Step(time.Hour)
	u, _ := e.warehouse(t, "bad")
	if res, err := e.reconcile(t, "bad"); err != nil || res.RequeueAfter != 0 {
		t.Errorf("reconcile of a stalled Warehouse: %v, RequeueAfter %s; want nothing", err, res.RequeueAfter)
	}
	if u2, _ := e.warehouse(t, "bad"); u2.GetResourceVersion() != u.GetResourceVersion() {
		t.Error("a stalled Warehouse was written without a change")
	}
	// A refresh is handled (so `refresh --wait` returns) and fails the same way.
	setRefresh(t, e, "bad", "r1")
	if _, err := e.reconcile(t, "bad"); !retry.IsTerminal(err) {
		t.Errorf("refresh of a stalled Warehouse: %v, want terminal", err)
	}
	_, w = e.warehouse(t, "bad")
	if w.Status.LastHandledRefresh != "r1" {
		t.Errorf("lastHandledRefresh = %q, want r1", w.Status.LastHandledRefresh)
	}
	// Fixing the spec un-stalls it.
	u, _ = e.warehouse(t, "bad")
	subs, _, _ := unstructured.NestedSlice(u.Object, "spec", "subscriptions")
	_ = unstructured.SetNestedField(subs[0].(map[string]any), "1.0.0", "image", "constraint")
	_ = unstructured.SetNestedSlice(u.Object, subs, "spec", "subscriptions")
	if _, err := e.st.Update(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reconcile(t, "bad"); err != nil {
		t.Fatalf("reconcile after the fix: %v", err)
	}
	_, w = e.warehouse(t, "bad")
	wantCondition(t, w, ConditionReady, metav1.ConditionTrue, ReasonArtifactsDiscovered)
	if c := condition(t, w, ConditionStalled); c != nil {
		t.Errorf("still Stalled after the fix: %+v", c)
	}
}

// TestWarehouseWrongPassword: a Git server refuses the project's
// credentials: the condition says authentication failed, the password
// appears nowhere in the status, the failure is retried (not terminal), and
// once the Secret is fixed the retry makes Freight.
func TestWarehouseWrongPassword(t *testing.T) {
	e := newWarehouseEnv(t)
	const user, pass, wrong = "robot", "s3cret-Correct-Horse", "wr0ng-Battery-Staple"
	gs := testserver.NewGitServer(t, testserver.GitServerOptions{Username: user, Password: pass})
	repo := gs.CreateRepo(t, "private")
	repo.Commit(t, testserver.Commit{Message: "init"})
	repo.Push(t)
	b64 := base64.StdEncoding.EncodeToString
	secret := e.apply(t, `apiVersion: v1
kind: Secret
metadata:
  name: git-creds
  namespace: p
  labels: {kargo.akuity.io/cred-type: git}
data:
  repoURL: `+b64([]byte(repo.URL))+`
  username: `+b64([]byte(user))+`
  password: `+b64([]byte(wrong))+`
`)
	e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: p}
spec:
  interval: 2m
  subscriptions:
  - git: {repoURL: `+repo.URL+`}
`)
	res, err := e.reconcile(t, "w")
	if err == nil || retry.IsTerminal(err) {
		t.Fatalf("reconcile with a wrong password: %v, want an error to retry", err)
	}
	if res.RequeueAfter != 2*time.Minute {
		t.Errorf("RequeueAfter = %s, want the interval 2m to cap the backoff", res.RequeueAfter)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("the error shows the password: %v", err)
	}
	u, w := e.warehouse(t, "w")
	wantCondition(t, w, ConditionReady, metav1.ConditionFalse, ReasonDiscoveryFailed, "git subscription "+repo.URL, "authentication", "check the username and password")
	wantCondition(t, w, ConditionReconciling, metav1.ConditionTrue, ReasonRetryingDiscovery)
	raw, _ := json.Marshal(u.Object["status"])
	if strings.Contains(string(raw), wrong) || strings.Contains(string(raw), pass) {
		t.Errorf("the status shows a password: %s", raw)
	}
	if fs := e.freight(t, "w"); len(fs) != 0 {
		t.Errorf("made %d Freight despite failed discovery", len(fs))
	}

	// Fix the Secret; the pending retry succeeds without waiting for the interval.
	_ = unstructured.SetNestedField(secret.Object, b64([]byte(pass)), "data", "password")
	if _, err := e.st.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	e.clk.Step(time.Second)
	if _, err := e.reconcile(t, "w"); err != nil {
		t.Fatalf("retry with the fixed password: %v", err)
	}
	_, w = e.warehouse(t, "w")
	wantCondition(t, w, ConditionReady, metav1.ConditionTrue, ReasonArtifactsDiscovered)
	if c := condition(t, w, ConditionReconciling); c != nil {
		t.Errorf("Reconciling left after success: %+v", c)
	}
	if fs := e.freight(t, "w"); len(fs) != 1 {
		t.Errorf("made %d Freight after the fix, want 1", len(fs))
	}
}

// TestWarehouseRunnerRefresh runs the reconciler in a Runner as the server
// does: a new Warehouse gets Freight on its own, and a refresh after a new
// commit is handled with new Freight. It logs the time from refresh to
// Freight.
func TestWarehouseRunnerRefresh(t *testing.T) {
	e := newWarehouseEnv(t)
	// The runner's delays are real, so is this reconciler's clock.
	rec, err := NewWarehouseReconciler(WarehouseOptions{Store: e.st, Git: e.rec.git, Images: e.rec.images, Charts: e.rec.charts, Credentials: e.rec.creds})
	if err != nil {
		t.Fatal(err)
	}
	gs := testserver.NewGitServer(t, testserver.GitServerOptions{})
	repo := gs.CreateRepo(t, "app")
	repo.Commit(t, testserver.Commit{Message: "one"})
	repo.Push(t)
	runner, err := NewWarehouseRunner(e.st, rec, RunnerOptions{Workers: 2, Logger: slog.New(slog.DiscardHandler)}, kinds.SharedResourcesNamespace)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var m Manager
	m.Add(runner)
	wait := m.Start(ctx)
	t.Cleanup(func() {
		cancel()
		wait()
	})
	e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: p}
spec:
  subscriptions:
  - git: {repoURL: `+repo.URL+`}
`)
	poll(t, "the new Warehouse's first Freight", func() bool { return len(e.freight(t, "w")) == 1 })

	second := repo.Commit(t, testserver.Commit{Message: "two"})
	repo.Push(t)
	start := time.Now()
	setRefresh(t, e, "w", "now")
	poll(t, "the refresh handled with new Freight", func() bool {
		_, w := e.warehouse(t, "w")
		if w.Status.LastHandledRefresh != "now" {
			return false
		}
		return slices.ContainsFunc(e.freight(t, "w"), func(f kargoapi.Freight) bool { return f.Commits[0].ID == second })
	})
	t.Logf("refresh → new Freight listed: %s", time.Since(start))
}

// TestWarehouseUnreachable: a repository that does not exist and a host
// that refuses connections are failures to retry, each named in Ready's
// message; no Freight is made.
func TestWarehouseUnreachable(t *testing.T) {
	e := newWarehouseEnv(t)
	gs := testserver.NewGitServer(t, testserver.GitServerOptions{})
	missing := gs.URL + "/gone.git"
	refused := "http://127.0.0.1:1/app.git"
	e.apply(t, `apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: w, namespace: p}
spec:
  subscriptions:
  - git: {repoURL: `+missing+`}
  - git: {repoURL: `+refused+`}
`)
	_, err := e.reconcile(t, "w")
	if err == nil || retry.IsTerminal(err) {
		t.Fatalf("reconcile of unreachable repositories: %v, want an error to retry", err)
	}
	_, w := e.warehouse(t, "w")
	wantCondition(t, w, ConditionReady, metav1.ConditionFalse, ReasonDiscoveryFailed, missing, refused)
	t.Logf("Ready message: %s", condition(t, w, ConditionReady).Message)
	if fs := e.freight(t, "w"); len(fs) != 0 {
		t.Errorf("made %d Freight", len(fs))
	}
}
