// Package storetest is the contract test suite of store.Store: every
// backend (the embedded SQLite one, later one over a kube-apiserver) runs
// Run against a fresh store and must pass every subtest.
//
// The suite uses namespaces "p1" and "p2" and the cluster-scoped Projects
// of those names; a backend whose namespaces must exist beforehand creates
// them in newStore. Cascade deletion is polled for with a deadline, never
// assumed synchronous.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/store"
)

// ExpiryChurn is how many changes the watch-expiry subtests make. The
// backend under test must be configured so that both a resourceVersion
// ExpiryChurn changes old and a watcher that has not read its last
// ExpiryChurn/2 events have left its watch history (the SQLite tests keep 32
// changes and buffer 16 events per watcher).
const ExpiryChurn = 300

// Deadlines for polling and for waiting on one watch event. Idle bookmarks
// get a longer one: kube-apiserver sends them about once a minute.
const (
	Deadline         = 20 * time.Second
	BookmarkDeadline = 90 * time.Second
)

// Run runs the contract suite; newStore returns a fresh, empty store for
// one subtest (and registers its cleanup with t).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateAlreadyExists", testCreateAlreadyExists},
		{"GetNotFound", testGetNotFound},
		{"UpdateDeleteNotFound", testUpdateDeleteNotFound},
		{"GenerateName", testGenerateName},
		{"GenerationSpec", testGenerationSpec},
		{"GenerationTopLevel", testGenerationTopLevel},
		{"GenerationNone", testGenerationNone},
		{"NoOpUpdate", testNoOpUpdate},
		{"Conflict", testConflict},
		{"DeletePreconditions", testDeletePreconditions},
		{"StatusPath", testStatusPath},
		{"StatusNotForKindsWithout", testStatusNotForKindsWithout},
		{"Delete", testDelete},
		{"Finalizers", testFinalizers},
		{"OwnerCascade", testOwnerCascade},
		{"ProjectDeletesNamespace", testProjectDeletesNamespace},
		{"DeepCopy", testDeepCopy},
		{"ListSorted", testListSorted},
		{"ListSnapshot", testListSnapshot},
		{"ListRaw", testListRaw},
		{"LabelSelector", testLabelSelector},
		{"FieldSelector", testFieldSelector},
		{"FieldSelectorUnsupported", testFieldSelectorUnsupported},
		{"WatchFromResourceVersion", testWatchFromResourceVersion},
		{"WatchWithoutResourceVersion", testWatchWithoutResourceVersion},
		{"WatchSendInitialEvents", testWatchSendInitialEvents},
		{"WatchBookmarks", testWatchBookmarks},
		{"WatchExpired", testWatchExpired},
		{"WatchSlowWatcherExpires", testWatchSlowWatcher},
		{"WatchFiltered", testWatchFiltered},
		{"WatchFieldSelector", testWatchFieldSelector},
		{"WatchKindIsolation", testWatchKindIsolation},
		{"WatchStop", testWatchStop},
		{"Informer", testInformer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// ctx returns a context cancelled when the test ends.
func ctx(t *testing.T) context.Context { return t.Context() }

// object builds an object of one kind from a JSON-like map.
func object(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range fields {
		u.Object[k] = v
	}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

const kargo = "kargo.akuity.io/v1alpha1"

func stage(ns, name string) *unstructured.Unstructured {
	return object(kargo, "Stage", ns, name, map[string]any{
		"spec": map[string]any{"requestedFreight": []any{map[string]any{
			"origin":  map[string]any{"kind": "Warehouse", "name": "w"},
			"sources": map[string]any{"direct": true},
		}}},
	})
}

func freight(ns, name, alias, origin string) *unstructured.Unstructured {
	return object(kargo, "Freight", ns, name, map[string]any{
		"alias":  alias,
		"origin": map[string]any{"kind": "Warehouse", "name": origin},
		"images": []any{map[string]any{"repoURL": "registry.example.com/shop", "tag": "1.0.0", "digest": "sha256:00"}},
	})
}

func promotion(ns, name, stageName string) *unstructured.Unstructured {
	return object(kargo, "Promotion", ns, name, map[string]any{
		"spec": map[string]any{"stage": stageName, "freight": "abc"},
	})
}

func warehouse(ns, name string) *unstructured.Unstructured {
	return object(kargo, "Warehouse", ns, name, map[string]any{
		"spec": map[string]any{"subscriptions": []any{map[string]any{"image": map[string]any{"repoURL": "nginx"}}}},
	})
}

func secret(ns, name string) *unstructured.Unstructured {
	return object("v1", "Secret", ns, name, map[string]any{"data": map[string]any{"password": "aHVudGVyMg=="}})
}

func project(name string) *unstructured.Unstructured {
	return object(kargo, "Project", "", name, nil)
}

func withLabels(u *unstructured.Unstructured, kv ...string) *unstructured.Unstructured {
	l := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	u.SetLabels(l)
	return u
}

func mustCreate(t *testing.T, s store.Store, u *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	out, err := s.Create(ctx(t), u)
	if err != nil {
		t.Fatalf("create %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return out
}

func mustUpdate(t *testing.T, s store.Store, u *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	out, err := s.Update(ctx(t), u)
	if err != nil {
		t.Fatalf("update %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return out
}

func mustGet(t *testing.T, s store.Store, kind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	out, err := s.Get(ctx(t), kind, ns, name)
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", kind, ns, name, err)
	}
	return out
}

func mustList(t *testing.T, s store.Store, kind, ns string, opts store.ListOptions) *unstructured.UnstructuredList {
	t.Helper()
	out, err := s.List(ctx(t), kind, ns, opts)
	if err != nil {
		t.Fatalf("list %s in %q: %v", kind, ns, err)
	}
	return out
}

// names returns "ns/name" of each item, in order.
func names(l *unstructured.UnstructuredList) []string {
	out := []string{}
	for _, it := range l.Items {
		out = append(out, key(&it))
	}
	return out
}

func key(u *unstructured.Unstructured) string {
	if u.GetNamespace() == "" {
		return u.GetName()
	}
	return u.GetNamespace() + "/" + u.GetName()
}

func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// wantErr checks err against a predicate and, if msg is set, its message.
func wantErr(t *testing.T, what string, err error, is func(error) bool, msg string) {
	t.Helper()
	if err == nil || !is(err) {
		t.Fatalf("%s: err = %v (reason %q), want another reason", what, err, apierrors.ReasonForError(err))
	}
	if msg != "" && err.Error() != msg {
		t.Errorf("%s: message = %q, want %q", what, err.Error(), msg)
	}
}

// poll calls cond until it reports true, failing the test at the deadline.
func poll(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	end := time.Now().Add(Deadline)
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if time.Now().After(end) {
			t.Fatalf("%s: not true after %s (last error: %v)", what, Deadline, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jsonOf renders v for comparisons and messages.
func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}
