package apiclient

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/caravan-dev/caravan/internal/kinds"
)

func TestPath(t *testing.T) {
	tests := []struct {
		kind, ns, name, want string
	}{
		{"Stage", "demo", "uat", "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/stages/uat"},
		{"Stage", "demo", "", "/apis/kargo.akuity.io/v1alpha1/namespaces/demo/stages"},
		{"Project", "ignored", "demo", "/apis/kargo.akuity.io/v1alpha1/projects/demo"},
		{"Secret", "demo", "creds", "/api/v1/namespaces/demo/secrets/creds"},
		{"AnalysisTemplate", "demo", "", "/apis/argoproj.io/v1alpha1/namespaces/demo/analysistemplates"},
		{"Freight", "", "", "/apis/kargo.akuity.io/v1alpha1/freights"},
	}
	for _, tt := range tests {
		if got := Path(kinds.ByKind(tt.kind), tt.ns, tt.name); got != tt.want {
			t.Errorf("Path(%s, %q, %q) = %s, want %s", tt.kind, tt.ns, tt.name, got, tt.want)
		}
	}
}

// fakeAPI answers like the Caravan API for the few paths the tests use.
func fakeAPI(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer good" {
				writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /apis/kargo.akuity.io/v1alpha1/namespaces/demo/stages/{name}", auth(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") != "uat" {
			writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, `stages.kargo.akuity.io "`+r.PathValue("name")+`" not found`)
			return
		}
		_, _ = io.WriteString(w, `{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Stage","metadata":{"name":"uat","namespace":"demo"}}`)
	}))
	mux.HandleFunc("GET /apis/kargo.akuity.io/v1alpha1/namespaces/demo/stages", auth(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") == "true" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"type":"ADDED","object":{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Stage","metadata":{"name":"uat"}}}`+"\n")
			_, _ = io.WriteString(w, `{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,"message":"too old"}}`+"\n")
			return
		}
		if r.URL.Query().Get("labelSelector") != "a=b" {
			t.Errorf("labelSelector = %q", r.URL.Query().Get("labelSelector"))
		}
		_, _ = io.WriteString(w, `{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"StageList","metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}`)
	}))
	mux.HandleFunc("POST /caravan/v1/apply", auth(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), "kind: Stage") {
			t.Errorf("apply body %q", body)
		}
		_, _ = io.WriteString(w, `{"results":[{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Stage","namespace":"demo","name":"uat","action":"created"},`+
			`{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Stage","namespace":"demo","name":"bad","status":{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Invalid","code":422,"message":"Stage.kargo.akuity.io \"bad\" is invalid"}}]}`)
	}))
	mux.HandleFunc("DELETE /apis/kargo.akuity.io/v1alpha1/projects/demo", auth(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "boom\n")
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Reason: reason, Code: int32(code), Message: msg,
	})
}

func TestClient(t *testing.T) {
	srv := fakeAPI(t)
	ctx := context.Background()
	stage := kinds.ByKind("Stage")
	c, err := New(Config{Server: srv.URL + "/", Token: "good"})
	if err != nil {
		t.Fatal(err)
	}

	obj, err := c.Get(ctx, stage, "demo", "uat")
	if err != nil || obj.GetName() != "uat" {
		t.Fatalf("Get = %v, %v", obj, err)
	}
	_, err = c.Get(ctx, stage, "demo", "nope")
	if !apierrors.IsNotFound(err) || err.Error() != `stages.kargo.akuity.io "nope" not found` {
		t.Errorf("Get missing: err = %v, want the server's NotFound", err)
	}

	list, err := c.List(ctx, stage, "demo", ListOptions{LabelSelector: "a=b"})
	if err != nil || len(list.Items) != 2 || list.GetResourceVersion() != "7" || list.Items[0].GetKind() != "Stage" {
		t.Errorf("List = %+v, %v", list, err)
	}

	resp, err := c.Apply(ctx, []byte("kind: Stage\n"))
	if err != nil || len(resp.Results) != 2 {
		t.Fatalf("Apply = %+v, %v", resp, err)
	}
	if resp.Results[0].Action != "created" || resp.Results[0].Err() != nil {
		t.Errorf("result 0 = %+v", resp.Results[0])
	}
	if err := resp.Results[1].Err(); !apierrors.IsInvalid(err) {
		t.Errorf("result 1 err = %v, want Invalid", err)
	}

	err = c.Delete(ctx, kinds.ByKind("Project"), "", "demo")
	if apierrors.ReasonForError(err) != metav1.StatusReasonInternalError || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Delete: err = %v, want an InternalError carrying the body", err)
	}

	w, err := c.Watch(ctx, stage, "demo", WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []watch.EventType
	for ev := range w.ResultChan() {
		got = append(got, ev.Type)
		if ev.Type == watch.Error {
			if st, ok := ev.Object.(*metav1.Status); !ok || st.Code != 410 {
				t.Errorf("ERROR object = %#v", ev.Object)
			}
		}
	}
	if len(got) != 2 || got[0] != watch.Added || got[1] != watch.Error {
		t.Errorf("watch events %v, want ADDED, ERROR", got)
	}

	anon, _ := New(Config{Server: srv.URL})
	_, err = anon.Get(ctx, stage, "demo", "uat")
	if !apierrors.IsUnauthorized(err) || !strings.Contains(err.Error(), "--token") {
		t.Errorf("no token: err = %v, want Unauthorized with a hint", err)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:8080", "ftp://x", "http://"} {
		if _, err := New(Config{Server: u}); err == nil {
			t.Errorf("New(%q): want an error", u)
		}
	}
}
