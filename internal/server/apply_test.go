package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/caravan-dev/caravan/internal/apply"
	"github.com/caravan-dev/caravan/internal/server"
	"github.com/caravan-dev/caravan/internal/store"
)

func (e *env) apply(body string) []apply.Result {
	e.t.Helper()
	var resp server.ApplyResponse
	r := e.must(http.StatusOK, http.MethodPost, server.ApplyPath, body)
	if err := json.Unmarshal(r.body, &resp); err != nil {
		e.t.Fatalf("decode apply response %s: %v", r.body, err)
	}
	return resp.Results
}

// actions renders results as "kind/name action" or "kind/name reason".
func actions(rs []apply.Result) string {
	var out []string
	for _, r := range rs {
		what := string(r.Action)
		if r.Status != nil {
			what = string(r.Status.Reason)
		}
		out = append(out, r.Kind+"/"+r.Name+" "+what)
	}
	return strings.Join(out, ", ")
}

func (e *env) get(path string) *unstructured.Unstructured {
	e.t.Helper()
	return e.must(http.StatusOK, http.MethodGet, path, "").object(e.t)
}

const devStage = `
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata:
  name: dev
  namespace: p
  labels:
    team: a
  annotations:
    note: x
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: shop}
    sources: {direct: true}
`

func TestApplyCreatedUnchangedConfigured(t *testing.T) {
	e := newEnv(t)
	if got := actions(e.apply(devStage)); got != "Stage/dev created" {
		t.Fatalf("first apply: %s", got)
	}
	if got := actions(e.apply(devStage)); got != "Stage/dev unchanged" {
		t.Fatalf("second apply: %s", got)
	}
	obj := e.get(stagePath("p", "dev"))
	if v := obj.GetAnnotations()[apply.LastAppliedKeysAnnotation]; v != `{"labels":["team"],"annotations":["note"]}` {
		t.Errorf("applied keys %q", v)
	}

	// Others write: a controller's label, the refresh action, status.
	const mp = "application/merge-patch+json"
	e.must(http.StatusOK, http.MethodPatch, stagePath("p", "dev"),
		`{"metadata":{"labels":{"ctl":"1"},"annotations":{"kargo.akuity.io/refresh":"now"}}}`, "Content-Type", mp)
	e.must(http.StatusOK, http.MethodPatch, stagePath("p", "dev")+"/status", `{"status":{"phase":"Steady"}}`, "Content-Type", mp)
	if got := actions(e.apply(devStage)); got != "Stage/dev unchanged" {
		t.Fatalf("apply after others wrote: %s", got)
	}

	// The manifest drops label team, changes note, adds a label and the spec.
	changed := strings.NewReplacer("team: a", "tier: test", "note: x", "note: z",
		"sources: {direct: true}", "sources: {direct: true}\n  shard: east").Replace(devStage)
	rs := e.apply(changed)
	if got := actions(rs); got != "Stage/dev configured" {
		t.Fatalf("apply of a change: %s", got)
	}
	if rs[0].Namespace != "p" || rs[0].APIVersion != "kargo.akuity.io/v1alpha1" {
		t.Errorf("result %+v", rs[0])
	}
	obj = e.get(stagePath("p", "dev"))
	if l := obj.GetLabels(); len(l) != 2 || l["tier"] != "test" || l["ctl"] != "1" {
		t.Errorf("labels %v: want tier set, team removed, ctl kept", l)
	}
	ann := obj.GetAnnotations()
	if ann["note"] != "z" || ann["kargo.akuity.io/refresh"] != "now" || ann[apply.LastAppliedKeysAnnotation] != `{"labels":["tier"],"annotations":["note"]}` {
		t.Errorf("annotations %v", ann)
	}
	if shard, _, _ := unstructured.NestedString(obj.Object, "spec", "shard"); shard != "east" {
		t.Errorf("spec %v", obj.Object["spec"])
	}
	if phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase"); phase != "Steady" {
		t.Errorf("status not kept: %v", obj.Object["status"])
	}
	if obj.GetGeneration() != 2 {
		t.Errorf("generation %d, want 2", obj.GetGeneration())
	}

	// A manifest with no labels or annotations removes every applied key.
	bare := "apiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata: {name: dev, namespace: p}\nspec: {shard: east}\n"
	if got := actions(e.apply(bare)); got != "Stage/dev configured" {
		t.Fatalf("bare apply: %s", got)
	}
	obj = e.get(stagePath("p", "dev"))
	if l := obj.GetLabels(); len(l) != 1 || l["ctl"] != "1" {
		t.Errorf("labels %v, want only ctl", l)
	}
	if ann := obj.GetAnnotations(); len(ann) != 1 || ann["kargo.akuity.io/refresh"] != "now" {
		t.Errorf("annotations %v, want only the refresh", ann)
	}
}

// recordingStore records the order of creates.
type recordingStore struct {
	store.Store
	mu      sync.Mutex
	created []string
}

func (s *recordingStore) Create(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	s.mu.Lock()
	s.created = append(s.created, obj.GetKind()+"/"+obj.GetName())
	s.mu.Unlock()
	return s.Store.Create(ctx, obj)
}

func TestApplyOrderAndFailures(t *testing.T) {
	var rec *recordingStore
	e := newEnv(t, func(o *server.Options) { rec = &recordingStore{Store: o.Store}; o.Store = rec })
	body := devStage + `---
apiVersion: kargo.akuity.io/v1alpha1
kind: Widget
metadata: {name: w, namespace: p}
---
# a comment-only document is skipped
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata:
  name: p
  namespace: ignored-for-cluster-scoped-kinds
---
kind: Stage
metadata: {name: nons}
---
this: is: not yaml
---
apiVersion: kargo.akuity.io/v1beta1
kind: Stage
metadata: {name: wrongversion, namespace: p}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: uat, namespace: p}
spec: {}
`
	rs := e.apply(body)
	want := "Stage/dev created, Widget/w BadRequest, Project/p created, Stage/nons Invalid, / BadRequest, Stage/wrongversion BadRequest, Stage/uat created"
	if got := actions(rs); got != want {
		t.Fatalf("results:\n got %s\nwant %s", got, want)
	}
	if rs[2].Namespace != "" {
		t.Errorf("Project result namespace %q", rs[2].Namespace)
	}
	if !strings.Contains(rs[3].Status.Message, "metadata.namespace") || rs[3].Status.Code != 422 {
		t.Errorf("no-namespace status %+v", rs[3].Status)
	}
	if !strings.Contains(rs[4].Status.Message, "document 6") {
		t.Errorf("undecodable document status %+v", rs[4].Status)
	}
	if got := strings.Join(rec.created, " "); got != "Project/p Stage/dev Stage/uat" {
		t.Errorf("creates in order %s, want the Project first", got)
	}
	// A failed document changed nothing.
	e.must(http.StatusNotFound, http.MethodGet, stagePath("p", "wrongversion"), "")
}

func TestApplyFormats(t *testing.T) {
	e := newEnv(t)
	arr := `[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"p"}},
	         {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b","namespace":"p"}}]`
	if got := actions(e.apply(arr)); got != "ConfigMap/a created, ConfigMap/b created" {
		t.Errorf("JSON array: %s", got)
	}
	list := `{"apiVersion":"v1","kind":"List","items":[
	  {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"p"},"data":{"k":"v"}},
	  {"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"p"},"stringData":{"k":"v"}}]}`
	if got := actions(e.apply(list)); got != "ConfigMap/a configured, Secret/s created" {
		t.Errorf("List: %s", got)
	}
	yamlList := "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a, namespace: p}\n  data: {k: v}\n"
	if got := actions(e.apply(yamlList)); got != "ConfigMap/a unchanged" {
		t.Errorf("YAML List: %s", got)
	}
	if got := actions(e.apply("\n# nothing\n")); got != "" {
		t.Errorf("empty body: %s", got)
	}
	gen := "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: gen-, namespace: p}\n"
	rs := e.apply(gen)
	if len(rs) != 1 || rs[0].Action != apply.Created || !strings.HasPrefix(rs[0].Name, "gen-") || len(rs[0].Name) != 9 {
		t.Errorf("generateName: %+v", rs)
	}
}

const shopFreightID = "654b709cc65ce1ab45cb6409ff551c110a354d97" // Kargo's golden vector

func freightDoc(name, tag, alias string) string {
	digest := "sha256:" + strings.Repeat("0", 63) + "1"
	if tag != "1.2.0" {
		digest = "sha256:" + strings.Repeat("0", 63) + "9"
	}
	d := "apiVersion: kargo.akuity.io/v1alpha1\nkind: Freight\nmetadata:\n  namespace: p\n"
	if name != "" {
		d += "  name: " + name + "\n"
	}
	d += "origin: {kind: Warehouse, name: shop}\nimages:\n- repoURL: registry.example.com/team/shop\n  tag: " + tag + "\n  digest: " + digest + "\n"
	if alias != "" {
		d += "alias: " + alias + "\n"
	}
	return d
}

func TestApplyFreight(t *testing.T) {
	e := newEnv(t)
	freightPath := kargo + "/namespaces/p/freights/"
	if got := actions(e.apply(freightDoc(shopFreightID, "1.2.0", "happy-hippo"))); got != "Freight/"+shopFreightID+" created" {
		t.Fatalf("named by its ID: %s", got)
	}
	if got := actions(e.apply(freightDoc(shopFreightID, "1.2.0", "happy-hippo"))); got != "Freight/"+shopFreightID+" unchanged" {
		t.Fatalf("again: %s", got)
	}
	// An omitted alias keeps the stored one.
	if got := actions(e.apply(freightDoc(shopFreightID, "1.2.0", ""))); got != "Freight/"+shopFreightID+" unchanged" {
		t.Fatalf("without alias: %s", got)
	}
	if a, _, _ := unstructured.NestedString(e.get(freightPath+shopFreightID).Object, "alias"); a != "happy-hippo" {
		t.Errorf("alias %q, want happy-hippo kept", a)
	}
	if got := actions(e.apply(freightDoc(shopFreightID, "1.2.0", "sad-seal"))); got != "Freight/"+shopFreightID+" configured" {
		t.Fatalf("new alias: %s", got)
	}
	// Named otherwise, or unnamed: a create of the computed ID.
	for _, name := range []string{"", "my-freight"} {
		rs := e.apply(freightDoc(name, "1.2.0", ""))
		if len(rs) != 1 || rs[0].Status == nil || rs[0].Status.Reason != metav1.StatusReasonAlreadyExists ||
			!strings.Contains(rs[0].Status.Message, shopFreightID) {
			t.Errorf("name %q of existing Freight: %+v", name, rs)
		}
	}
	rs := e.apply(freightDoc("my-freight", "1.3.0", ""))
	if len(rs) != 1 || rs[0].Action != apply.Created || len(rs[0].Name) != 40 || rs[0].Name == shopFreightID {
		t.Fatalf("new Freight named otherwise: %+v", rs)
	}
	e.must(http.StatusOK, http.MethodGet, freightPath+rs[0].Name, "")
	e.must(http.StatusNotFound, http.MethodGet, freightPath+"my-freight", "")
}

// conflictStore fails the first Update with a Conflict, as a concurrent
// writer would.
type conflictStore struct {
	store.Store
	mu     sync.Mutex
	failed bool
}

func (s *conflictStore) Update(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	s.mu.Lock()
	fail := !s.failed
	s.failed = true
	s.mu.Unlock()
	if fail {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: "kargo.akuity.io", Resource: "stages"}, obj.GetName(), nil)
	}
	return s.Store.Update(ctx, obj)
}

func TestApplyRetriesConflicts(t *testing.T) {
	var cs *conflictStore
	e := newEnv(t, func(o *server.Options) { cs = &conflictStore{Store: o.Store}; o.Store = cs })
	e.apply(devStage)
	if got := actions(e.apply(strings.Replace(devStage, "note: x", "note: z", 1))); got != "Stage/dev configured" {
		t.Fatalf("apply with a conflict: %s", got)
	}
	if !cs.failed {
		t.Error("no conflict was injected")
	}
}

// defaultingStore defaults spec.interval, standing in for admission's
// defaulting.
type defaultingStore struct{ store.Store }

func withInterval(obj *unstructured.Unstructured) *unstructured.Unstructured {
	obj = obj.DeepCopy()
	if _, ok, _ := unstructured.NestedString(obj.Object, "spec", "interval"); !ok {
		_ = unstructured.SetNestedField(obj.Object, "5m0s", "spec", "interval")
	}
	return obj
}

func (s defaultingStore) Create(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return s.Store.Create(ctx, withInterval(obj))
}

func (s defaultingStore) Update(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	return s.Store.Update(ctx, withInterval(obj))
}

func TestApplyUnchangedAfterDefaulting(t *testing.T) {
	e := newEnv(t, func(o *server.Options) { o.Store = defaultingStore{o.Store} })
	wh := "apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: shop, namespace: p}\nspec:\n  subscriptions: []\n"
	if got := actions(e.apply(wh)); got != "Warehouse/shop created" {
		t.Fatal(got)
	}
	if got := actions(e.apply(wh)); got != "Warehouse/shop unchanged" {
		t.Errorf("re-apply of a manifest that relies on a default: %s", got)
	}
	if got := actions(e.apply(strings.Replace(wh, "subscriptions: []", "interval: 1m0s", 1))); got != "Warehouse/shop configured" {
		t.Errorf("changed interval: %s", got)
	}
}
