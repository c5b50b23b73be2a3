package testserver

// A real Prometheus (Debian's package) scraping exporters whose values the
// test sets, for the analysis engine's prometheus provider.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PrometheusBinary is where Debian's prometheus package installs Prometheus;
// hack/install-test-deps.sh installs it.
const PrometheusBinary = "/usr/bin/prometheus"

// PrometheusScrapeInterval is how often NewPrometheus' server scrapes its
// targets: a value an exporter is given is queryable within about that long.
const PrometheusScrapeInterval = time.Second

const (
	// prometheusStartTimeout bounds how long NewPrometheus waits for /-/ready.
	prometheusStartTimeout = 30 * time.Second
	// prometheusWaitTimeout bounds how long the Wait helpers poll a query.
	prometheusWaitTimeout = 30 * time.Second
	// prometheusPoll is the pause between two polls.
	prometheusPoll = 50 * time.Millisecond
)

// Exporter serves gauges in Prometheus' text exposition format at /metrics,
// over HTTP on 127.0.0.1, with the values the test sets. It stops when the
// test ends.
type Exporter struct {
	srv *httptest.Server

	mu      sync.Mutex
	series  map[string]float64 // `name` or `name{label="v"}` → value
	scrapes int
}

// NewExporter starts an exporter with no series.
func NewExporter(tb testing.TB) *Exporter {
	tb.Helper()
	e := &Exporter{series: map[string]float64{}}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	tb.Cleanup(e.srv.Close)
	return e
}

// Set gives series, a metric name with optional labels such as
// `http_errors{code="500"}`, the value v (NaN and ±Inf included).
func (e *Exporter) Set(series string, v float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.series[series] = v
}

// Delete stops exposing series: Prometheus marks it stale at the next scrape
// and queries then find nothing.
func (e *Exporter) Delete(series string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.series, series)
}

// Target is the exporter's address, "127.0.0.1:PORT", as a scrape target.
func (e *Exporter) Target() string { return strings.TrimPrefix(e.srv.URL, "http://") }

// Scrapes returns how many times /metrics was served.
func (e *Exporter) Scrapes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.scrapes
}

func (e *Exporter) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		http.NotFound(w, r)
		return
	}
	e.mu.Lock()
	e.scrapes++
	names := make([]string, 0, len(e.series))
	for s := range e.series {
		names = append(names, s)
	}
	sort.Strings(names)
	var b strings.Builder
	typed := map[string]bool{}
	for _, s := range names {
		base, _, _ := strings.Cut(s, "{")
		if !typed[base] {
			typed[base] = true
			fmt.Fprintf(&b, "# TYPE %s gauge\n", base)
		}
		fmt.Fprintf(&b, "%s %s\n", s, strconv.FormatFloat(e.series[s], 'g', -1, 64))
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = io.WriteString(w, b.String())
}

// Prometheus is a running Prometheus 2 (Debian's package) on 127.0.0.1 that
// scrapes its targets every PrometheusScrapeInterval, with its storage in a
// temporary directory. It is stopped when the test ends.
type Prometheus struct {
	addr    string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	log     *registryLog
	stopped sync.Once
}

// NewPrometheus starts Prometheus scraping targets ("host:port", such as an
// Exporter's Target) under the job "caravan-test", and waits until it is
// ready (GET /-/ready answers 200). Series appear a scrape or two later:
// poll with WaitForValue. When the prometheus program is missing the test is
// skipped, or failed in CI.
func NewPrometheus(tb testing.TB, targets ...string) *Prometheus {
	tb.Helper()
	prometheusRequireBinary(tb)
	dir := tb.TempDir()
	var lastErr error
	// The free port is found by listening and closing, so another process
	// may take it first: try a few ports before giving up.
	for range 3 {
		p, err := startPrometheus(dir, targets)
		if err == nil {
			tb.Cleanup(p.Stop)
			return p
		}
		lastErr = err
	}
	tb.Fatalf("start prometheus: %v", lastErr)
	return nil
}

func prometheusRequireBinary(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(PrometheusBinary); err == nil {
		return
	}
	msg := fmt.Sprintf("%s is missing: run hack/install-test-deps.sh (it installs Debian's prometheus package)", PrometheusBinary)
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

func startPrometheus(dir string, targets []string) (*Prometheus, error) {
	port, err := registryFreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	storage, err := os.MkdirTemp(dir, "tsdb-")
	if err != nil {
		return nil, fmt.Errorf("create prometheus storage: %w", err)
	}
	var cfg strings.Builder
	interval := PrometheusScrapeInterval.String()
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n",
		interval, interval, interval)
	fmt.Fprintf(&cfg, "scrape_configs:\n  - job_name: caravan-test\n    static_configs:\n      - targets: [")
	for i, t := range targets {
		if i > 0 {
			cfg.WriteString(", ")
		}
		fmt.Fprintf(&cfg, "%q", t)
	}
	cfg.WriteString("]\n")
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		return nil, fmt.Errorf("write prometheus config: %w", err)
	}

	p := &Prometheus{addr: addr, exited: make(chan struct{}), log: &registryLog{}}
	p.cmd = exec.Command(PrometheusBinary,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+storage,
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", PrometheusBinary, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// waitReady polls GET /-/ready until Prometheus answers 200, it exits, or
// the start timeout passes.
func (p *Prometheus) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(prometheusStartTimeout)
	for {
		resp, err := client.Get(p.URL() + "/-/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("prometheus exited before it was ready: %s", p.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prometheus did not answer GET %s/-/ready within %s (last error: %v): %s",
				p.URL(), prometheusStartTimeout, err, p.log.String())
		}
	}
}

// Stop stops Prometheus; the test's cleanup calls it too.
func (p *Prometheus) Stop() {
	p.stopped.Do(func() {
		if p.cmd.Process == nil {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

// URL is Prometheus' base URL, "http://127.0.0.1:PORT": a prometheus
// metric's address.
func (p *Prometheus) URL() string { return "http://" + p.addr }

// Log returns what Prometheus wrote to stdout and stderr so far.
func (p *Prometheus) Log() string { return p.log.String() }

// Query runs an instant query and returns the values of its vector (or the
// one value of its scalar) result.
func (p *Prometheus) Query(ctx context.Context, query string) ([]float64, error) {
	u := p.URL() + "/api/v1/query?" + url.Values{"query": {query}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build query request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode the answer to %q (%s): %w", query, resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", query, body.Error)
	}
	var samples [][2]json.RawMessage
	switch body.Data.ResultType {
	case "vector":
		var vec []struct {
			Value [2]json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(body.Data.Result, &vec); err != nil {
			return nil, fmt.Errorf("decode the vector of %q: %w", query, err)
		}
		for _, s := range vec {
			samples = append(samples, s.Value)
		}
	case "scalar":
		var s [2]json.RawMessage
		if err := json.Unmarshal(body.Data.Result, &s); err != nil {
			return nil, fmt.Errorf("decode the scalar of %q: %w", query, err)
		}
		samples = append(samples, s)
	default:
		return nil, fmt.Errorf("query %q returned a %s; want a vector or scalar", query, body.Data.ResultType)
	}
	out := make([]float64, 0, len(samples))
	for _, s := range samples {
		var text string
		if err := json.Unmarshal(s[1], &text); err != nil {
			return nil, fmt.Errorf("decode a sample of %q: %w", query, err)
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("decode a sample of %q: %w", query, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// WaitForValue polls query until it returns exactly one value equal to want
// (NaN matches NaN), and fails the test if that takes longer than 30 s.
// After an Exporter's Set, it tells when Prometheus has scraped the value.
func (p *Prometheus) WaitForValue(tb testing.TB, query string, want float64) {
	tb.Helper()
	p.waitFor(tb, query, fmt.Sprintf("the single value %v", want), func(got []float64) bool {
		return len(got) == 1 && (got[0] == want || (got[0] != got[0] && want != want))
	})
}

// WaitForSeries polls query until it returns at least one value, and returns
// the values; it fails the test if that takes longer than 30 s.
func (p *Prometheus) WaitForSeries(tb testing.TB, query string) []float64 {
	tb.Helper()
	return p.waitFor(tb, query, "a series", func(got []float64) bool { return len(got) > 0 })
}

// WaitForNoSeries polls query until it returns no value (after an
// Exporter's Delete, say).
func (p *Prometheus) WaitForNoSeries(tb testing.TB, query string) {
	tb.Helper()
	p.waitFor(tb, query, "no series", func(got []float64) bool { return len(got) == 0 })
}

func (p *Prometheus) waitFor(tb testing.TB, query, what string, done func([]float64) bool) []float64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), prometheusWaitTimeout)
	defer cancel()
	var got []float64
	var err error
	for {
		got, err = p.Query(ctx, query)
		if err == nil && done(got) {
			return got
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("prometheus query %q did not return %s within %s (last: %v, error: %v); log: %s",
				query, what, prometheusWaitTimeout, got, err, p.Log())
			return nil
		case <-p.exited:
			tb.Fatalf("prometheus exited: %s", p.Log())
			return nil
		case <-time.After(prometheusPoll):
		}
	}
}
