package storetest

import (
	"reflect"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/store"
)

func testCreateGet(t *testing.T, s store.Store) {
	in := withLabels(stage("p1", "uat"), "app", "shop")
	in.Object["status"] = map[string]any{"phase": "Steady"}
	before := time.Now().Add(-2 * time.Second)
	out := mustCreate(t, s, in)
	if out.GetUID() == "" {
		t.Error("uid not set")
	}
	if ts := out.GetCreationTimestamp(); ts.Time.Before(before) || ts.Time.After(time.Now().Add(2*time.Second)) {
		t.Errorf("creationTimestamp = %v, want about now", ts)
	}
	if out.GetResourceVersion() == "" {
		t.Error("resourceVersion not set")
	}
	if g := out.GetGeneration(); g != 1 {
		t.Errorf("generation = %d, want 1", g)
	}
	if _, ok := out.Object["status"]; ok {
		t.Errorf("create kept status %v; status is written only through UpdateStatus", out.Object["status"])
	}
	if out.GetAPIVersion() != kargo || out.GetKind() != "Stage" || key(out) != "p1/uat" {
		t.Errorf("identity = %s %s %s", out.GetAPIVersion(), out.GetKind(), key(out))
	}
	if !reflect.DeepEqual(out.Object["spec"], in.Object["spec"]) {
		t.Errorf("spec = %s, want %s", jsonOf(out.Object["spec"]), jsonOf(in.Object["spec"]))
	}
	if out.GetLabels()["app"] != "shop" {
		t.Errorf("labels = %v", out.GetLabels())
	}
	got := mustGet(t, s, "Stage", "p1", "uat")
	if !reflect.DeepEqual(got.Object, out.Object) {
		t.Errorf("get = %s\nwant the created %s", jsonOf(got.Object), jsonOf(out.Object))
	}
	p := mustCreate(t, s, project("p1"))
	if p.GetNamespace() != "" || p.GetName() != "p1" {
		t.Errorf("project key = %q", key(p))
	}
	if _, err := s.Get(ctx(t), "Project", "", "p1"); err != nil {
		t.Errorf("get project: %v", err)
	}
	u1, u2 := mustCreate(t, s, stage("p1", "prod")).GetUID(), mustCreate(t, s, stage("p2", "prod")).GetUID()
	if u1 == u2 || u1 == out.GetUID() {
		t.Errorf("uids not unique: %s %s %s", out.GetUID(), u1, u2)
	}
}

func testCreateAlreadyExists(t *testing.T, s store.Store) {
	mustCreate(t, s, stage("p1", "uat"))
	_, err := s.Create(ctx(t), stage("p1", "uat"))
	wantErr(t, "second create", err, apierrors.IsAlreadyExists, `stages.kargo.akuity.io "uat" already exists`)
	mustCreate(t, s, stage("p2", "uat")) // another namespace is another key
	mustCreate(t, s, secret("p1", "uat"))
	_, err = s.Create(ctx(t), secret("p1", "uat"))
	wantErr(t, "second secret", err, apierrors.IsAlreadyExists, `secrets "uat" already exists`)
}

func testGetNotFound(t *testing.T, s store.Store) {
	_, err := s.Get(ctx(t), "Stage", "p1", "uat")
	wantErr(t, "get stage", err, apierrors.IsNotFound, `stages.kargo.akuity.io "uat" not found`)
	_, err = s.Get(ctx(t), "Secret", "p1", "creds")
	wantErr(t, "get secret", err, apierrors.IsNotFound, `secrets "creds" not found`)
	_, err = s.Get(ctx(t), "Project", "", "p9")
	wantErr(t, "get project", err, apierrors.IsNotFound, `projects.kargo.akuity.io "p9" not found`)
	mustCreate(t, s, stage("p1", "uat"))
	_, err = s.Get(ctx(t), "Stage", "p2", "uat")
	wantErr(t, "get in other namespace", err, apierrors.IsNotFound, "")
}

func testUpdateDeleteNotFound(t *testing.T, s store.Store) {
	_, err := s.Update(ctx(t), stage("p1", "uat"))
	wantErr(t, "update", err, apierrors.IsNotFound, `stages.kargo.akuity.io "uat" not found`)
	_, err = s.UpdateStatus(ctx(t), stage("p1", "uat"))
	wantErr(t, "update status", err, apierrors.IsNotFound, "")
	err = s.Delete(ctx(t), "Stage", "p1", "uat", store.DeleteOptions{})
	wantErr(t, "delete", err, apierrors.IsNotFound, `stages.kargo.akuity.io "uat" not found`)
}

func testGenerateName(t *testing.T, s store.Store) {
	in := stage("p1", "")
	in.SetGenerateName("uat-")
	a, b := mustCreate(t, s, in), mustCreate(t, s, in)
	if a.GetName() == b.GetName() || len(a.GetName()) <= len("uat-") || a.GetName()[:4] != "uat-" {
		t.Errorf("generated names %q %q", a.GetName(), b.GetName())
	}
	_, err := s.Create(ctx(t), stage("p1", ""))
	wantErr(t, "create without name", err, apierrors.IsInvalid, "")
}

func testGenerationSpec(t *testing.T, s store.Store) {
	cur := mustCreate(t, s, stage("p1", "uat"))
	rv := cur.GetResourceVersion()
	cur.SetLabels(map[string]string{"team": "a"})
	cur.SetAnnotations(map[string]string{"kargo.akuity.io/refresh": "1"})
	cur = mustUpdate(t, s, cur)
	if cur.GetGeneration() != 1 {
		t.Errorf("generation after a metadata change = %d, want 1", cur.GetGeneration())
	}
	if cur.GetResourceVersion() == rv {
		t.Error("resourceVersion unchanged by an update")
	}
	if err := unstructured.SetNestedField(cur.Object, "Auto", "spec", "promotionTemplate"); err != nil {
		t.Fatal(err)
	}
	cur = mustUpdate(t, s, cur)
	if cur.GetGeneration() != 2 {
		t.Errorf("generation after a spec change = %d, want 2", cur.GetGeneration())
	}
	cur.Object["status"] = map[string]any{"phase": "Promoting"}
	cur, err := s.UpdateStatus(ctx(t), cur)
	if err != nil {
		t.Fatal(err)
	}
	if cur.GetGeneration() != 2 {
		t.Errorf("generation after a status change = %d, want 2", cur.GetGeneration())
	}
	cur.SetGeneration(40) // the server owns generation
	cur = mustUpdate(t, s, cur)
	if cur.GetGeneration() != 2 {
		t.Errorf("generation after a client set it = %d, want 2", cur.GetGeneration())
	}
	if got := mustGet(t, s, "Stage", "p1", "uat").GetGeneration(); got != 2 {
		t.Errorf("stored generation = %d, want 2", got)
	}
}

func testGenerationTopLevel(t *testing.T, s store.Store) {
	cur := mustCreate(t, s, freight("p1", "f1", "tidy-fox", "w"))
	if cur.GetGeneration() != 1 {
		t.Fatalf("generation = %d, want 1", cur.GetGeneration())
	}
	cur.SetLabels(map[string]string{"kargo.akuity.io/alias": "tidy-fox"})
	cur = mustUpdate(t, s, cur)
	if cur.GetGeneration() != 1 {
		t.Errorf("generation after a label change = %d, want 1", cur.GetGeneration())
	}
	cur.Object["alias"] = "brave-owl"
	cur = mustUpdate(t, s, cur)
	if cur.GetGeneration() != 2 {
		t.Errorf("generation after a top-level change = %d, want 2", cur.GetGeneration())
	}
	cur.Object["status"] = map[string]any{"verifiedIn": map[string]any{"uat": map[string]any{}}}
	cur, err := s.UpdateStatus(ctx(t), cur)
	if err != nil {
		t.Fatal(err)
	}
	if cur.GetGeneration() != 2 {
		t.Errorf("generation after a status change = %d, want 2", cur.GetGeneration())
	}
}

func testGenerationNone(t *testing.T, s store.Store) {
	for _, u := range []*unstructured.Unstructured{
		secret("p1", "creds"),
		object("v1", "ConfigMap", "p1", "cfg", map[string]any{"data": map[string]any{"a": "1"}}),
		object("v1", "Event", "p1", "ev", map[string]any{"reason": "Promoted", "message": "m"}),
	} {
		cur := mustCreate(t, s, u)
		if g := cur.GetGeneration(); g != 0 {
			t.Errorf("%s generation = %d, want none", u.GetKind(), g)
		}
		if u.GetKind() == "Event" {
			cur.Object["message"] = "m2"
		} else {
			cur.Object["data"] = map[string]any{"b": "Mg=="}
		}
		if g := mustUpdate(t, s, cur).GetGeneration(); g != 0 {
			t.Errorf("%s generation after update = %d, want none", u.GetKind(), g)
		}
	}
	cur := mustGet(t, s, "Secret", "p1", "creds")
	if d, _, _ := unstructured.NestedStringMap(cur.Object, "data"); d["b"] != "Mg==" || len(d) != 1 {
		t.Errorf("secret data = %v, want the update's", d)
	}
}

func testNoOpUpdate(t *testing.T, s store.Store) {
	cur := mustCreate(t, s, stage("p1", "uat"))
	same := mustUpdate(t, s, cur.DeepCopy())
	if same.GetResourceVersion() != cur.GetResourceVersion() {
		t.Errorf("a no-op update changed resourceVersion %s → %s", cur.GetResourceVersion(), same.GetResourceVersion())
	}
	cur.Object["status"] = map[string]any{"phase": "Steady"}
	cur, err := s.UpdateStatus(ctx(t), cur)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.UpdateStatus(ctx(t), cur.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	if again.GetResourceVersion() != cur.GetResourceVersion() {
		t.Errorf("a no-op status update changed resourceVersion %s → %s", cur.GetResourceVersion(), again.GetResourceVersion())
	}
}

func testConflict(t *testing.T, s store.Store) {
	old := mustCreate(t, s, stage("p1", "uat"))
	next := old.DeepCopy()
	next.SetLabels(map[string]string{"a": "1"})
	next = mustUpdate(t, s, next)

	stale := old.DeepCopy()
	stale.SetLabels(map[string]string{"a": "2"})
	_, err := s.Update(ctx(t), stale)
	wantErr(t, "update with a stale resourceVersion", err, apierrors.IsConflict,
		`Operation cannot be fulfilled on stages.kargo.akuity.io "uat": the object has been modified; please apply your changes to the latest version and try again`)
	stale.Object["status"] = map[string]any{"phase": "x"}
	_, err = s.UpdateStatus(ctx(t), stale)
	wantErr(t, "status update with a stale resourceVersion", err, apierrors.IsConflict, "")
	if got := mustGet(t, s, "Stage", "p1", "uat"); !reflect.DeepEqual(got.Object, next.Object) {
		t.Errorf("a conflicting write changed the object: %s", jsonOf(got.Object))
	}

	uncond := old.DeepCopy()
	uncond.SetResourceVersion("")
	uncond.SetLabels(map[string]string{"a": "3"})
	if got := mustUpdate(t, s, uncond); got.GetLabels()["a"] != "3" {
		t.Errorf("unconditional update: labels = %v", got.GetLabels())
	}
	wrongUID := mustGet(t, s, "Stage", "p1", "uat")
	wrongUID.SetUID("00000000-0000-0000-0000-000000000000")
	_, err = s.Update(ctx(t), wrongUID)
	wantErr(t, "update with another uid", err, apierrors.IsConflict, "")
}

func testDeletePreconditions(t *testing.T, s store.Store) {
	cur := mustCreate(t, s, stage("p1", "uat"))
	err := s.Delete(ctx(t), "Stage", "p1", "uat", store.DeleteOptions{UID: "00000000-0000-0000-0000-000000000000"})
	wantErr(t, "delete with another uid", err, apierrors.IsConflict, "")
	next := cur.DeepCopy()
	next.SetLabels(map[string]string{"a": "1"})
	mustUpdate(t, s, next)
	err = s.Delete(ctx(t), "Stage", "p1", "uat", store.DeleteOptions{ResourceVersion: cur.GetResourceVersion()})
	wantErr(t, "delete with a stale resourceVersion", err, apierrors.IsConflict, "")
	mustGet(t, s, "Stage", "p1", "uat")
	if err := s.Delete(ctx(t), "Stage", "p1", "uat", store.DeleteOptions{UID: string(cur.GetUID())}); err != nil {
		t.Fatalf("delete with the right uid: %v", err)
	}
}

func testStatusPath(t *testing.T, s store.Store) {
	cur := mustCreate(t, s, withLabels(stage("p1", "uat"), "a", "1"))
	spec := cur.Object["spec"]

	// UpdateStatus writes status only.
	in := cur.DeepCopy()
	in.Object["status"] = map[string]any{"phase": "Steady", "currentFreightId": "abc"}
	in.Object["spec"] = map[string]any{"changed": true}
	in.SetLabels(map[string]string{"a": "2"})
	got, err := s.UpdateStatus(ctx(t), in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Object["spec"], spec) || got.GetLabels()["a"] != "1" {
		t.Errorf("UpdateStatus changed spec or labels: %s", jsonOf(got.Object))
	}
	if p, _, _ := unstructured.NestedString(got.Object, "status", "phase"); p != "Steady" {
		t.Errorf("status.phase = %q, want Steady", p)
	}

	// Update keeps the stored status and ignores the given one.
	in = got.DeepCopy()
	in.Object["status"] = map[string]any{"phase": "Bogus"}
	in.SetLabels(map[string]string{"a": "3"})
	got = mustUpdate(t, s, in)
	if p, _, _ := unstructured.NestedString(got.Object, "status", "phase"); p != "Steady" || got.GetLabels()["a"] != "3" {
		t.Errorf("after Update: status.phase = %q (want Steady), labels %v", p, got.GetLabels())
	}
	in = got.DeepCopy()
	delete(in.Object, "status")
	if got = mustUpdate(t, s, in); got.Object["status"] == nil {
		t.Error("an Update without status dropped the stored status")
	}
	if p, _, _ := unstructured.NestedString(mustGet(t, s, "Stage", "p1", "uat").Object, "status", "phase"); p != "Steady" {
		t.Errorf("stored status.phase = %q, want Steady", p)
	}
}

func testStatusNotForKindsWithout(t *testing.T, s store.Store) {
	cur := mustCreate(t, s, secret("p1", "creds"))
	cur.Object["status"] = map[string]any{"x": "y"}
	_, err := s.UpdateStatus(ctx(t), cur)
	wantErr(t, "UpdateStatus of a Secret", err, apierrors.IsNotFound, "")
	pt := mustCreate(t, s, object(kargo, "PromotionTask", "p1", "t", map[string]any{"spec": map[string]any{}}))
	_, err = s.UpdateStatus(ctx(t), pt)
	wantErr(t, "UpdateStatus of a PromotionTask", err, apierrors.IsNotFound, "")
}

func testDelete(t *testing.T, s store.Store) {
	mustCreate(t, s, stage("p1", "uat"))
	mustCreate(t, s, stage("p1", "prod"))
	if err := s.Delete(ctx(t), "Stage", "p1", "uat", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx(t), "Stage", "p1", "uat")
	wantErr(t, "get after delete", err, apierrors.IsNotFound, "")
	mustGet(t, s, "Stage", "p1", "prod")
	again := mustCreate(t, s, stage("p1", "uat"))
	if again.GetGeneration() != 1 {
		t.Errorf("re-created object generation = %d", again.GetGeneration())
	}
}

func testDeepCopy(t *testing.T, s store.Store) {
	in := withLabels(stage("p1", "uat"), "a", "1")
	out := mustCreate(t, s, in)
	want := mustGet(t, s, "Stage", "p1", "uat").Object

	mutate := func(u *unstructured.Unstructured) {
		u.Object["spec"].(map[string]any)["requestedFreight"].([]any)[0].(map[string]any)["origin"].(map[string]any)["name"] = "hacked"
		u.GetLabels()
		u.Object["metadata"].(map[string]any)["labels"].(map[string]any)["a"] = "hacked"
	}
	mutate(in)
	mutate(out)
	got := mustGet(t, s, "Stage", "p1", "uat")
	mutate(got)
	list := mustList(t, s, "Stage", "p1", store.ListOptions{})
	mutate(&list.Items[0])
	if now := mustGet(t, s, "Stage", "p1", "uat").Object; !reflect.DeepEqual(now, want) {
		t.Errorf("callers' objects alias the store:\n got %s\nwant %s", jsonOf(now), jsonOf(want))
	}
}
