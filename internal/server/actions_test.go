package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/server"
	"github.com/caravan-dev/caravan/internal/store"
)

// actionsEnv applies a project with Warehouse shop, Stage test (direct),
// control-flow Stage gate (from test), Stages uat and qa (from test), prod
// (from uat) and one Freight (alias lucky-cat); it returns the Freight's
// name.
func actionsEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newAdmittedEnv(t)
	steps := "  promotionTemplate:\n    spec:\n      steps:\n      - uses: compose-output\n        config: {a: b}\n"
	stage := func(name, sources string, withSteps bool) string {
		doc := "apiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata: {name: " + name + ", namespace: shop}\n" +
			"spec:\n  requestedFreight:\n  - origin: {kind: Warehouse, name: shop}\n    sources: {" + sources + "}\n"
		if withSteps {
			doc += steps
		}
		return doc
	}
	docs := []string{
		"apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata: {name: shop}\n",
		"apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: shop, namespace: shop}\n" +
			"spec:\n  subscriptions:\n  - image: {repoURL: registry.example.com/shop}\n",
		stage("test", "direct: true", true),
		stage("gate", "stages: [test]", false),
		stage("uat", "stages: [test]", true),
		stage("qa", "stages: [test], requiredSoakTime: 1h", true),
		stage("prod", "stages: [uat]", true),
		"apiVersion: kargo.akuity.io/v1alpha1\nkind: Freight\nmetadata: {name: x, namespace: shop}\nalias: lucky-cat\n" +
			"origin: {kind: Warehouse, name: shop}\nimages:\n- {repoURL: registry.example.com/shop, tag: v1, digest: 'sha256:" +
			strings.Repeat("1", 64) + "'}\n",
	}
	for _, r := range e.apply(strings.Join(docs, "\n---\n")) {
		if r.Status != nil {
			t.Fatalf("apply %s/%s: %s", r.Kind, r.Name, r.Status.Message)
		}
	}
	list, err := e.store.List(context.Background(), "Freight", "shop", store.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("freight: %v %v", list, err)
	}
	return e, list.Items[0].GetName()
}

func (e *env) events(t *testing.T, reason string) []unstructured.Unstructured {
	t.Helper()
	list, err := e.store.List(context.Background(), "Event", "shop", store.ListOptions{})
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

func TestApproveAction(t *testing.T) {
	e, freight := actionsEnv(t)
	path := kargo + "/namespaces/shop/freights/lucky-cat/approve"

	got := e.must(http.StatusOK, "POST", path, `{"stage": "uat"}`).object(t)
	if _, ok, _ := unstructured.NestedMap(got.Object, "status", "approvedFor", "uat"); !ok {
		t.Fatalf("approvedFor: %v", got.Object["status"])
	}
	evs := e.events(t, server.EventReasonFreightApproved)
	if len(evs) != 1 {
		t.Fatalf("%d FreightApproved events, want 1", len(evs))
	}
	ann := evs[0].GetAnnotations()
	if ann["event.kargo.akuity.io/actor"] != "admin" || ann["event.kargo.akuity.io/stage-name"] != "uat" ||
		ann["event.kargo.akuity.io/freight-name"] != freight || ann["event.kargo.akuity.io/freight-alias"] != "lucky-cat" {
		t.Errorf("event annotations %v", ann)
	}
	if msg, _, _ := unstructured.NestedString(evs[0].Object, "message"); msg != `Freight approved for Stage "uat" by "admin"` {
		t.Errorf("event message %q", msg)
	}

	// Approving again changes nothing and emits nothing.
	e.must(http.StatusOK, "POST", kargo+"/namespaces/shop/freights/"+freight+"/approve", `{"stage": "uat"}`)
	if n := len(e.events(t, server.EventReasonFreightApproved)); n != 1 {
		t.Errorf("%d events after a repeated approval", n)
	}

	for _, tc := range []struct {
		path, body string
		code       int
		msg        string
	}{
		{path, `{"stage": "nope"}`, http.StatusNotFound, `Stage "nope" does not exist in project "shop"`},
		{kargo + "/namespaces/shop/freights/no-such/approve", `{"stage": "uat"}`, http.StatusNotFound, `no Freight named or aliased "no-such"`},
		{path, `{}`, http.StatusBadRequest, `stage is missing or empty: the body of approve is {"stage": "<name>"}`},
		{path, `{"stage": "uat", "x": 1}`, http.StatusBadRequest, `unknown field "x"`},
	} {
		r := e.do("POST", tc.path, tc.body)
		if r.code != tc.code || !strings.Contains(r.status(t).Message, tc.msg) {
			t.Errorf("POST %s %s: %d %s, want %d %q", tc.path, tc.body, r.code, r.body, tc.code, tc.msg)
		}
	}
	r := e.do("GET", path, "")
	if r.code != http.StatusMethodNotAllowed {
		t.Errorf("GET of an action: %d", r.code)
	}
}

func TestPromoteDownstreamAction(t *testing.T) {
	e, freight := actionsEnv(t)
	path := kargo + "/namespaces/shop/stages/test/promote-downstream"

	r := e.do("POST", path, `{"freight": "lucky-cat"}`)
	if r.code != http.StatusUnprocessableEntity || !strings.Contains(r.status(t).Message, `is not verified in Stage "test"`) {
		t.Fatalf("unverified freight: %d %s", r.code, r.body)
	}

	// Verify the Freight in test, as the Stage controller would.
	f, err := e.store.Get(context.Background(), "Freight", "shop", freight)
	if err != nil {
		t.Fatal(err)
	}
	f.Object["status"] = map[string]any{"verifiedIn": map[string]any{"test": map[string]any{}}}
	if _, err := e.store.UpdateStatus(context.Background(), f); err != nil {
		t.Fatal(err)
	}

	var res server.PromoteDownstreamResult
	if err := json.Unmarshal(e.must(http.StatusOK, "POST", path, `{"freight": "lucky-cat"}`).body, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Promotions) != 1 {
		t.Fatalf("promotions %v, want one into uat", res.Promotions)
	}
	p := unstructured.Unstructured{Object: res.Promotions[0]}
	if stage, _, _ := unstructured.NestedString(p.Object, "spec", "stage"); stage != "uat" || p.GetAnnotations()["kargo.akuity.io/create-actor"] != "admin" {
		t.Errorf("promotion %s into %q by %q", p.GetName(), stage, p.GetAnnotations()["kargo.akuity.io/create-actor"])
	}
	skipped := map[string]string{}
	for _, s := range res.Skipped {
		skipped[s.Stage] = s.Reason
	}
	if !strings.Contains(skipped["gate"], "control-flow") || !strings.Contains(skipped["qa"], `soaking in "test"`) &&
		!strings.Contains(skipped["qa"], `never in use there`) || len(skipped) != 2 {
		t.Errorf("skipped %v", skipped)
	}
	if n := len(e.events(t, server.EventReasonPromotionCreated)); n != 1 {
		t.Errorf("%d PromotionCreated events, want 1", n)
	}

	// prod is downstream of uat only.
	r = e.do("POST", kargo+"/namespaces/shop/stages/prod/promote-downstream", `{"freight": "lucky-cat"}`)
	if r.code != http.StatusUnprocessableEntity {
		t.Errorf("from prod: %d %s", r.code, r.body)
	}
}
