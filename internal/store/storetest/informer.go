package storetest

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/tools/cache"

	"github.com/caravan-dev/caravan/internal/store"
)

// countingStore counts List calls.
type countingStore struct {
	store.Store
	lists atomic.Int32
}

func (c *countingStore) List(ctx context.Context, kind, namespace string, opts store.ListOptions) (*unstructured.UnstructuredList, error) {
	c.lists.Add(1)
	return c.Store.List(ctx, kind, namespace, opts)
}

// testInformer runs a client-go shared informer over store.NewListWatch: it
// must sync the existing objects and then follow every change. With
// client-go's WatchListClient feature on (the default since 0.35) the
// informer must sync from the watch alone, through the initial-events-end
// bookmark, never falling back to List.
func testInformer(t *testing.T, backend store.Store) {
	s := &countingStore{Store: backend}
	mustCreate(t, s, stage("p1", "a"))
	mustCreate(t, s, stage("p1", "b"))
	mustCreate(t, s, stage("p2", "other"))

	example := &unstructured.Unstructured{}
	example.SetAPIVersion(kargo)
	example.SetKind("Stage")
	inf := cache.NewSharedIndexInformer(store.NewListWatch(s, "Stage", "p1", store.ListOptions{}), example, 0, cache.Indexers{})
	c, cancel := context.WithCancel(ctx(t))
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		inf.RunWithContext(c)
	}()
	defer func() {
		cancel()
		<-stopped
	}()
	syncCtx, syncCancel := context.WithTimeout(c, Deadline)
	defer syncCancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), inf.HasSynced) {
		t.Fatalf("informer not synced within %s", Deadline)
	}
	idx := inf.GetStore()
	equalStrings(t, "synced keys", sortedKeys(idx.ListKeys()), []string{"p1/a", "p1/b"})

	has := func(k string, cond func(*unstructured.Unstructured) bool) func() (bool, error) {
		return func() (bool, error) {
			o, ok, err := idx.GetByKey(k)
			if err != nil || !ok {
				return false, err
			}
			return cond == nil || cond(o.(*unstructured.Unstructured)), nil
		}
	}
	mustCreate(t, s, stage("p1", "c"))
	poll(t, "informer sees a created object", has("p1/c", nil))
	b := mustGet(t, s, "Stage", "p1", "b")
	b.SetLabels(map[string]string{"v": "2"})
	mustUpdate(t, s, b)
	poll(t, "informer sees an update", has("p1/b", func(u *unstructured.Unstructured) bool { return u.GetLabels()["v"] == "2" }))
	if err := s.Delete(ctx(t), "Stage", "p1", "a", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "informer sees a delete", func() (bool, error) {
		_, ok, err := idx.GetByKey("p1/a")
		return !ok, err
	})
	equalStrings(t, "final keys", sortedKeys(idx.ListKeys()), []string{"p1/b", "p1/c"})
	if clientfeatures.FeatureGates().Enabled(clientfeatures.WatchListClient) && s.lists.Load() > 0 {
		t.Errorf("the informer fell back to List %d times: the watch-list stream did not sync it", s.lists.Load())
	}
}

func sortedKeys(keys []string) []string {
	out := slices.Clone(keys)
	slices.Sort(out)
	return out
}
