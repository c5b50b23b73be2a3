package server_test

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

var stagesGVR = schema.GroupVersionResource{Group: "kargo.akuity.io", Version: "v1alpha1", Resource: "stages"}

func dynamicClient(t *testing.T, e *env) *dynamic.DynamicClient {
	t.Helper()
	dc, err := dynamic.NewForConfig(&rest.Config{Host: e.srv.URL, BearerToken: e.token})
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

func stageObject(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"shard": "a"},
	}}
}

// TestClientGoDynamic drives every verb through client-go's dynamic client,
// which decodes objects, lists, Status errors and watch streams as it would
// from kube-apiserver.
func TestClientGoDynamic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ri := dynamicClient(t, e).Resource(stagesGVR).Namespace("p")

	w, err := ri.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	created, err := ri.Create(ctx, stageObject("p", "dev"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := ri.Create(ctx, stageObject("p", "dev"), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
	if _, err := ri.Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get missing: %v, want NotFound", err)
	}
	got, err := ri.Get(ctx, "dev", metav1.GetOptions{})
	if err != nil || got.GetUID() != created.GetUID() {
		t.Fatalf("get: %v %v", got, err)
	}
	_ = unstructured.SetNestedField(got.Object, "b", "spec", "shard")
	updated, err := ri.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	_ = unstructured.SetNestedField(updated.Object, "Steady", "status", "phase")
	if _, err := ri.UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status: %v", err)
	}
	if _, err := ri.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("stale update: %v, want Conflict", err)
	}
	patched, err := ri.Patch(ctx, "dev", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{})
	if err != nil || patched.GetLabels()["x"] != "y" {
		t.Fatalf("patch: %v %v", patched, err)
	}
	if _, err := ri.Patch(ctx, "dev", types.StrategicMergePatchType, []byte(`{}`), metav1.PatchOptions{}); !apierrors.IsUnsupportedMediaType(err) {
		t.Errorf("strategic merge patch: %v, want UnsupportedMediaType", err)
	}
	list, err := ri.List(ctx, metav1.ListOptions{LabelSelector: "x=y"})
	if err != nil || len(list.Items) != 1 || list.GetResourceVersion() == "" {
		t.Fatalf("list: %v %v", list, err)
	}
	err = ri.Delete(ctx, "dev", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(types.UID("other"))}})
	if !apierrors.IsConflict(err) {
		t.Errorf("delete with a wrong uid: %v, want Conflict", err)
	}
	if err := ri.Delete(ctx, "dev", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(created.GetUID())}}); err != nil {
		t.Fatalf("delete: %v", err)
	}

	var seen []watch.EventType
	deadline := time.After(testDeadline)
	for len(seen) < 5 {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch ended after %v", seen)
			}
			if _, ok := ev.Object.(*unstructured.Unstructured); !ok {
				t.Fatalf("watch object %T", ev.Object)
			}
			seen = append(seen, ev.Type)
		case <-deadline:
			t.Fatalf("watch events %v, want 5", seen)
		}
	}
	want := []watch.EventType{watch.Added, watch.Modified, watch.Modified, watch.Modified, watch.Deleted}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("watch events %v, want %v", seen, want)
		}
	}
}

// TestClientGoInformer runs an informer over the dynamic client against the
// server. client-go's reflector uses watch-list here (sendInitialEvents=true,
// then the initial-events-end bookmark), falling back to list and watch.
func TestClientGoInformer(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dc := dynamicClient(t, e)
	ri := dc.Resource(stagesGVR).Namespace("p")
	if _, err := ri.Create(ctx, stageObject("p", "dev"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	all := dc.Resource(stagesGVR) // across namespaces
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return all.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return all.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &unstructured.Unstructured{}, 0, cache.Indexers{})
	added := make(chan string, 10)
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { added <- obj.(*unstructured.Unstructured).GetName() },
	}); err != nil {
		t.Fatal(err)
	}
	go inf.Run(ctx.Done())
	syncCtx, syncCancel := context.WithTimeout(ctx, testDeadline)
	defer syncCancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		t.Fatal("the informer did not sync")
	}
	if _, err := ri.Create(ctx, stageObject("p", "uat"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	deadline := time.After(testDeadline)
	for !got["dev"] || !got["uat"] {
		select {
		case n := <-added:
			got[n] = true
		case <-deadline:
			t.Fatalf("informer saw %v, want dev and uat", got)
		}
	}
	if n := len(inf.GetStore().List()); n != 2 {
		t.Errorf("informer cache holds %d objects, want 2", n)
	}
}
