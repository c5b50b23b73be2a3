package analysis

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

// request is what the endpoint received.
type request struct {
	method, contentType, auth, body string
}

func TestWebProvider(t *testing.T) {
	got := make(chan request, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- request{r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(b)}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"p99": 0.25, "ok": true, "service": {"name": "checkout", "pods": [3, 4]}, "none": null, "empty": []}`)
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, r *http.Request) {
		got <- request{method: r.Method}
		_, _ = io.WriteString(w, "healthy")
	})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		got <- request{method: r.Method}
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cases := []struct {
		name     string
		web      rolloutsapi.WebMetric
		want     Result
		wantReq  request
		wantErr  string
		noServer bool // the request is refused before it is sent
	}{{
		name:    "jsonPath to a number",
		web:     rolloutsapi.WebMetric{URL: srv.URL + "/metrics", JSONPath: "{$.p99}"},
		want:    Result{Value: 0.25, Text: "0.25"},
		wantReq: request{method: "GET"},
	}, {
		name:    "jsonPath to a nested string",
		web:     rolloutsapi.WebMetric{URL: srv.URL + "/metrics", JSONPath: "{$.service.name}"},
		want:    Result{Value: "checkout", Text: `"checkout"`},
		wantReq: request{method: "GET"},
	}, {
		name:    "jsonPath to a bool, without $",
		web:     rolloutsapi.WebMetric{URL: srv.URL + "/metrics", JSONPath: "{.ok}"},
		want:    Result{Value: true, Text: "true"},
		wantReq: request{method: "GET"},
	}, {
		name:    "jsonPath to a list element",
		web:     rolloutsapi.WebMetric{URL: srv.URL + "/metrics", JSONPath: "{$.service.pods[1]}"},
		want:    Result{Value: 4.0, Text: "4"},
		wantReq: request{method: "GET"},
	}, {
		name:    "jsonPath to null",
		web:     rolloutsapi.WebMetric{URL: srv.URL + "/metrics", JSONPath: "{$.none}"},
		want:    Result{Value: nil, Text: "null"},
		wantReq: request{method: "GET"},
	}, {
		name: "the whole document without jsonPath",
		web:  rolloutsapi.WebMetric{URL: srv.URL + "/metrics"},
		want: Result{Value: map[string]any{"p99": 0.25, "ok": true, "none": nil, "empty": []any{},
			"service": map[string]any{"name": "checkout", "pods": []any{3.0, 4.0}}},
			Text: `{"empty":[],"none":null,"ok":true,"p99":0.25,"service":{"name":"checkout","pods":[3,4]}}`},
		wantReq: request{method: "GET"},
	}, {
		name:    "a text response without jsonPath is a string",
		web:     rolloutsapi.WebMetric{URL: srv.URL + "/text"},
		want:    Result{Value: "healthy", Text: "healthy"},
		wantReq: request{method: "GET"},
	}, {
		name: "POST with headers and a body",
		web: rolloutsapi.WebMetric{Method: "POST", URL: srv.URL + "/metrics", JSONPath: "{$.p99}", Body: "q=1",
			Headers: []rolloutsapi.WebMetricHeader{{Key: "Authorization", Value: "Bearer t"}, {Key: "Content-Type", Value: "text/plain"}}},
		want:    Result{Value: 0.25, Text: "0.25"},
		wantReq: request{method: "POST", contentType: "text/plain", auth: "Bearer t", body: "q=1"},
	}, {
		name:    "PUT with jsonBody",
		web:     rolloutsapi.WebMetric{Method: "PUT", URL: srv.URL + "/metrics", JSONPath: "{$.p99}", JSONBody: &rolloutsapi.RawJSON{Raw: []byte(`{"q":1}`)}},
		want:    Result{Value: 0.25, Text: "0.25"},
		wantReq: request{method: "PUT", contentType: "application/json", body: `{"q":1}`},
	}, {
		name:    "a status outside 2xx",
		web:     rolloutsapi.WebMetric{URL: srv.URL + "/down"},
		wantReq: request{method: "GET"},
		wantErr: "GET " + srv.URL + "/down answered 503 Service Unavailable: the endpoint must answer with a 2xx status",
	}, {
		name:    "a path that is missing",
		web:     rolloutsapi.WebMetric{URL: srv.URL + "/metrics", JSONPath: "{$.p95}"},
		wantReq: request{method: "GET"},
		wantErr: "jsonPath {$.p95} in the response: p95 is not found: check the path against the response",
	}, {
		name:    "a path that selects nothing",
		web:     rolloutsapi.WebMetric{URL: srv.URL + "/metrics", JSONPath: "{$.empty[*]}"},
		wantReq: request{method: "GET"},
		wantErr: "selected nothing in the response",
	}, {
		name:    "a path that does not parse",
		web:     rolloutsapi.WebMetric{URL: srv.URL + "/metrics", JSONPath: "{$.p99"},
		wantReq: request{method: "GET"},
		wantErr: "parse jsonPath {$.p99: unclosed action: write it in Kubernetes JSONPath form",
	}, {
		name:    "jsonPath over a text response",
		web:     rolloutsapi.WebMetric{URL: srv.URL + "/text", JSONPath: "{$.p99}"},
		wantReq: request{method: "GET"},
		wantErr: "so jsonPath {$.p99} cannot select from it",
	}, {
		name:     "a body with GET",
		web:      rolloutsapi.WebMetric{URL: srv.URL + "/metrics", Body: "q"},
		noServer: true,
		wantErr:  "a request body is sent only with POST or PUT",
	}, {
		name:     "a refused connection",
		web:      rolloutsapi.WebMetric{URL: "http://127.0.0.1:1/metrics"},
		noServer: true,
		wantErr:  "GET http://127.0.0.1:1/metrics: dial tcp 127.0.0.1:1: connect: connection refused",
	}}
	p := NewWebProvider(nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			web := tc.web
			res, err := p.Measure(context.Background(), &rolloutsapi.Metric{Name: "m", Provider: rolloutsapi.MetricProvider{Web: &web}})
			if !tc.noServer {
				select {
				case r := <-got:
					if r != tc.wantReq {
						t.Errorf("the endpoint got %+v, want %+v", r, tc.wantReq)
					}
				default:
					t.Fatalf("the endpoint was not called (error %v)", err)
				}
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Measure error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Measure: %v", err)
			}
			if !reflect.DeepEqual(res, tc.want) {
				t.Errorf("result = %#v, want %#v", res, tc.want)
			}
		})
	}
}

func TestWebProviderTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	web := &rolloutsapi.WebMetric{URL: srv.URL, TimeoutSeconds: 1}
	start := time.Now()
	_, err := NewWebProvider(nil).Measure(context.Background(), &rolloutsapi.Metric{Provider: rolloutsapi.MetricProvider{Web: web}})
	elapsed := time.Since(start)
	want := "GET " + srv.URL + ": no response within 1s: raise timeoutSeconds, or check the endpoint"
	if err == nil || err.Error() != want {
		t.Fatalf("Measure error = %v, want %q", err, want)
	}
	if elapsed > 5*time.Second {
		t.Errorf("Measure took %s with timeoutSeconds 1", elapsed)
	}
}

func TestWebProviderInsecure(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"ok": true}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	p := NewWebProvider(nil)
	cases := []struct {
		insecure bool
		wantErr  string
	}{
		{insecure: false, wantErr: "certificate signed by unknown authority"},
		{insecure: true},
	}
	for _, tc := range cases {
		web := &rolloutsapi.WebMetric{URL: srv.URL, JSONPath: "{$.ok}", Insecure: tc.insecure}
		res, err := p.Measure(context.Background(), &rolloutsapi.Metric{Provider: rolloutsapi.MetricProvider{Web: web}})
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("insecure %v: error = %v, want one containing %q", tc.insecure, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || res.Value != true):
			t.Errorf("insecure %v: result %v, error %v; want true", tc.insecure, res.Value, err)
		}
	}
}
