package analysis

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
	"github.com/caravan-dev/caravan/internal/testserver"
)

// TestPrometheusProvider runs metrics against a real Prometheus (Debian's
// package) scraping an exporter whose values the test sets.
func TestPrometheusProvider(t *testing.T) {
	exp := testserver.NewExporter(t)
	exp.Set("caravan_success_rate", 0.99)
	exp.Set(`caravan_error_rate{service="checkout"}`, 0.3)
	exp.Set(`caravan_error_rate{service="cart"}`, 0.02)
	prom := testserver.NewPrometheus(t, exp.Target())
	prom.WaitForValue(t, "caravan_success_rate", 0.99)
	prom.WaitForSeries(t, "caravan_error_rate")

	// A proxy in front of Prometheus that wants a bearer token, for headers.
	target, _ := url.Parse(prom.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	guarded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer letmein" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer guarded.Close()

	cases := []struct {
		name             string
		address          string
		query            string
		headers          []rolloutsapi.WebMetricHeader
		success, failure string
		want             rolloutsapi.AnalysisPhase
		wantValue        string
		wantMessage      string
	}{{
		name: "success", query: "caravan_success_rate", success: "result[0] >= 0.95",
		want: phaseSuccessful, wantValue: "[0.99]",
	}, {
		name: "failure", query: `caravan_error_rate{service="checkout"}`, success: "result[0] < 0.1",
		want: phaseFailed, wantValue: "[0.3]",
	}, {
		name: "inconclusive", query: `caravan_error_rate{service="checkout"}`, success: "result[0] < 0.1", failure: "result[0] > 0.5",
		want: phaseInconclusive, wantValue: "[0.3]",
	}, {
		name: "several series", query: "sort(caravan_error_rate)", success: "len(result) == 2 && result[0] < result[1]",
		want: phaseSuccessful, wantValue: "[0.02,0.3]",
	}, {
		name: "scalar", query: "scalar(caravan_success_rate) * 100", success: "result > 90",
		want: phaseSuccessful, wantValue: "99",
	}, {
		name: "empty vector, handled", query: "caravan_missing", success: "len(result) == 0 || result[0] < 1",
		want: phaseSuccessful, wantValue: "[]",
	}, {
		name: "empty vector, indexed", query: "caravan_missing", success: "result[0] < 1",
		want: phaseError, wantValue: "[]", wantMessage: "index out of range",
	}, {
		name: "a matrix", query: "caravan_success_rate[1m]", success: "true",
		want: phaseError, wantMessage: "the query returned a matrix, but Caravan evaluates vector and scalar results",
	}, {
		name: "a query that does not parse", query: "sum(caravan_success_rate", success: "true",
		want: phaseError, wantMessage: "prometheus refused the query (bad_data): ",
	}, {
		name: "headers", address: guarded.URL, query: "caravan_success_rate", success: "result[0] > 0.9",
		headers: []rolloutsapi.WebMetricHeader{{Key: "Authorization", Value: "Bearer letmein"}},
		want:    phaseSuccessful, wantValue: "[0.99]",
	}, {
		name: "without the header the proxy wants", address: guarded.URL, query: "caravan_success_rate", success: "true",
		want: phaseError, wantMessage: "answered 401 Unauthorized, which is not a Prometheus query API response",
	}, {
		name: "an address that is not Prometheus", address: "http://" + exp.Target(), query: "up", success: "true",
		want: phaseError, wantMessage: "answered 404 Not Found, which is not a Prometheus query API response",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			address := tc.address
			if address == "" {
				address = prom.URL()
			}
			m := rolloutsapi.Metric{
				Name: "m", SuccessCondition: tc.success, FailureCondition: tc.failure,
				ConsecutiveErrorLimit: intOrString(0),
				Provider: rolloutsapi.MetricProvider{Prometheus: &rolloutsapi.PrometheusMetric{
					Address: address, Query: tc.query, Headers: tc.headers,
				}},
			}
			run := newRun(m)
			if _, err := NewRunner(Options{Clock: newClock().Now, Logger: testLogger(t)}).Reconcile(context.Background(), run); err != nil {
				t.Fatal(err)
			}
			res := result(t, run, "m")
			got := res.Measurements[0]
			if run.Status.Phase != tc.want || got.Phase != tc.want || got.Value != tc.wantValue || !strings.Contains(got.Message, tc.wantMessage) {
				t.Errorf("run %s, measurement %s value %q message %q; want %s, value %q, message containing %q",
					run.Status.Phase, got.Phase, got.Value, got.Message, tc.want, tc.wantValue, tc.wantMessage)
			}
			if q := res.Metadata[MetadataResolvedPrometheusQuery]; q != tc.query {
				t.Errorf("metadata query = %q, want %q", q, tc.query)
			}
		})
	}

	// A run of three measurements a second apart, the exporter's value
	// changing between them: success, a failure within failureLimit,
	// success.
	t.Run("values changing over a run", func(t *testing.T) {
		clk := newClock()
		r := NewRunner(Options{Clock: clk.Now, Logger: testLogger(t)})
		m := rolloutsapi.Metric{
			Name: "rate", Interval: "1s", Count: intOrString(3), FailureLimit: intOrString(1),
			SuccessCondition: "result[0] >= 0.95",
			Provider: rolloutsapi.MetricProvider{Prometheus: &rolloutsapi.PrometheusMetric{
				Address: prom.URL(), Query: "caravan_success_rate", Timeout: ptr(int64(5)),
			}},
		}
		run := newRun(m)
		for i, v := range []float64{0.99, 0.5, 0.97} {
			exp.Set("caravan_success_rate", v)
			prom.WaitForValue(t, "caravan_success_rate", v)
			next, err := r.Reconcile(context.Background(), run)
			if err != nil {
				t.Fatal(err)
			}
			if i < 2 && (run.Status.Phase != phaseRunning || next != time.Second) {
				t.Fatalf("after measurement %d: run %s, next %s; want Running, 1s", i+1, run.Status.Phase, next)
			}
			clk.Advance(time.Second)
		}
		res := result(t, run, "rate")
		var values []string
		for _, m := range res.Measurements {
			values = append(values, m.Value+" "+string(m.Phase))
		}
		if run.Status.Phase != phaseSuccessful || res.Failed != 1 || res.Successful != 2 {
			t.Errorf("run %s with measurements %v; want Successful with one failure", run.Status.Phase, values)
		}
		if want := "[0.99] Successful,[0.5] Failed,[0.97] Successful"; strings.Join(values, ",") != want {
			t.Errorf("measurements = %v, want %s", values, want)
		}
	})
}

func TestPrometheusProviderRefusesBeforeQuerying(t *testing.T) {
	cases := []struct {
		name    string
		metric  rolloutsapi.PrometheusMetric
		wantErr string
	}{
		{name: "no address", metric: rolloutsapi.PrometheusMetric{Query: "up"}, wantErr: "the prometheus address is not set"},
		{name: "not a URL", metric: rolloutsapi.PrometheusMetric{Address: "prometheus:9090", Query: "up"}, wantErr: `the prometheus address "prometheus:9090" is not a URL`},
		{name: "no query", metric: rolloutsapi.PrometheusMetric{Address: "http://127.0.0.1:1"}, wantErr: "the prometheus query is empty"},
		{name: "negative timeout", metric: rolloutsapi.PrometheusMetric{Address: "http://127.0.0.1:1", Query: "up", Timeout: ptr(int64(-1))}, wantErr: "the prometheus timeout is negative"},
		{name: "range query", metric: rolloutsapi.PrometheusMetric{Address: "http://127.0.0.1:1", Query: "up", RangeQuery: &rolloutsapi.PrometheusRangeQueryArgs{Step: "1m"}}, wantErr: "rangeQuery is not supported by Caravan"},
		{name: "sigv4", metric: rolloutsapi.PrometheusMetric{Address: "http://127.0.0.1:1", Query: "up", Authentication: rolloutsapi.Authentication{Sigv4: rolloutsapi.Sigv4Config{Region: "eu-west-1"}}}, wantErr: "prometheus authentication (sigv4, oauth2) is not supported by Caravan"},
		{name: "unreachable", metric: rolloutsapi.PrometheusMetric{Address: "http://127.0.0.1:1", Query: "up"}, wantErr: "query http://127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused"},
	}
	p := NewPrometheusProvider(nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pm := tc.metric
			_, err := p.Measure(context.Background(), &rolloutsapi.Metric{Provider: rolloutsapi.MetricProvider{Prometheus: &pm}})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Measure error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
