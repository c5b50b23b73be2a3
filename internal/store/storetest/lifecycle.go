package storetest

import (
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/caravan-dev/caravan/internal/store"
)

const testFinalizer = "caravan.dev/test"

func testFinalizers(t *testing.T, s store.Store) {
	start := mustList(t, s, "Stage", "p1", store.ListOptions{}).GetResourceVersion()
	w := mustWatch(t, s, "Stage", "p1", store.WatchOptions{ResourceVersion: start})
	in := stage("p1", "uat")
	in.SetFinalizers([]string{testFinalizer})
	mustCreate(t, s, in)
	expect(t, w, watch.Added, "p1/uat")

	if err := s.Delete(ctx(t), "Stage", "p1", "uat", store.DeleteOptions{}); err != nil {
		t.Fatalf("delete with finalizers: %v", err)
	}
	cur := mustGet(t, s, "Stage", "p1", "uat")
	if cur.GetDeletionTimestamp() == nil {
		t.Fatal("deletionTimestamp not set by a delete with finalizers")
	}
	if fs := cur.GetFinalizers(); len(fs) != 1 || fs[0] != testFinalizer {
		t.Errorf("finalizers = %v", fs)
	}
	ev := expect(t, w, watch.Modified, "p1/uat")
	if ev.GetDeletionTimestamp() == nil {
		t.Error("the MODIFIED event of a delete with finalizers has no deletionTimestamp")
	}
	if err := s.Delete(ctx(t), "Stage", "p1", "uat", store.DeleteOptions{}); err != nil {
		t.Errorf("second delete of an object being deleted: %v", err)
	}

	// An update may not change deletionTimestamp, nor add finalizers now.
	more := cur.DeepCopy()
	more.SetFinalizers([]string{testFinalizer, "caravan.dev/other"})
	if _, err := s.Update(ctx(t), more); err == nil || !apierrors.IsInvalid(err) {
		t.Errorf("adding a finalizer to an object being deleted: err = %v, want Invalid", err)
	}
	label := mustGet(t, s, "Stage", "p1", "uat")
	label.SetLabels(map[string]string{"a": "1"})
	label.SetDeletionTimestamp(nil)
	if got := mustUpdate(t, s, label); got.GetDeletionTimestamp() == nil {
		t.Error("an update cleared deletionTimestamp")
	}
	expect(t, w, watch.Modified, "p1/uat")

	done := mustGet(t, s, "Stage", "p1", "uat")
	done.SetFinalizers(nil)
	if _, err := s.Update(ctx(t), done); err != nil {
		t.Fatalf("update removing the last finalizer: %v", err)
	}
	_, err := s.Get(ctx(t), "Stage", "p1", "uat")
	wantErr(t, "get after the last finalizer went", err, apierrors.IsNotFound, "")
	expect(t, w, watch.Deleted, "p1/uat")
}

func ownerRef(owner *unstructured.Unstructured) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: owner.GetAPIVersion(), Kind: owner.GetKind(), Name: owner.GetName(), UID: owner.GetUID()}
}

func testOwnerCascade(t *testing.T, s store.Store) {
	w1 := mustCreate(t, s, warehouse("p1", "w1"))
	w2 := mustCreate(t, s, warehouse("p1", "w2"))
	only := freight("p1", "f-only", "a", "w1")
	only.SetOwnerReferences([]metav1.OwnerReference{ownerRef(w1)})
	mustCreate(t, s, only)
	both := freight("p1", "f-both", "b", "w1")
	both.SetOwnerReferences([]metav1.OwnerReference{ownerRef(w1), ownerRef(w2)})
	mustCreate(t, s, both)
	mustCreate(t, s, freight("p1", "f-free", "c", "w1"))
	// A grandchild: owned by f-only, so it goes once f-only has gone.
	grand := object("v1", "ConfigMap", "p1", "grandchild", nil)
	grand.SetOwnerReferences([]metav1.OwnerReference{ownerRef(mustGet(t, s, "Freight", "p1", "f-only"))})
	mustCreate(t, s, grand)

	if err := s.Delete(ctx(t), "Warehouse", "p1", "w1", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone := func(kind, name string) func() (bool, error) {
		return func() (bool, error) {
			_, err := s.Get(ctx(t), kind, "p1", name)
			return apierrors.IsNotFound(err), err
		}
	}
	poll(t, "Freight f-only deleted with its owner", gone("Freight", "f-only"))
	poll(t, "ConfigMap grandchild deleted with its owner", gone("ConfigMap", "grandchild"))
	mustGet(t, s, "Freight", "p1", "f-both") // one owner is left
	mustGet(t, s, "Freight", "p1", "f-free")
	if err := s.Delete(ctx(t), "Warehouse", "p1", "w2", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "Freight f-both deleted with its last owner", gone("Freight", "f-both"))
	mustGet(t, s, "Freight", "p1", "f-free")
}

func testProjectDeletesNamespace(t *testing.T, s store.Store) {
	mustCreate(t, s, project("p1"))
	mustCreate(t, s, project("p2"))
	mustCreate(t, s, stage("p1", "uat"))
	mustCreate(t, s, secret("p1", "creds"))
	mustCreate(t, s, freight("p1", "f1", "a", "w"))
	mustCreate(t, s, object(kargo, "ProjectConfig", "p1", "p1", map[string]any{"spec": map[string]any{}}))
	mustCreate(t, s, stage("p2", "uat"))
	mustCreate(t, s, secret("p2", "creds"))

	if err := s.Delete(ctx(t), "Project", "", "p1", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "namespace p1 emptied", func() (bool, error) {
		for _, kind := range []string{"Stage", "Secret", "Freight", "ProjectConfig"} {
			l, err := s.List(ctx(t), kind, "p1", store.ListOptions{})
			if err != nil || len(l.Items) > 0 {
				return false, err
			}
		}
		return true, nil
	})
	_, err := s.Get(ctx(t), "Project", "", "p1")
	wantErr(t, "get deleted project", err, apierrors.IsNotFound, "")
	mustGet(t, s, "Project", "", "p2")
	mustGet(t, s, "Stage", "p2", "uat")
	mustGet(t, s, "Secret", "p2", "creds")
}
