package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/caravan-dev/caravan/internal/store"
)

func mustWatch(t *testing.T, s store.Store, kind, ns string, opts store.WatchOptions) watch.Interface {
	t.Helper()
	w, err := s.Watch(ctx(t), kind, ns, opts)
	if err != nil {
		t.Fatalf("watch %s in %q: %v", kind, ns, err)
	}
	t.Cleanup(w.Stop)
	return w
}

// next returns the next event, failing at the deadline or if the watch ends.
func next(t *testing.T, w watch.Interface, deadline time.Duration) watch.Event {
	t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch ended early")
		}
		return ev
	case <-timer.C:
		t.Fatalf("no watch event within %s", deadline)
	}
	return watch.Event{}
}

// expect reads the next non-bookmark event and checks its type and key.
func expect(t *testing.T, w watch.Interface, typ watch.EventType, wantKey string) *unstructured.Unstructured {
	t.Helper()
	end := time.Now().Add(Deadline)
	for {
		ev := next(t, w, time.Until(end))
		if ev.Type == watch.Bookmark {
			continue
		}
		if ev.Type == watch.Error {
			t.Fatalf("want %s %s, got an ERROR event: %v", typ, wantKey, apierrors.FromObject(ev.Object))
		}
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			t.Fatalf("event object is %T, want *unstructured.Unstructured", ev.Object)
		}
		if ev.Type != typ || key(u) != wantKey {
			t.Fatalf("event = %s %s, want %s %s", ev.Type, key(u), typ, wantKey)
		}
		return u
	}
}

// expectEnd checks that the watch ends within the deadline.
func expectEnd(t *testing.T, w watch.Interface) {
	t.Helper()
	end := time.After(Deadline)
	for {
		select {
		case _, ok := <-w.ResultChan():
			if !ok {
				return
			}
		case <-end:
			t.Fatalf("watch still open after %s", Deadline)
		}
	}
}

func testWatchFromResourceVersion(t *testing.T, s store.Store) {
	a := mustCreate(t, s, stage("p1", "a"))
	w := mustWatch(t, s, "Stage", "", store.WatchOptions{ResourceVersion: a.GetResourceVersion()})
	a.SetLabels(map[string]string{"x": "1"})
	a = mustUpdate(t, s, a)
	b := mustCreate(t, s, stage("p2", "b"))
	if err := s.Delete(ctx(t), "Stage", "p1", "a", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := []*unstructured.Unstructured{
		expect(t, w, watch.Modified, "p1/a"),
		expect(t, w, watch.Added, "p2/b"),
		expect(t, w, watch.Deleted, "p1/a"),
	}
	if got[0].GetResourceVersion() != a.GetResourceVersion() || got[1].GetResourceVersion() != b.GetResourceVersion() {
		t.Errorf("event resourceVersions %s, %s; the writes returned %s, %s",
			got[0].GetResourceVersion(), got[1].GetResourceVersion(), a.GetResourceVersion(), b.GetResourceVersion())
	}
	if got[0].GetLabels()["x"] != "1" {
		t.Errorf("MODIFIED event carries %v, want the new labels", got[0].GetLabels())
	}
	if got[2].GetResourceVersion() == "" || got[2].GetResourceVersion() == a.GetResourceVersion() {
		t.Errorf("DELETED event resourceVersion = %q, want a new one", got[2].GetResourceVersion())
	}
}

func testWatchWithoutResourceVersion(t *testing.T, s store.Store) {
	mustCreate(t, s, stage("p1", "a"))
	mustCreate(t, s, stage("p1", "b"))
	mustCreate(t, s, stage("p2", "z"))
	existing := []string{"p1/a", "p1/b"}
	for _, rv := range []string{"", "0"} {
		w := mustWatch(t, s, "Stage", "p1", store.WatchOptions{ResourceVersion: rv})
		var seen []string
		for range existing {
			ev := next(t, w, Deadline)
			if ev.Type != watch.Added {
				t.Fatalf("rv %q: initial event %s, want ADDED", rv, ev.Type)
			}
			seen = append(seen, key(ev.Object.(*unstructured.Unstructured)))
		}
		equalStrings(t, "initial events", sortedKeys(seen), existing)
		name := "c" + rv
		mustCreate(t, s, stage("p1", name))
		expect(t, w, watch.Added, "p1/"+name)
		existing = append(existing, "p1/"+name)
		w.Stop()
	}
}

func testWatchSendInitialEvents(t *testing.T, s store.Store) {
	mustCreate(t, s, stage("p1", "a"))
	mustCreate(t, s, stage("p1", "b"))
	mustCreate(t, s, stage("p2", "z"))
	w := mustWatch(t, s, "Stage", "p1", store.WatchOptions{SendInitialEvents: true, AllowBookmarks: true})
	seen := map[string]bool{}
	end := time.Now().Add(Deadline)
	for {
		if time.Now().After(end) {
			t.Fatalf("no initial-events-end bookmark within %s", Deadline)
		}
		ev := next(t, w, Deadline)
		if ev.Type == watch.Bookmark {
			u := ev.Object.(*unstructured.Unstructured)
			if u.GetAnnotations()[store.InitialEventsEndAnnotation] != "true" {
				continue // an ordinary bookmark
			}
			if u.GetResourceVersion() == "" {
				t.Error("initial-events-end bookmark has no resourceVersion")
			}
			if u.GetKind() != "Stage" || u.GetAPIVersion() != kargo {
				t.Errorf("bookmark object is %s %s", u.GetAPIVersion(), u.GetKind())
			}
			break
		}
		if ev.Type != watch.Added {
			t.Fatalf("initial event %s, want ADDED", ev.Type)
		}
		seen[key(ev.Object.(*unstructured.Unstructured))] = true
	}
	if len(seen) != 2 || !seen["p1/a"] || !seen["p1/b"] {
		t.Errorf("initial events for %v, want p1/a and p1/b", seen)
	}
	mustCreate(t, s, stage("p1", "c"))
	expect(t, w, watch.Added, "p1/c")
}

func testWatchBookmarks(t *testing.T, s store.Store) {
	mustCreate(t, s, stage("p1", "a"))
	rv := mustList(t, s, "Stage", "", store.ListOptions{}).GetResourceVersion()
	w := mustWatch(t, s, "Stage", "", store.WatchOptions{ResourceVersion: rv, AllowBookmarks: true})
	ev := next(t, w, BookmarkDeadline)
	if ev.Type != watch.Bookmark {
		t.Fatalf("idle watch sent %s, want BOOKMARK", ev.Type)
	}
	u := ev.Object.(*unstructured.Unstructured)
	if u.GetResourceVersion() == "" || u.GetKind() != "Stage" {
		t.Errorf("bookmark = %s", jsonOf(u.Object))
	}
	// A watch from the bookmark's resourceVersion misses nothing after it.
	w2 := mustWatch(t, s, "Stage", "", store.WatchOptions{ResourceVersion: u.GetResourceVersion()})
	mustCreate(t, s, stage("p1", "b"))
	expect(t, w2, watch.Added, "p1/b")
}

// churn makes n changes to one object, labelling change i with n=i.
func churn(t *testing.T, s store.Store, u *unstructured.Unstructured, n int) {
	t.Helper()
	u = u.DeepCopy()
	u.SetResourceVersion("")
	for i := range n {
		u.SetLabels(map[string]string{"n": strconv.Itoa(i)})
		mustUpdate(t, s, u)
	}
}

// expectExpired reads events until an ERROR carrying 410 Expired, then
// checks that the watch ends; it returns the events before the error.
func expectExpired(t *testing.T, w watch.Interface) []watch.Event {
	t.Helper()
	var before []watch.Event
	for {
		ev := next(t, w, Deadline)
		if ev.Type != watch.Error {
			before = append(before, ev)
			continue
		}
		st, ok := ev.Object.(*metav1.Status)
		if !ok {
			t.Fatalf("ERROR event object is %T, want *metav1.Status", ev.Object)
		}
		err := apierrors.FromObject(st)
		if st.Code != 410 || !apierrors.IsResourceExpired(err) {
			t.Errorf("ERROR event = %d %s %q, want 410 Expired", st.Code, st.Reason, st.Message)
		}
		expectEnd(t, w)
		return before
	}
}

func testWatchExpired(t *testing.T, s store.Store) {
	a := mustCreate(t, s, stage("p1", "a"))
	churn(t, s, a, ExpiryChurn)
	w := mustWatch(t, s, "Stage", "p1", store.WatchOptions{ResourceVersion: a.GetResourceVersion()})
	if before := expectExpired(t, w); len(before) > 0 {
		t.Errorf("%d events before the 410; an expired watch must not deliver a partial history", len(before))
	}
}

func testWatchSlowWatcher(t *testing.T, s store.Store) {
	a := mustCreate(t, s, stage("p1", "a"))
	w := mustWatch(t, s, "Stage", "p1", store.WatchOptions{ResourceVersion: a.GetResourceVersion()})
	churn(t, s, a, ExpiryChurn) // nobody reads w meanwhile
	before := expectExpired(t, w)
	if len(before) >= ExpiryChurn {
		t.Fatalf("the watcher got all %d events; the backend keeps too much history for this test", len(before))
	}
	for i, ev := range before { // a gap-free prefix: nothing silently skipped
		u := ev.Object.(*unstructured.Unstructured)
		if ev.Type != watch.Modified || u.GetLabels()["n"] != strconv.Itoa(i) {
			t.Fatalf("event %d = %s n=%s, want MODIFIED n=%d", i, ev.Type, u.GetLabels()["n"], i)
		}
	}
}

func testWatchFiltered(t *testing.T, s store.Store) {
	rv := mustList(t, s, "Stage", "", store.ListOptions{}).GetResourceVersion()
	w := mustWatch(t, s, "Stage", "p1", store.WatchOptions{ResourceVersion: rv,
		ListOptions: store.ListOptions{LabelSelector: labels.SelectorFromSet(labels.Set{"app": "a"})}})
	mustCreate(t, s, withLabels(stage("p2", "x"), "app", "a")) // other namespace
	y := mustCreate(t, s, withLabels(stage("p1", "y"), "app", "b"))
	z := mustCreate(t, s, withLabels(stage("p1", "z"), "app", "a"))
	expect(t, w, watch.Added, "p1/z")
	y.SetLabels(map[string]string{"app": "a"})
	mustUpdate(t, s, y)
	expect(t, w, watch.Added, "p1/y") // starts matching
	z.SetLabels(map[string]string{"app": "b"})
	mustUpdate(t, s, z)
	expect(t, w, watch.Deleted, "p1/z") // stops matching
	if err := s.Delete(ctx(t), "Stage", "p1", "y", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(t, w, watch.Deleted, "p1/y")
	if err := s.Delete(ctx(t), "Stage", "p1", "z", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, withLabels(stage("p1", "sentinel"), "app", "a"))
	expect(t, w, watch.Added, "p1/sentinel") // nothing else came in between
}

func testWatchFieldSelector(t *testing.T, s store.Store) {
	rv := mustList(t, s, "Promotion", "", store.ListOptions{}).GetResourceVersion()
	w := mustWatch(t, s, "Promotion", "p1", store.WatchOptions{ResourceVersion: rv,
		ListOptions: store.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.stage", "uat")}})
	mustCreate(t, s, promotion("p1", "pr1", "prod"))
	mustCreate(t, s, promotion("p2", "pr2", "uat"))
	mustCreate(t, s, promotion("p1", "pr3", "uat"))
	expect(t, w, watch.Added, "p1/pr3")
}

func testWatchKindIsolation(t *testing.T, s store.Store) {
	rv := mustList(t, s, "Stage", "", store.ListOptions{}).GetResourceVersion()
	w := mustWatch(t, s, "Stage", "", store.WatchOptions{ResourceVersion: rv})
	mustCreate(t, s, freight("p1", "f", "a", "w"))
	mustCreate(t, s, secret("p1", "s"))
	mustCreate(t, s, project("p1"))
	mustCreate(t, s, stage("p1", "sentinel"))
	expect(t, w, watch.Added, "p1/sentinel")
}

func testWatchStop(t *testing.T, s store.Store) {
	w := mustWatch(t, s, "Stage", "", store.WatchOptions{})
	w.Stop()
	expectEnd(t, w)
	w.Stop() // idempotent

	c, cancel := context.WithCancel(ctx(t))
	w2, err := s.Watch(c, "Stage", "", store.WatchOptions{AllowBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	cancel()
	expectEnd(t, w2)
}
