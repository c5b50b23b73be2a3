package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/caravan-dev/caravan/internal/store"
	"github.com/caravan-dev/caravan/internal/store/storetest"
)

// testOptions keep little watch history and a small watcher buffer, as
// storetest.ExpiryChurn requires, and bookmark idle watches quickly.
var testOptions = []Option{
	WithHistory(32, 0),
	WithWatchBuffer(16),
	WithBookmarkInterval(200 * time.Millisecond),
}

func openTest(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(path, append(append([]Option(nil), testOptions...), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, filepath.Join(t.TempDir(), "caravan.db"))
	})
}

func stage(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"shard": name}}}
	u.SetAPIVersion("kargo.akuity.io/v1alpha1")
	u.SetKind("Stage")
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// TestReopen checks that data and resourceVersions persist, and that after
// a restart any older resourceVersion is answered with 410 Expired.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "caravan.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Create(ctx, stage("p1", "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Create(ctx, stage("p1", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}

	s = openTest(t, path)
	got, err := s.Get(ctx, "Stage", "p1", "b")
	if err != nil {
		t.Fatal(err)
	}
	if got.GetResourceVersion() != b.GetResourceVersion() || got.GetUID() != b.GetUID() {
		t.Errorf("reopened object = rv %s uid %s, want %s %s", got.GetResourceVersion(), got.GetUID(), b.GetResourceVersion(), b.GetUID())
	}
	if s.ResourceVersion() != b.GetResourceVersion() {
		t.Errorf("store resourceVersion = %s, want %s", s.ResourceVersion(), b.GetResourceVersion())
	}
	old, err := s.Watch(ctx, "Stage", "", store.WatchOptions{ResourceVersion: a.GetResourceVersion()})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Stop()
	ev := <-old.ResultChan()
	if st, ok := ev.Object.(*metav1.Status); ev.Type != watch.Error || !ok || !apierrors.IsResourceExpired(apierrors.FromObject(st)) {
		t.Errorf("watch from before the restart: %s %v, want ERROR 410", ev.Type, ev.Object)
	}
	cur, err := s.Watch(ctx, "Stage", "", store.WatchOptions{ResourceVersion: b.GetResourceVersion()})
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Stop()
	c, err := s.Create(ctx, stage("p1", "c"))
	if err != nil {
		t.Fatal(err)
	}
	if c.GetResourceVersion() <= b.GetResourceVersion() && len(c.GetResourceVersion()) <= len(b.GetResourceVersion()) {
		t.Errorf("resourceVersion went back: %s after %s", c.GetResourceVersion(), b.GetResourceVersion())
	}
	select {
	case ev := <-cur.ResultChan():
		if ev.Type != watch.Added || ev.Object.(*unstructured.Unstructured).GetName() != "c" {
			t.Errorf("event %s %v, want ADDED c", ev.Type, ev.Object)
		}
	case <-time.After(storetest.Deadline):
		t.Fatal("no event after the restart")
	}
}

// TestWatchEndsOnClose checks that Close ends watches, even ones whose
// reader has stopped reading.
func TestWatchEndsOnClose(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "caravan.db"), WithWatchBuffer(0))
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(context.Background(), "Stage", "", store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(t.Context(), stage("p1", "a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(storetest.Deadline)
	for {
		select {
		case _, ok := <-w.ResultChan():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("watch still open after Close")
		}
	}
}

func TestOpenRejectsBadSynchronous(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "x.db"), WithSynchronous("OFF")); err == nil {
		t.Fatal("Open accepted synchronous=OFF")
	}
}

// TestPragmas checks the durability settings the package documents.
func TestPragmas(t *testing.T) {
	for _, tc := range []struct {
		opts []Option
		sync int
	}{{nil, 2}, {[]Option{WithSynchronous("normal")}, 1}} {
		s := openTest(t, filepath.Join(t.TempDir(), "caravan.db"), tc.opts...)
		var mode string
		var sync int
		if err := s.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := s.w.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || sync != tc.sync {
			t.Errorf("writer: journal_mode %s synchronous %d, want wal %d", mode, sync, tc.sync)
		}
		if err := s.r.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != tc.sync {
			t.Errorf("reader: synchronous %d (%v), want %d", sync, err, tc.sync)
		}
	}
}
