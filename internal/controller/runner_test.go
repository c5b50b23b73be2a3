package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/retry"
	"github.com/caravan-dev/caravan/internal/store"
	"github.com/caravan-dev/caravan/internal/store/sqlite"
)

// deadline bounds every poll: generous, since CI machines are slow.
const deadline = 30 * time.Second

// openStore opens a real SQLite store in a temporary directory.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "caravan.db"), sqlite.WithSynchronous("NORMAL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// poll calls cond until it is true, failing the test at the deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", deadline, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func rawWarehouse(ns, name, interval string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kargo.akuity.io/v1alpha1",
		"kind":       "Warehouse",
		"metadata":   map[string]any{"namespace": ns, "name": name},
		"spec":       map[string]any{"interval": interval},
	}}
	return u
}

func mustCreate(t *testing.T, s store.Store, u *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	out, err := s.Create(context.Background(), u)
	if err != nil {
		t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// recordingDelayQueue wraps a real delaying queue and records how keys were
// added, so the requeue decisions of handle can be read synchronously.
type recordingDelayQueue struct {
	workqueue.TypedDelayingInterface[Key]
	mu     sync.Mutex
	events []string
}

func (q *recordingDelayQueue) Add(k Key) {
	q.record("add " + k.String())
	q.TypedDelayingInterface.Add(k)
}

func (q *recordingDelayQueue) AddAfter(k Key, d time.Duration) {
	q.record(fmt.Sprintf("after %s %s", d, k))
	q.TypedDelayingInterface.AddAfter(k, d)
}

func (q *recordingDelayQueue) record(e string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.events = append(q.events, e)
}

func (q *recordingDelayQueue) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.events
	q.events = nil
	return out
}

// TestHandle checks the error taxonomy: what each outcome of Reconcile does
// to the key.
func TestHandle(t *testing.T) {
	db := openStore(t)
	clk := testingclock.NewFakeClock(time.Now())
	r, err := NewRunner(db, RunnerOptions{
		Kind:        "Warehouse",
		Reconciler:  ReconcilerFunc(func(context.Context, Key) (Result, error) { return Result{}, nil }),
		RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[Key](time.Second, time.Hour),
		Logger:      slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingDelayQueue{TypedDelayingInterface: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[Key]{Clock: clk})}
	r.queue = workqueue.NewTypedRateLimitingQueueWithConfig(r.limiter, workqueue.TypedRateLimitingQueueConfig[Key]{DelayingQueue: rec})
	t.Cleanup(r.queue.ShutDown)

	key := Key{Namespace: "p", Name: "w"}
	boom := errors.New("dial tcp: connection refused")
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "kargo.akuity.io", Resource: "warehouses"}, "w", errors.New("the object has been modified"))
	steps := []struct {
		name string
		res  Result
		err  error
		want []string
		// requeues is NumRequeues after the step: the backoff's memory.
		requeues int
	}{
		{"success", Result{}, nil, nil, 0},
		{"success with RequeueAfter", Result{RequeueAfter: time.Minute}, nil, []string{"after 1m0s p/w"}, 0},
		{"other error backs off", Result{}, boom, []string{"after 1s p/w"}, 1},
		{"backoff doubles", Result{}, fmt.Errorf("discover: %w", boom), []string{"after 2s p/w"}, 2},
		{"RequeueAfter caps the backoff", Result{RequeueAfter: 3 * time.Second}, boom, []string{"after 3s p/w"}, 3},
		{"conflict requeues at once, keeping the backoff", Result{}, fmt.Errorf("update status: %w", conflict), []string{"add p/w"}, 3},
		{"panic backs off", Result{}, &panicError{value: "nil map"}, []string{"after 8s p/w"}, 4},
		{"retry.After sets the delay and resets the backoff", Result{}, retry.After(45*time.Second, boom), []string{"after 45s p/w"}, 0},
		{"another failure starts from the base again", Result{}, boom, []string{"after 1s p/w"}, 1},
		{"terminal: no requeue, backoff forgotten", Result{RequeueAfter: time.Minute}, retry.Terminal(fmt.Errorf("bad constraint: %w", boom)), nil, 0},
		{"success forgets the backoff", Result{}, boom, []string{"after 1s p/w"}, 1},
		{"", Result{}, nil, nil, 0},
	}
	for _, st := range steps {
		r.handle(key, st.res, st.err)
		got := rec.take()
		if strings.Join(got, "|") != strings.Join(st.want, "|") {
			t.Errorf("%s: queue got %q, want %q", st.name, got, st.want)
		}
		if n := r.queue.NumRequeues(key); n != st.requeues {
			t.Errorf("%s: NumRequeues = %d, want %d", st.name, n, st.requeues)
		}
	}
}

// scripted is a reconciler whose answers depend on the key and the call
// number, recording every call.
type scripted struct {
	mu     sync.Mutex
	calls  map[string]int
	actors map[string]string
	answer func(name string, call int) (Result, error)
}

func (s *scripted) Reconcile(ctx context.Context, key Key) (Result, error) {
	s.mu.Lock()
	s.calls[key.Name]++
	n := s.calls[key.Name]
	if a, ok := identity.FromContext(ctx); ok {
		s.actors[key.Name] = a.Name
	}
	s.mu.Unlock()
	return s.answer(key.Name, n)
}

func (s *scripted) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRunner runs a Runner over a real store: keys of existing and new
// objects are reconciled with the controller actor; a panic is recovered,
// logged and retried; a conflict is retried; a terminal error waits for a
// change of the object; status-only writes do not enqueue; RequeueAfter
// brings the key back on the injected clock; a watched other kind enqueues
// the keys its map function returns, without caching Secret data.
func TestRunner(t *testing.T) {
	db := openStore(t)
	clk := testingclock.NewFakeClock(time.Now())
	logs := &syncBuffer{}
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "kargo.akuity.io", Resource: "warehouses"}, "conflict", errors.New("modified"))
	rec := &scripted{calls: map[string]int{}, actors: map[string]string{}, answer: func(name string, call int) (Result, error) {
		switch {
		case name == "panics" && call == 1:
			var m map[string]int
			m["x"]++ // a nil-map write: a real panic
		case name == "conflict" && call == 1:
			return Result{}, conflict
		case name == "terminal":
			return Result{}, retry.Terminal(errors.New("invalid subscription"))
		case name == "periodic":
			return Result{RequeueAfter: time.Hour}, nil
		}
		return Result{}, nil
	}}
	mustCreate(t, db, rawWarehouse("p", "existing", "5m"))
	r, err := NewRunner(db, RunnerOptions{
		Kind:        "Warehouse",
		Reconciler:  rec,
		Workers:     1,
		Clock:       clk,
		RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[Key](time.Millisecond, time.Millisecond),
		Logger:      slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Watch(db, "Secret", "", nil, func(obj *unstructured.Unstructured) []Key {
		return r.Keys(obj.GetNamespace())
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m Manager
		m.Add(r)
		m.Start(ctx)()
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	poll(t, "the existing object reconciled", func() bool { return rec.count("existing") == 1 })
	rec.mu.Lock()
	actor := rec.actors["existing"]
	rec.mu.Unlock()
	if actor != identity.Controller.Name {
		t.Errorf("reconcile ran as actor %q, want %q", actor, identity.Controller.Name)
	}

	for _, n := range []string{"panics", "conflict", "terminal", "periodic"} {
		mustCreate(t, db, rawWarehouse("p", n, "5m"))
	}
	poll(t, "the panicking key retried after its backoff", func() bool {
		clk.Step(time.Millisecond)
		return rec.count("panics") == 2
	})
	poll(t, "the conflicting key retried", func() bool { return rec.count("conflict") == 2 })
	if !strings.Contains(logs.String(), "level=ERROR msg=\"reconciler panicked\"") {
		t.Errorf("the panic was not logged as an error:\n%s", logs)
	}
	poll(t, "the terminal key reconciled", func() bool { return rec.count("terminal") == 1 })

	// A status write does not enqueue; objects are reconciled in event order
	// by the one worker, so once "sentinel" is done, "terminal" would have been.
	term, err := db.Get(context.Background(), "Warehouse", "p", "terminal")
	if err != nil {
		t.Fatal(err)
	}
	term.Object["status"] = map[string]any{"observedGeneration": int64(1)}
	if _, err := db.UpdateStatus(context.Background(), term); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, db, rawWarehouse("p", "sentinel", "5m"))
	poll(t, "the sentinel reconciled", func() bool { return rec.count("sentinel") == 1 })
	if n := rec.count("terminal"); n != 1 {
		t.Errorf("terminal key reconciled %d times after a status write, want 1", n)
	}
	// A change of the desired state brings the terminal key back.
	term, _ = db.Get(context.Background(), "Warehouse", "p", "terminal")
	if err := unstructured.SetNestedField(term.Object, "10m", "spec", "interval"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Update(context.Background(), term); err != nil {
		t.Fatal(err)
	}
	poll(t, "the terminal key reconciled after a spec change", func() bool { return rec.count("terminal") == 2 })

	// RequeueAfter: the key comes back once the clock has moved an hour.
	poll(t, "the periodic key requeued on the clock", func() bool {
		clk.Step(time.Hour)
		return rec.count("periodic") >= 2
	})

	// A Secret in the project enqueues every Warehouse of the project.
	before := rec.count("existing")
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"namespace": "p", "name": "creds"},
		"stringData": map[string]any{"password": "hunter2"},
		"data":       map[string]any{"username": "dXNlcg=="},
	}}
	mustCreate(t, db, secret)
	poll(t, "a Secret change enqueues the project's Warehouses", func() bool { return rec.count("existing") > before })
	for _, obj := range r.triggers[0].GetStore().List() {
		u := obj.(*unstructured.Unstructured)
		if _, ok := u.Object["data"]; ok {
			t.Errorf("the Secret %s is cached with its data", u.GetName())
		}
		if _, ok := u.Object["stringData"]; ok {
			t.Errorf("the Secret %s is cached with its stringData", u.GetName())
		}
	}

	// Stopping: Start's wait returns once ctx is cancelled.
	cancel()
	select {
	case <-done:
	case <-time.After(deadline):
		t.Fatal("the manager did not stop after its context was cancelled")
	}
}
