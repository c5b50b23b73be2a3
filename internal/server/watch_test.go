package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/store/sqlite"
)

// testDeadline bounds every wait for a watch event; reaching it fails the test.
const testDeadline = 10 * time.Second

type watchEvent struct {
	Type   string         `json:"type"`
	Object map[string]any `json:"object"`
}

func (ev watchEvent) name() string {
	return (&unstructured.Unstructured{Object: ev.Object}).GetName()
}

// lineWatcher reads a watch stream line by line, as a plain HTTP client.
type lineWatcher struct {
	events chan watchEvent
	errs   chan error
	cancel context.CancelFunc
}

func (e *env) watch(path string) *lineWatcher {
	e.t.Helper()
	return watchURL(e.t, e.srv.URL+path, e.token)
}

func watchURL(t testing.TB, url, token string) *lineWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("watch Content-Type %q", ct)
	}
	w := &lineWatcher{events: make(chan watchEvent, 100), errs: make(chan error, 1), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		defer close(w.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var ev watchEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				w.errs <- err
				return
			}
			w.events <- ev
		}
	}()
	return w
}

func (w *lineWatcher) next(t testing.TB) watchEvent {
	t.Helper()
	select {
	case ev, ok := <-w.events:
		if !ok {
			t.Fatal("the watch ended")
		}
		return ev
	case err := <-w.errs:
		t.Fatalf("watch stream: %v", err)
	case <-time.After(testDeadline):
		t.Fatal("no watch event in time")
	}
	return watchEvent{}
}

// expect reads the next event, skipping idle bookmarks, and checks it.
func (w *lineWatcher) expect(t testing.TB, typ, name string) watchEvent {
	t.Helper()
	for {
		ev := w.next(t)
		if ev.Type == "BOOKMARK" && typ != "BOOKMARK" {
			continue
		}
		if ev.Type != typ || (name != "" && ev.name() != name) {
			t.Fatalf("event %s %s, want %s %s", ev.Type, ev.name(), typ, name)
		}
		return ev
	}
}

// expectEnd waits for the stream to end.
func (w *lineWatcher) expectEnd(t testing.TB) {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		select {
		case ev, ok := <-w.events:
			if !ok {
				return
			}
			if ev.Type != "BOOKMARK" {
				t.Fatalf("unexpected event %s %s", ev.Type, ev.name())
			}
		case <-deadline:
			t.Fatal("the watch did not end")
		}
	}
}

func listRV(t testing.TB, e *env, path string) string {
	t.Helper()
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(e.must(http.StatusOK, http.MethodGet, path, "").body, &list); err != nil {
		t.Fatal(err)
	}
	return list.Metadata.ResourceVersion
}

func TestWatchFromResourceVersion(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "dev", nil))
	rv := listRV(t, e, stagePath("p", ""))
	w := e.watch(stagePath("p", "") + "?watch=true&resourceVersion=" + rv)

	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "uat", nil))
	e.must(http.StatusOK, http.MethodPatch, stagePath("p", "uat"), `{"metadata":{"labels":{"a":"b"}}}`, "Content-Type", "application/merge-patch+json")
	e.must(http.StatusOK, http.MethodDelete, stagePath("p", "uat"), "")

	w.expect(t, "ADDED", "uat")
	ev := w.expect(t, "MODIFIED", "uat")
	if l := (&unstructured.Unstructured{Object: ev.Object}).GetLabels(); l["a"] != "b" {
		t.Errorf("MODIFIED object labels %v", l)
	}
	w.expect(t, "DELETED", "uat")
}

func TestWatchInitialEvents(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "dev", nil))
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "uat", nil))
	w := e.watch(stagePath("p", "") + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&resourceVersion=")
	w.expect(t, "ADDED", "dev")
	w.expect(t, "ADDED", "uat")
	bm := w.expect(t, "BOOKMARK", "")
	md, _ := bm.Object["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	if ann["k8s.io/initial-events-end"] != "true" || md["resourceVersion"] == "" {
		t.Errorf("bookmark %v", bm.Object)
	}
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "prod", nil))
	w.expect(t, "ADDED", "prod")
}

func TestWatchWithoutResourceVersion(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "dev", nil))
	e.must(http.StatusCreated, http.MethodPost, stagePath("q", ""), stageJSON("q", "dev", map[string]string{"x": "y"}))
	// Across namespaces, with a label selector.
	w := e.watch(kargo + "/stages?watch=true&labelSelector=x%3Dy")
	ev := w.expect(t, "ADDED", "dev")
	if ns := (&unstructured.Unstructured{Object: ev.Object}).GetNamespace(); ns != "q" {
		t.Errorf("got q/dev's event for %s", ns)
	}
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "uat", nil))
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "prod", map[string]string{"x": "y"}))
	w.expect(t, "ADDED", "prod")
}

func TestWatchTimeout(t *testing.T) {
	e := newEnv(t)
	w := e.watch(stagePath("p", "") + "?watch=true&timeoutSeconds=1")
	w.expectEnd(t)
}

func TestWatchExpired(t *testing.T) {
	e := newEnvWithStore(t, []sqlite.Option{sqlite.WithHistory(1, 0)})
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "first", nil))
	rv := listRV(t, e, stagePath("p", ""))
	for _, n := range []string{"a", "b", "c"} {
		e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", n, nil))
	}
	w := e.watch(stagePath("p", "") + "?watch=true&resourceVersion=" + rv)
	ev := w.expect(t, "ERROR", "")
	if ev.Object["kind"] != "Status" || ev.Object["code"] != float64(410) || ev.Object["reason"] != "Expired" {
		t.Errorf("ERROR event %v", ev.Object)
	}
	w.expectEnd(t)
}

func TestListenAndServeShutdownEndsWatches(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() { errc <- e.server.ListenAndServe(ctx, "127.0.0.1:0", func(a net.Addr) { addrc <- a }) }()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("ListenAndServe: %v", err)
	}
	base := "http://" + addr.String()
	resp, err := http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	w := watchURL(t, base+stagePath("p", "")+"?watch=true", e.token)
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "dev", nil))
	w.expect(t, "ADDED", "dev")

	cancel()
	w.expectEnd(t)
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("ListenAndServe returned %v after cancel", err)
		}
	case <-time.After(testDeadline):
		t.Fatal("ListenAndServe did not return")
	}
	if _, err := http.Get(base + "/readyz"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("still serving after shutdown: %v", err)
	}
}
