package server_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/server"
	"github.com/caravan-dev/caravan/internal/store"
	"github.com/caravan-dev/caravan/internal/store/sqlite"
)

// env is a server over a real SQLite store, served by httptest.
type env struct {
	t       testing.TB
	store   store.Store
	srv     *httptest.Server
	server  *server.Server
	token   string
	dataDir string
}

func newEnv(t testing.TB, mods ...func(*server.Options)) *env {
	t.Helper()
	return newEnvWithStore(t, nil, mods...)
}

func newEnvWithStore(t testing.TB, storeOpts []sqlite.Option, mods ...func(*server.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "caravan.db"), append([]sqlite.Option{sqlite.WithSynchronous("NORMAL")}, storeOpts...)...)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	opts := server.Options{
		Store:     st,
		DataDir:   filepath.Join(dir, "data"),
		Logger:    slog.New(slog.DiscardHandler),
		FreightID: freightID,
	}
	for _, m := range mods {
		m(&opts)
	}
	s, err := server.New(opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	token, _, err := server.LoadOrCreateAdminToken(opts.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: opts.Store, srv: srv, server: s, token: token, dataDir: opts.DataDir}
}

// freightID computes a Freight's ID with api/v1alpha1, as main wires it.
func freightID(obj *unstructured.Unstructured) (string, error) {
	b, err := json.Marshal(obj.Object)
	if err != nil {
		return "", err
	}
	var f v1alpha1.Freight
	if err := json.Unmarshal(b, &f); err != nil {
		return "", err
	}
	return f.GenerateID(), nil
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r *response) status(t testing.TB) metav1.Status {
	t.Helper()
	var s metav1.Status
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("decode Status from %s: %v", r.body, err)
	}
	if s.Kind != "Status" || s.APIVersion != "v1" {
		t.Fatalf("not a Status: %s", r.body)
	}
	return s
}

func (r *response) object(t testing.TB) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := utiljson.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode object from %s: %v", r.body, err)
	}
	return &unstructured.Unstructured{Object: m}
}

// do sends a request with the admin token; hdr are header name/value pairs.
func (e *env) do(method, path, body string, hdr ...string) *response {
	e.t.Helper()
	return e.doToken(e.token, method, path, body, hdr...)
}

func (e *env) doToken(token, method, path, body string, hdr ...string) *response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &response{code: resp.StatusCode, header: resp.Header, body: b}
}

// must sends a request and fails the test unless it answers code.
func (e *env) must(code int, method, path, body string, hdr ...string) *response {
	e.t.Helper()
	r := e.do(method, path, body, hdr...)
	if r.code != code {
		e.t.Fatalf("%s %s: got %d, want %d: %s", method, path, r.code, code, r.body)
	}
	return r
}

const kargo = "/apis/kargo.akuity.io/v1alpha1"

func stagePath(ns, name string) string {
	p := kargo + "/namespaces/" + ns + "/stages"
	if name != "" {
		p += "/" + name
	}
	return p
}

func stageJSON(ns, name string, labels map[string]string) string {
	obj := map[string]any{
		"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"requestedFreight": []any{map[string]any{
				"origin":  map[string]any{"kind": "Warehouse", "name": "shop"},
				"sources": map[string]any{"direct": true},
			}},
		},
	}
	if labels != nil {
		obj["metadata"].(map[string]any)["labels"] = labels
	}
	b, _ := json.Marshal(obj)
	return string(b)
}
