package steps

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

func TestHTTPValidation(t *testing.T) {
	checkValidation(t, NewHTTP(nil), []validationCase{
		{name: "valid", config: `{url: "https://example.com", method: POST, timeout: 5s, pollInterval: 1m, successExpression: "response.status == 200"}`},
		{name: "url missing", config: `{method: GET}`, want: "missing property 'url'"},
		{name: "lower-case method", config: `{url: "https://example.com", method: get}`, want: "/method"},
		{name: "header without value", config: `{url: "https://example.com", headers: [{name: X-A}]}`, want: "missing property 'value'"},
		{name: "bad timeout", config: `{url: "https://example.com", timeout: soon}`, want: "/timeout"},
		{name: "bad content type", config: `{url: "https://example.com", responseContentType: text/html}`, want: "/responseContentType"},
		{name: "proxy without scheme", config: `{url: "https://example.com", proxy: "proxy:3128"}`, want: "/proxy"},
		{name: "output without expression", config: `{url: "https://example.com", outputs: [{name: a}]}`, want: "missing property 'fromExpression'"},
		{name: "bad success expression", config: `{url: "http://127.0.0.1:1", successExpression: "response.status =="}`,
			want: `successExpression: invalid expression "response.status =="`},
		{name: "bad output expression", config: `{url: "http://127.0.0.1:1", outputs: [{name: a, fromExpression: "response.("}]}`,
			want: "outputs[0].fromExpression: invalid expression"},
		{name: "not http", config: `{url: "ftp://example.com/x"}`, want: `the scheme "ftp" is not supported: use http or https`},
		{name: "zero timeout", config: `{url: "http://127.0.0.1:1", timeout: 0s}`, want: `timeout "0s": not a positive duration`},
	})
}

// jobServer plays an API with a job whose state the test sets.
type jobServer struct {
	*httptest.Server
	mu       sync.Mutex
	state    string
	requests []*http.Request
	bodies   []string
}

func newJobServer(t *testing.T) *jobServer {
	s := &jobServer{state: "pending"}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, r)
		s.bodies = append(s.bodies, string(body))
		state := s.state
		s.mu.Unlock()
		switch r.URL.Path {
		case "/job":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Request-Id", "req-42")
			code := http.StatusOK
			if state == "missing" {
				code = http.StatusNotFound
			}
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"state": %q, "facts": ["one", "two"], "count": 2, "message": "job is %s"}`, state, state)
		case "/yaml":
			w.Header().Set("Content-Type", "application/yaml")
			io.WriteString(w, "version: \"2.0\"\nfeatures:\n- name: a\n  enabled: true\n")
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "OK 123")
		case "/mislabelled":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "key: value\n")
		case "/unavailable":
			http.Error(w, "try later", http.StatusServiceUnavailable)
		case "/slow":
			<-r.Context().Done()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jobServer) setState(state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = state
}

func TestHTTPPollsUntilSuccess(t *testing.T) {
	srv := newJobServer(t)
	step := NewHTTP(srv.Client())
	config := `
method: POST
url: ` + srv.URL + `/job
headers: [{name: Authorization, value: Bearer s3cret}, {name: Content-Type, value: application/json}]
queryParams: [{name: token, value: "s3cret value"}]
body: '{"ref": "main"}'
successExpression: response.body.state == 'done'
failureExpression: response.body.state == 'failed'
pollInterval: 45s
outputs:
- {name: status, fromExpression: response.status}
- {name: first, fromExpression: 'response.body.facts[0]'}
- {name: requestID, fromExpression: 'response.header("X-Request-Id")'}
- {name: count, fromExpression: response.body.count * 10}
`
	dir := t.TempDir()
	res := runTwice(t, step, dir, config)
	want := promotion.StepResult{
		Status:     promotion.StepStatusRunning,
		RetryAfter: 45 * time.Second,
		Message:    "waiting: the HTTP (200) response met neither the success nor the failure criteria; asking again in 45s",
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("while pending: %#v\nwant %#v", res, want)
	}
	srv.setState("done")
	res = runTwice(t, step, dir, config)
	wantOut := map[string]any{"status": int64(200), "first": "one", "requestID": "req-42", "count": int64(20)}
	if res.Status != promotion.StepStatusSucceeded || !reflect.DeepEqual(res.Output, wantOut) {
		t.Fatalf("when done: %#v\nwant outputs %#v", res, wantOut)
	}
	r := srv.requests[0]
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer s3cret" || r.URL.Query().Get("token") != "s3cret value" || srv.bodies[0] != `{"ref": "main"}` {
		t.Fatalf("request: %s %s %v body %q", r.Method, r.URL, r.Header, srv.bodies[0])
	}
}

func TestHTTPFailure(t *testing.T) {
	srv := newJobServer(t)
	srv.setState("failed")
	res := runTwice(t, NewHTTP(srv.Client()), t.TempDir(), `
url: `+srv.URL+`/job
successExpression: response.body.state == 'done'
failureExpression: response.body.state == 'failed'
errorExpression: response.body?.message ?? response.body?.error
`)
	want := promotion.StepResult{Status: promotion.StepStatusFailed, Message: `HTTP (200) response met failure criteria: "job is failed"`}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("got %#v\nwant %#v", res, want)
	}
	// An errorExpression that finds nothing leaves the plain message.
	srv.setState("missing")
	res = runTwice(t, NewHTTP(srv.Client()), t.TempDir(), `{url: "`+srv.URL+`/job", failureExpression: "response.status == 404", errorExpression: "response.body.nothing"}`)
	if res.Status != promotion.StepStatusFailed || res.Message != "HTTP (404) response met failure criteria" {
		t.Fatalf("got %#v", res)
	}
}

func TestHTTPDefaultCriteria(t *testing.T) {
	srv := newJobServer(t)
	step := NewHTTP(srv.Client())
	res := runTwice(t, step, t.TempDir(), `{url: "`+srv.URL+`/job", outputs: [{name: state, fromExpression: response.body.state}]}`)
	if res.Status != promotion.StepStatusSucceeded || res.Output["state"] != "pending" {
		t.Fatalf("2xx without criteria: %#v", res)
	}
	for _, path := range []string{"/unavailable", "/nowhere"} {
		_, err := runStep(t, step, t.TempDir(), `{url: "`+srv.URL+path+`?token=s3cret"}`)
		if err == nil || retry.IsTerminal(err) || !strings.Contains(err.Error(), "set successExpression or failureExpression") {
			t.Fatalf("%s: error %v; want a retryable step error", path, err)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("the error shows the query: %v", err)
		}
	}
}

func TestHTTPResponseBodies(t *testing.T) {
	srv := newJobServer(t)
	step := NewHTTP(srv.Client())
	cases := []struct {
		path, extra, expression string
		want                    any
	}{
		{"/yaml", "", "response.body.features[0].enabled", true},
		{"/yaml", "", "response.body.version", "2.0"},
		{"/text", "", "response.body", "OK 123"},
		{"/mislabelled", "", "response.body", map[string]any{}},
		{"/mislabelled", "responseContentType: application/yaml", "response.body.key", "value"},
		{"/job", "", "response.headers['Content-Type'][0]", "application/json"},
	}
	for _, tc := range cases {
		t.Run(tc.path+" "+tc.expression, func(t *testing.T) {
			res := runTwice(t, step, t.TempDir(), "url: "+srv.URL+tc.path+"\n"+tc.extra+"\noutputs: [{name: v, fromExpression: \""+strings.ReplaceAll(tc.expression, `"`, `\"`)+"\"}]\n")
			if !reflect.DeepEqual(res.Output["v"], tc.want) {
				t.Fatalf("output %#v, want %#v", res.Output["v"], tc.want)
			}
		})
	}
}

func TestHTTPTransportErrors(t *testing.T) {
	srv := newJobServer(t)
	_, err := runStep(t, NewHTTP(srv.Client()), t.TempDir(), `{url: "`+srv.URL+`/slow", timeout: 50ms}`)
	if err == nil || !strings.Contains(err.Error(), "no response within the timeout of 50ms") || retry.IsTerminal(err) {
		t.Fatalf("slow server: %v", err)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	_, err = runStep(t, NewHTTP(nil), t.TempDir(), `
url: "`+url+`/hook?token=s3cret"
headers: [{name: Authorization, value: Bearer s3cret}]
queryParams: [{name: key, value: s3cret}]
`)
	if err == nil || !strings.Contains(err.Error(), "send GET "+url+"/hook: ") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("closed server: %v; want the URL without its query and no secret", err)
	}

	_, err = runStep(t, NewHTTP(nil), t.TempDir(), `{url: "http://169.254.169.254/latest/meta-data/"}`)
	if err == nil || !strings.Contains(err.Error(), "refusing to connect to the link-local address 169.254.169.254") {
		t.Fatalf("metadata service: %v", err)
	}
}

func TestHTTPInsecureSkipTLSVerify(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"ok": "yes"})
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, err := runStep(t, NewHTTP(nil), t.TempDir(), `{url: "`+srv.URL+`"}`)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("self-signed certificate accepted: %v", err)
	}
	res := runTwice(t, NewHTTP(nil), t.TempDir(), `{url: "`+srv.URL+`", insecureSkipTLSVerify: true, outputs: [{name: ok, fromExpression: response.body.ok}]}`)
	if res.Output["ok"] != "yes" {
		t.Fatalf("got %#v", res)
	}
}
