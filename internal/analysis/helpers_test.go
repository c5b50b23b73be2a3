package analysis

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

// clock is a settable time for Runner.Options.Clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testLogger sends the runner's records to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// valueServer is a web endpoint answering {"value": V} with the value (and
// status) the test sets, and counting its calls.
type valueServer struct {
	srv *httptest.Server

	mu      sync.Mutex
	value   any
	status  int
	calls   int
	headers []http.Header
}

func newValueServer(t *testing.T) *valueServer {
	t.Helper()
	s := &valueServer{value: 0, status: http.StatusOK}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls++
		s.headers = append(s.headers, r.Header.Clone())
		status, value := s.status, s.value
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"value": value})
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *valueServer) set(value any, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.value = value
	if status == 0 {
		status = http.StatusOK
	}
	s.status = status
}

func (s *valueServer) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *valueServer) lastHeader() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.headers) == 0 {
		return nil
	}
	return s.headers[len(s.headers)-1]
}

// webMetric is a metric reading {"value": V} from url.
func webMetric(name, url string) rolloutsapi.Metric {
	return rolloutsapi.Metric{
		Name:     name,
		Provider: rolloutsapi.MetricProvider{Web: &rolloutsapi.WebMetric{URL: url, JSONPath: "{$.value}"}},
	}
}

func intOrString(n int) *intstr.IntOrString {
	v := intstr.FromInt32(int32(n))
	return &v
}

func ptr[T any](v T) *T { return &v }

// newRun returns a run of metrics in namespace "demo".
func newRun(metrics ...rolloutsapi.Metric) *rolloutsapi.AnalysisRun {
	run := &rolloutsapi.AnalysisRun{Spec: rolloutsapi.AnalysisRunSpec{Metrics: metrics}}
	run.Namespace, run.Name = "demo", "verify-1"
	return run
}

// result returns the named metric's result, failing the test without one.
func result(t *testing.T, run *rolloutsapi.AnalysisRun, name string) *rolloutsapi.MetricResult {
	t.Helper()
	res := findResult(&run.Status, name)
	if res == nil {
		t.Fatalf("no result for metric %q in %+v", name, run.Status.MetricResults)
	}
	return res
}

// counters are a metric result's counts.
type counters struct {
	count, successful, failed, inconclusive, errors, consecutiveError, measurements int
}

func countersOf(res *rolloutsapi.MetricResult) counters {
	return counters{
		count: int(res.Count), successful: int(res.Successful), failed: int(res.Failed),
		inconclusive: int(res.Inconclusive), errors: int(res.Error), consecutiveError: int(res.ConsecutiveError),
		measurements: len(res.Measurements),
	}
}
