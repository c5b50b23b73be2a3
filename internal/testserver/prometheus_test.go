package testserver

import (
	"context"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestExporterServesTextFormat(t *testing.T) {
	e := NewExporter(t)
	e.Set(`http_errors{code="500"}`, 3)
	e.Set(`http_errors{code="503"}`, 0.5)
	e.Set("latency_p99", math.NaN())
	resp, err := http.Get("http://" + e.Target() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	want := "# TYPE http_errors gauge\n" +
		"http_errors{code=\"500\"} 3\n" +
		"http_errors{code=\"503\"} 0.5\n" +
		"# TYPE latency_p99 gauge\n" +
		"latency_p99 NaN\n"
	if string(b) != want {
		t.Errorf("/metrics =\n%s\nwant\n%s", b, want)
	}
	if e.Scrapes() != 1 {
		t.Errorf("Scrapes() = %d, want 1", e.Scrapes())
	}
}

func TestPrometheusScrapesExporter(t *testing.T) {
	e := NewExporter(t)
	e.Set("caravan_test_value", 1)
	start := time.Now()
	p := NewPrometheus(t, e.Target())
	ready := time.Since(start)
	p.WaitForValue(t, "caravan_test_value", 1)
	first := time.Since(start)
	t.Logf("prometheus ready in %s, first value queryable after %s", ready.Round(time.Millisecond), first.Round(time.Millisecond))

	// A new value is queryable within a scrape or two.
	e.Set("caravan_test_value", 42.5)
	p.WaitForValue(t, "caravan_test_value", 42.5)

	// Scrape labels are there, and a scalar query answers too.
	got, err := p.Query(context.Background(), `caravan_test_value{job="caravan-test",instance="`+e.Target()+`"}`)
	if err != nil || len(got) != 1 || got[0] != 42.5 {
		t.Errorf("query with job and instance labels = %v, %v; want [42.5]", got, err)
	}
	if got, err := p.Query(context.Background(), "scalar(caravan_test_value) * 2"); err != nil || len(got) != 1 || got[0] != 85 {
		t.Errorf("scalar query = %v, %v; want [85]", got, err)
	}
	if _, err := p.Query(context.Background(), "caravan_test_value[1m]"); err == nil || !strings.Contains(err.Error(), "matrix") {
		t.Errorf("range query error = %v; want one saying it returned a matrix", err)
	}

	e.Delete("caravan_test_value")
	p.WaitForNoSeries(t, "caravan_test_value")
}
