package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/server"
	"github.com/caravan-dev/caravan/internal/store"
)

func TestHealthWithoutToken(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		r := e.doToken("", http.MethodGet, p, "")
		if r.code != http.StatusOK || string(r.body) != "ok" {
			t.Errorf("GET %s: %d %q, want 200 ok", p, r.code, r.body)
		}
	}
}

func TestUnauthorized(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, token, path string }{
		{"no token", "", stagePath("p", "")},
		{"wrong token", "not-the-token", stagePath("p", "")},
		{"apply without token", "", server.ApplyPath},
		{"discovery without token", "", "/apis"},
		{"unknown path without token", "", "/nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.doToken(tc.token, http.MethodGet, tc.path, "")
			if r.code != http.StatusUnauthorized {
				t.Fatalf("got %d, want 401: %s", r.code, r.body)
			}
			if s := r.status(t); s.Reason != metav1.StatusReasonUnauthorized || s.Code != 401 {
				t.Errorf("Status %+v", s)
			}
			if strings.Contains(string(r.body), e.token) {
				t.Error("the answer contains the token")
			}
		})
	}
	// The scheme is case-insensitive, as in RFC 7235.
	if r := e.doToken("", http.MethodGet, stagePath("p", ""), "", "Authorization", "bearer "+e.token); r.code != http.StatusOK {
		t.Errorf("lowercase bearer: %d %s", r.code, r.body)
	}
}

func TestAdminTokenFile(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(e.dataDir, server.AdminTokenFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if e.server.AdminTokenPath() != path {
		t.Errorf("AdminTokenPath %q, want %q", e.server.AdminTokenPath(), path)
	}
	// A second start reuses the token.
	var logs strings.Builder
	_, err = server.New(server.Options{Store: e.store, DataDir: e.dataDir,
		Logger: slogTo(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	tok, created, err := server.LoadOrCreateAdminToken(e.dataDir)
	if err != nil || created || tok != e.token {
		t.Errorf("token %q created=%v err=%v; want the first one reused", tok, created, err)
	}
	if !strings.Contains(logs.String(), path) || strings.Contains(logs.String(), e.token) {
		t.Errorf("log should name the token file and not the token: %s", logs.String())
	}
}

// actorStore records the actor in the context of each write.
type actorStore struct {
	store.Store
	mu     sync.Mutex
	actors []identity.Actor
}

func (s *actorStore) Create(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	a, _ := identity.FromContext(ctx)
	s.mu.Lock()
	s.actors = append(s.actors, a)
	s.mu.Unlock()
	return s.Store.Create(ctx, obj)
}

func TestActorInContext(t *testing.T) {
	var rec *actorStore
	e := newEnv(t, func(o *server.Options) { rec = &actorStore{Store: o.Store}; o.Store = rec })
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "dev", nil))
	e.must(http.StatusOK, http.MethodPost, server.ApplyPath, stageJSON("p", "uat", nil))
	want := identity.Actor{Name: "admin", Admin: true}
	if len(rec.actors) != 2 || rec.actors[0] != want || rec.actors[1] != want {
		t.Errorf("actors %+v, want admin twice", rec.actors)
	}
}

func TestCRUDPathShapes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, collection, all, kind, listKind string
		body                                  string
		update                                func(m map[string]any)
		deleteStatus                          bool
	}{
		{
			name: "namespaced kargo kind", collection: stagePath("p1", ""), all: kargo + "/stages",
			kind: "Stage", listKind: "StageList", body: stageJSON("p1", "dev", nil),
			update: func(m map[string]any) { m["spec"].(map[string]any)["shard"] = "east" },
		},
		{
			name: "cluster-scoped kind", collection: kargo + "/projects", all: kargo + "/projects",
			kind: "Project", listKind: "ProjectList",
			body:   `{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Project","metadata":{"name":"p1"}}`,
			update: func(m map[string]any) { m["spec"] = map[string]any{"x": "y"} },
		},
		{
			name: "core kind, YAML body", collection: "/api/v1/namespaces/p1/configmaps", all: "/api/v1/configmaps",
			kind: "ConfigMap", listKind: "ConfigMapList",
			body:         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: \"1\"\n",
			update:       func(m map[string]any) { m["data"] = map[string]any{"a": "2"} },
			deleteStatus: true,
		},
		{
			name: "rollouts kind, kind and apiVersion filled in", collection: "/apis/argoproj.io/v1alpha1/namespaces/p1/analysistemplates",
			all: "/apis/argoproj.io/v1alpha1/analysistemplates", kind: "AnalysisTemplate", listKind: "AnalysisTemplateList",
			body:   `{"metadata":{"name":"at"},"spec":{"metrics":[{"name":"m"}]}}`,
			update: func(m map[string]any) { m["spec"].(map[string]any)["args"] = []any{map[string]any{"name": "a"}} },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			created := e.must(http.StatusCreated, http.MethodPost, tc.collection, tc.body).object(t)
			name := created.GetName()
			if created.GetKind() != tc.kind || created.GetUID() == "" || created.GetResourceVersion() == "" {
				t.Fatalf("created %v", created.Object)
			}
			item := tc.collection + "/" + name
			got := e.must(http.StatusOK, http.MethodGet, item, "").object(t)
			if got.GetUID() != created.GetUID() {
				t.Errorf("GET uid %s, want %s", got.GetUID(), created.GetUID())
			}

			tc.update(got.Object)
			b, _ := json.Marshal(got.Object)
			updated := e.must(http.StatusOK, http.MethodPut, item, string(b)).object(t)
			if updated.GetResourceVersion() == created.GetResourceVersion() {
				t.Error("update kept the resourceVersion")
			}
			// A stale resourceVersion is a Conflict.
			if s := e.must(http.StatusConflict, http.MethodPut, item, string(b)).status(t); s.Reason != metav1.StatusReasonConflict {
				t.Errorf("stale update: %+v", s)
			}

			for _, p := range []string{tc.collection, tc.all} {
				var list struct {
					APIVersion string                   `json:"apiVersion"`
					Kind       string                   `json:"kind"`
					Metadata   metav1.ListMeta          `json:"metadata"`
					Items      []map[string]interface{} `json:"items"`
				}
				r := e.must(http.StatusOK, http.MethodGet, p, "")
				if err := json.Unmarshal(r.body, &list); err != nil {
					t.Fatalf("list %s: %v: %s", p, err, r.body)
				}
				if list.Kind != tc.listKind || list.APIVersion != created.GetAPIVersion() || list.Metadata.ResourceVersion == "" || len(list.Items) != 1 {
					t.Errorf("list %s: %s", p, r.body)
				}
			}

			r := e.must(http.StatusOK, http.MethodDelete, item, "")
			if tc.deleteStatus {
				if s := r.status(t); s.Status != metav1.StatusSuccess || s.Details.Name != name {
					t.Errorf("delete answered %s", r.body)
				}
			} else if o := r.object(t); o.GetName() != name {
				t.Errorf("delete answered %s", r.body)
			}
			if s := e.must(http.StatusNotFound, http.MethodGet, item, "").status(t); s.Reason != metav1.StatusReasonNotFound || s.Details == nil || s.Details.Name != name {
				t.Errorf("GET after delete: %+v", s)
			}
		})
	}
}

func TestStatusSubresource(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "dev", nil))
	obj := e.must(http.StatusOK, http.MethodGet, stagePath("p", "dev"), "").object(t)

	obj.Object["status"] = map[string]any{"phase": "Steady"}
	b, _ := json.Marshal(obj.Object)
	out := e.must(http.StatusOK, http.MethodPut, stagePath("p", "dev")+"/status", string(b)).object(t)
	if phase, _, _ := unstructured.NestedString(out.Object, "status", "phase"); phase != "Steady" {
		t.Fatalf("status after PUT /status: %v", out.Object["status"])
	}
	// The main path keeps status.
	out.Object["status"] = map[string]any{"phase": "Other"}
	b, _ = json.Marshal(out.Object)
	out = e.must(http.StatusOK, http.MethodPut, stagePath("p", "dev"), string(b)).object(t)
	if phase, _, _ := unstructured.NestedString(out.Object, "status", "phase"); phase != "Steady" {
		t.Errorf("PUT on the main path changed status: %v", out.Object["status"])
	}
	// Merge patch on /status.
	out = e.must(http.StatusOK, http.MethodPatch, stagePath("p", "dev")+"/status",
		`{"status":{"message":"hello"}}`, "Content-Type", "application/merge-patch+json").object(t)
	st, _, _ := unstructured.NestedStringMap(out.Object, "status")
	if st["phase"] != "Steady" || st["message"] != "hello" {
		t.Errorf("status after patch: %v", st)
	}
	got := e.must(http.StatusOK, http.MethodGet, stagePath("p", "dev")+"/status", "").object(t)
	if got.GetName() != "dev" {
		t.Errorf("GET /status: %v", got.Object)
	}
	// Kinds without status have no /status.
	e.must(http.StatusNotFound, http.MethodGet, kargo+"/namespaces/p/promotiontasks/t/status", "")
}

func TestMergePatch(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "dev", map[string]string{"a": "1", "b": "2"}))
	const mp = "application/merge-patch+json"
	out := e.must(http.StatusOK, http.MethodPatch, stagePath("p", "dev"),
		`{"metadata":{"labels":{"a":null,"c":"3"}},"spec":{"shard":"east"}}`, "Content-Type", mp).object(t)
	if l := out.GetLabels(); len(l) != 2 || l["b"] != "2" || l["c"] != "3" {
		t.Errorf("labels %v", l)
	}
	if s, _, _ := unstructured.NestedString(out.Object, "spec", "shard"); s != "east" {
		t.Errorf("spec %v", out.Object["spec"])
	}
	if rf, _, _ := unstructured.NestedSlice(out.Object, "spec", "requestedFreight"); len(rf) != 1 {
		t.Errorf("patch lost spec.requestedFreight: %v", out.Object["spec"])
	}
	if out.GetGeneration() != 2 {
		t.Errorf("generation %d, want 2", out.GetGeneration())
	}

	for _, tc := range []struct {
		name, body, ct string
		code           int
		reason         metav1.StatusReason
	}{
		{"strategic merge patch", `{}`, "application/strategic-merge-patch+json", 415, metav1.StatusReasonUnsupportedMediaType},
		{"JSON patch", `[]`, "application/json-patch+json", 415, metav1.StatusReasonUnsupportedMediaType},
		{"stale resourceVersion", `{"metadata":{"resourceVersion":"1"}}`, mp, 409, metav1.StatusReasonConflict},
		{"renaming", `{"metadata":{"name":"other"}}`, mp, 400, metav1.StatusReasonBadRequest},
		{"not an object", `[1]`, mp, 400, metav1.StatusReasonBadRequest},
		{"undecodable", `{"spec":`, mp, 400, metav1.StatusReasonBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := e.must(tc.code, http.MethodPatch, stagePath("p", "dev"), tc.body, "Content-Type", tc.ct).status(t)
			if s.Reason != tc.reason {
				t.Errorf("reason %q, want %q: %s", s.Reason, tc.reason, s.Message)
			}
		})
	}
	e.must(http.StatusNotFound, http.MethodPatch, stagePath("p", "nope"), `{}`, "Content-Type", mp)
}

func TestSelectors(t *testing.T) {
	e := newEnv(t)
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "dev", map[string]string{"tier": "test"}))
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "uat", map[string]string{"tier": "test"}))
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "prod", map[string]string{"tier": "prod"}))
	e.must(http.StatusCreated, http.MethodPost, stagePath("q", ""), stageJSON("q", "dev", map[string]string{"tier": "test"}))
	names := func(path string) []string {
		var list struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal(e.must(http.StatusOK, http.MethodGet, path, "").body, &list); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range list.Items {
			u := unstructured.Unstructured{Object: it}
			out = append(out, u.GetNamespace()+"/"+u.GetName())
		}
		return out
	}
	for _, tc := range []struct{ path, want string }{
		{stagePath("p", "") + "?labelSelector=tier%3Dtest", "p/dev p/uat"},
		{kargo + "/stages?labelSelector=tier%3Dtest", "p/dev p/uat q/dev"},
		{kargo + "/stages?labelSelector=tier+notin+(test)", "p/prod"},
		{kargo + "/stages?fieldSelector=metadata.name%3Ddev", "p/dev q/dev"},
		{kargo + "/stages?fieldSelector=metadata.namespace%3Dq", "q/dev"},
		{stagePath("p", ""), "p/dev p/prod p/uat"},
		{kargo + "/stages?labelSelector=none%3Dx", ""},
		{kargo + "/namespaces/empty/stages", ""},
	} {
		if got := strings.Join(names(tc.path), " "); got != tc.want {
			t.Errorf("GET %s: %q, want %q", tc.path, got, tc.want)
		}
	}
	for _, q := range []string{"labelSelector=%3D%3D%3D", "fieldSelector=spec.shard%3Dx"} {
		if s := e.must(http.StatusBadRequest, http.MethodGet, kargo+"/stages?"+q, "").status(t); s.Reason != metav1.StatusReasonBadRequest {
			t.Errorf("%s: %+v", q, s)
		}
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, func(o *server.Options) { o.MaxBodyBytes = 4096 })
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "dev", nil))

	for _, tc := range []struct {
		name, method, path, body string
		code                     int
		reason                   metav1.StatusReason
		inMessage                string
	}{
		{"unknown resource", "GET", kargo + "/namespaces/p/widgets", "", 404, metav1.StatusReasonNotFound, "could not find"},
		{"unknown version", "GET", "/apis/kargo.akuity.io/v1/namespaces/p/stages", "", 404, metav1.StatusReasonNotFound, ""},
		{"unknown group", "GET", "/apis/example.com/v1/things", "", 404, metav1.StatusReasonNotFound, ""},
		{"unknown top path", "GET", "/nope", "", 404, metav1.StatusReasonNotFound, ""},
		{"namespaces resource", "GET", kargo + "/namespaces/p", "", 404, metav1.StatusReasonNotFound, ""},
		{"namespaced kind without namespace", "GET", kargo + "/stages/dev", "", 404, metav1.StatusReasonNotFound, ""},
		{"cluster kind in a namespace", "GET", kargo + "/namespaces/p/projects/x", "", 404, metav1.StatusReasonNotFound, ""},
		{"unknown subresource", "GET", stagePath("p", "dev") + "/scale", "", 404, metav1.StatusReasonNotFound, ""},
		{"missing object", "GET", stagePath("p", "nope"), "", 404, metav1.StatusReasonNotFound, "nope"},
		{"already exists", "POST", stagePath("p", ""), stageJSON("p", "dev", nil), 409, metav1.StatusReasonAlreadyExists, "dev"},
		{"no name", "POST", stagePath("p", ""), `{"kind":"Stage","metadata":{}}`, 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"undecodable", "POST", stagePath("p", ""), `{"kind":`, 400, metav1.StatusReasonBadRequest, ""},
		{"not an object", "POST", stagePath("p", ""), `[]`, 400, metav1.StatusReasonBadRequest, ""},
		{"empty body", "POST", stagePath("p", ""), ``, 400, metav1.StatusReasonBadRequest, "empty"},
		{"kind mismatch", "POST", stagePath("p", ""), `{"kind":"Warehouse","metadata":{"name":"x"}}`, 400, metav1.StatusReasonBadRequest, "Warehouse"},
		{"apiVersion mismatch", "POST", stagePath("p", ""), `{"apiVersion":"v1","kind":"Stage","metadata":{"name":"x"}}`, 400, metav1.StatusReasonBadRequest, "apiVersion"},
		{"namespace mismatch", "POST", stagePath("p", ""), stageJSON("q", "x", nil), 400, metav1.StatusReasonBadRequest, "namespace"},
		{"name mismatch", "PUT", stagePath("p", "dev"), stageJSON("p", "x", nil), 400, metav1.StatusReasonBadRequest, "name"},
		{"too large", "POST", stagePath("p", ""), `{"metadata":{"name":"x"},"spec":{"a":"` + strings.Repeat("x", 5000) + `"}}`, 413, metav1.StatusReasonRequestEntityTooLarge, "4096"},
		{"too large apply", "POST", server.ApplyPath, strings.Repeat("# comment\n", 500), 413, metav1.StatusReasonRequestEntityTooLarge, ""},
		{"create on all namespaces", "POST", kargo + "/stages", stageJSON("p", "x", nil), 405, metav1.StatusReasonMethodNotAllowed, ""},
		{"post on an object", "POST", stagePath("p", "dev"), stageJSON("p", "dev", nil), 405, metav1.StatusReasonMethodNotAllowed, ""},
		{"delete a collection", "DELETE", stagePath("p", ""), "", 405, metav1.StatusReasonMethodNotAllowed, ""},
		{"delete status", "DELETE", stagePath("p", "dev") + "/status", "", 405, metav1.StatusReasonMethodNotAllowed, ""},
		{"get apply", "GET", server.ApplyPath, "", 405, metav1.StatusReasonMethodNotAllowed, ""},
		{"dry run", "POST", stagePath("p", "") + "?dryRun=All", stageJSON("p", "y", nil), 400, metav1.StatusReasonBadRequest, "dryRun"},
		{"delete precondition", "DELETE", stagePath("p", "dev"), `{"preconditions":{"uid":"not-it"}}`, 409, metav1.StatusReasonConflict, ""},
		{"watch=maybe", "GET", stagePath("p", "") + "?watch=maybe", "", 400, metav1.StatusReasonBadRequest, "watch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.must(tc.code, tc.method, tc.path, tc.body)
			s := r.status(t)
			if s.Reason != tc.reason || int(s.Code) != tc.code || s.Status != metav1.StatusFailure {
				t.Errorf("Status %s, want reason %s", r.body, tc.reason)
			}
			if !strings.Contains(s.Message, tc.inMessage) {
				t.Errorf("message %q does not mention %q", s.Message, tc.inMessage)
			}
			if tc.code == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
	// After all that, dev is still there, unchanged.
	if o := e.must(http.StatusOK, http.MethodGet, stagePath("p", "dev"), "").object(t); o.GetGeneration() != 1 {
		t.Errorf("dev changed: %v", o.Object)
	}
}

func TestGenerateName(t *testing.T) {
	e := newEnv(t)
	body := `{"metadata":{"generateName":"dev-"},"spec":{"requestedFreight":[]}}`
	a := e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), body).object(t)
	b := e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), body).object(t)
	if !strings.HasPrefix(a.GetName(), "dev-") || len(a.GetName()) != len("dev-")+5 || a.GetName() == b.GetName() {
		t.Errorf("generated names %q and %q", a.GetName(), b.GetName())
	}
}

func TestDeletePreconditions(t *testing.T) {
	e := newEnv(t)
	obj := e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), stageJSON("p", "dev", nil)).object(t)
	body := `{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"` + string(obj.GetUID()) + `","resourceVersion":"` + obj.GetResourceVersion() + `"}}`
	e.must(http.StatusOK, http.MethodDelete, stagePath("p", "dev"), body)
	e.must(http.StatusNotFound, http.MethodDelete, stagePath("p", "dev"), "")
}

func TestDeleteWithFinalizers(t *testing.T) {
	e := newEnv(t)
	body := `{"metadata":{"name":"dev","finalizers":["example.com/hold"]},"spec":{}}`
	e.must(http.StatusCreated, http.MethodPost, stagePath("p", ""), body)
	out := e.must(http.StatusOK, http.MethodDelete, stagePath("p", "dev"), "").object(t)
	if out.GetDeletionTimestamp() == nil {
		t.Errorf("delete of an object with finalizers should answer it marked for deletion: %v", out.Object)
	}
	e.must(http.StatusOK, http.MethodGet, stagePath("p", "dev"), "")
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	var groups metav1.APIGroupList
	if err := json.Unmarshal(e.must(http.StatusOK, http.MethodGet, "/apis", "").body, &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups.Groups) != 2 || groups.Groups[0].Name != "kargo.akuity.io" {
		t.Errorf("groups %+v", groups.Groups)
	}
	var res metav1.APIResourceList
	if err := json.Unmarshal(e.must(http.StatusOK, http.MethodGet, kargo, "").body, &res); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, r := range res.APIResources {
		found[r.Name] = r.Namespaced
	}
	if ns, ok := found["stages"]; !ok || !ns {
		t.Errorf("stages missing or not namespaced: %+v", res)
	}
	if _, ok := found["stages/status"]; !ok {
		t.Errorf("stages/status missing: %+v", res)
	}
	if ns, ok := found["projects"]; !ok || ns {
		t.Errorf("projects missing or namespaced: %+v", res)
	}
	e.must(http.StatusOK, http.MethodGet, "/api", "")
	e.must(http.StatusOK, http.MethodGet, "/api/v1", "")
	e.must(http.StatusOK, http.MethodGet, "/apis/argoproj.io", "")
	e.must(http.StatusNotFound, http.MethodGet, "/apis/example.com/v1", "")
}

// failingStore fails reads with an error that is not an API error and
// carries text that must not reach the client; or panics.
type failingStore struct {
	store.Store
	panics bool
}

func (s failingStore) Get(ctx context.Context, kind, namespace, name string) (*unstructured.Unstructured, error) {
	if s.panics {
		panic("boom with s3cr3t")
	}
	return nil, errors.New("query failed near password=s3cr3t")
}

func TestInternalErrorsLeakNothing(t *testing.T) {
	for _, panics := range []bool{false, true} {
		var logs strings.Builder
		e := newEnv(t, func(o *server.Options) {
			o.Store = failingStore{Store: o.Store, panics: panics}
			o.Logger = slogTo(&logs)
		})
		r := e.must(http.StatusInternalServerError, http.MethodGet, stagePath("p", "dev"), "")
		if s := r.status(t); s.Reason != metav1.StatusReasonInternalError || strings.Contains(string(r.body), "s3cr3t") {
			t.Errorf("panics=%v: %s", panics, r.body)
		}
		if !strings.Contains(logs.String(), "s3cr3t") {
			t.Errorf("panics=%v: the cause was not logged: %s", panics, logs.String())
		}
	}
}

func TestRequestLogging(t *testing.T) {
	var logs strings.Builder
	e := newEnv(t, func(o *server.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	secret := `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"stringData":{"password":"hunter2"}}`
	e.must(http.StatusCreated, http.MethodPost, "/api/v1/namespaces/p/secrets", secret)
	out := logs.String()
	for _, want := range []string{"method=POST", "path=/api/v1/namespaces/p/secrets", "code=201", "duration="} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("the log holds Secret data: %s", out)
	}
}

func TestNonStringMetadataValues(t *testing.T) {
	e := newEnv(t)
	body := "apiVersion: kargo.akuity.io/v1alpha1\nkind: Stage\nmetadata:\n  name: dev\n  namespace: p\n  annotations:\n    enabled: yes\nspec: {}\n"
	s := e.must(http.StatusBadRequest, http.MethodPost, stagePath("p", ""), body).status(t)
	if !strings.Contains(s.Message, "metadata.annotations.enabled") || !strings.Contains(s.Message, "quote") {
		t.Errorf("message %q", s.Message)
	}
	rs := e.apply(body)
	if len(rs) != 1 || rs[0].Status == nil || rs[0].Status.Code != 400 {
		t.Errorf("apply: %+v", rs)
	}
	e.must(http.StatusNotFound, http.MethodGet, stagePath("p", "dev"), "")
}
