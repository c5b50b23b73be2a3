package analysis

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

const (
	phasePending      = rolloutsapi.AnalysisPhasePending
	phaseRunning      = rolloutsapi.AnalysisPhaseRunning
	phaseSuccessful   = rolloutsapi.AnalysisPhaseSuccessful
	phaseFailed       = rolloutsapi.AnalysisPhaseFailed
	phaseError        = rolloutsapi.AnalysisPhaseError
	phaseInconclusive = rolloutsapi.AnalysisPhaseInconclusive
)

// Values the endpoint answers: under 10 succeeds, 20 or more fails, in
// between is neither (with both conditions set).
const (
	good    = 5
	bad     = 25
	neither = 15
)

// step is one reconciliation of a scenario: the clock moves, the endpoint
// is given a value (or an error status), Reconcile runs, and the run and its
// metric "m" are checked.
type step struct {
	advance time.Duration
	value   any
	status  int // 0 means 200
	run     rolloutsapi.AnalysisPhase
	metric  rolloutsapi.AnalysisPhase
	next    time.Duration
	counts  counters
}

func both(m rolloutsapi.Metric) rolloutsapi.Metric {
	m.SuccessCondition, m.FailureCondition = "result < 10", "result >= 20"
	return m
}

func succeedIfBelow10(m rolloutsapi.Metric) rolloutsapi.Metric {
	m.SuccessCondition = "result < 10"
	return m
}

func TestReconcileCounting(t *testing.T) {
	cases := []struct {
		name    string
		metric  func(m rolloutsapi.Metric) rolloutsapi.Metric
		steps   []step
		message string // in the run's final message
	}{{
		name: "count and interval",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.Interval, m.Count = "1m", intOrString(3)
			return succeedIfBelow10(m)
		},
		steps: []step{
			{value: good, run: phaseRunning, metric: phaseRunning, next: time.Minute, counts: counters{1, 1, 0, 0, 0, 0, 1}},
			{advance: 30 * time.Second, value: good, run: phaseRunning, metric: phaseRunning, next: 30 * time.Second, counts: counters{1, 1, 0, 0, 0, 0, 1}},
			{advance: 30 * time.Second, value: good, run: phaseRunning, metric: phaseRunning, next: time.Minute, counts: counters{2, 2, 0, 0, 0, 0, 2}},
			{advance: time.Minute, value: good, run: phaseSuccessful, metric: phaseSuccessful, counts: counters{3, 3, 0, 0, 0, 0, 3}},
		},
	}, {
		name:   "one measurement without interval or count",
		metric: succeedIfBelow10,
		steps: []step{
			{value: good, run: phaseSuccessful, metric: phaseSuccessful, counts: counters{1, 1, 0, 0, 0, 0, 1}},
		},
	}, {
		name:   "failureLimit defaults to 0",
		metric: succeedIfBelow10,
		steps: []step{
			{value: bad, run: phaseFailed, metric: phaseFailed, counts: counters{1, 0, 1, 0, 0, 0, 1}},
		},
		message: `Metric "m" assessed Failed due to failed (1) > failureLimit (0)`,
	}, {
		name: "failureLimit tolerates failures up to it",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.Interval, m.Count, m.FailureLimit = "1m", intOrString(5), intOrString(1)
			return succeedIfBelow10(m)
		},
		steps: []step{
			{value: bad, run: phaseRunning, metric: phaseRunning, next: time.Minute, counts: counters{1, 0, 1, 0, 0, 0, 1}},
			{advance: time.Minute, value: good, run: phaseRunning, metric: phaseRunning, next: time.Minute, counts: counters{2, 1, 1, 0, 0, 0, 2}},
			{advance: time.Minute, value: bad, run: phaseFailed, metric: phaseFailed, counts: counters{3, 1, 2, 0, 0, 0, 3}},
		},
		message: `Metric "m" assessed Failed due to failed (2) > failureLimit (1)`,
	}, {
		name: "failureCondition alone",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.Interval, m.Count, m.FailureCondition = "1m", intOrString(2), "result >= 20"
			return m
		},
		steps: []step{
			{value: neither, run: phaseRunning, metric: phaseRunning, next: time.Minute, counts: counters{1, 1, 0, 0, 0, 0, 1}},
			{advance: time.Minute, value: bad, run: phaseFailed, metric: phaseFailed, counts: counters{2, 1, 1, 0, 0, 0, 2}},
		},
	}, {
		name:   "neither condition is inconclusive",
		metric: both,
		steps: []step{
			{value: neither, run: phaseInconclusive, metric: phaseInconclusive, counts: counters{1, 0, 0, 1, 0, 0, 1}},
		},
		message: `Metric "m" assessed Inconclusive due to inconclusive (1) > inconclusiveLimit (0)`,
	}, {
		name: "inconclusiveLimit",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.Interval, m.Count, m.InconclusiveLimit = "1m", intOrString(3), intOrString(1)
			return both(m)
		},
		steps: []step{
			{value: neither, run: phaseRunning, metric: phaseRunning, next: time.Minute, counts: counters{1, 0, 0, 1, 0, 0, 1}},
			{advance: time.Minute, value: neither, run: phaseInconclusive, metric: phaseInconclusive, counts: counters{2, 0, 0, 2, 0, 0, 2}},
		},
		message: `inconclusive (2) > inconclusiveLimit (1)`,
	}, {
		name: "errors retry after 10s until consecutiveErrorLimit (4) is passed",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.Interval, m.Count = "1m", intOrString(10)
			return succeedIfBelow10(m)
		},
		steps: []step{
			{status: 500, run: phaseRunning, metric: phaseRunning, next: 10 * time.Second, counts: counters{0, 0, 0, 0, 1, 1, 1}},
			{advance: 5 * time.Second, status: 500, run: phaseRunning, metric: phaseRunning, next: 5 * time.Second, counts: counters{0, 0, 0, 0, 1, 1, 1}},
			{advance: 5 * time.Second, status: 500, run: phaseRunning, metric: phaseRunning, next: 10 * time.Second, counts: counters{0, 0, 0, 0, 2, 2, 2}},
			{advance: 10 * time.Second, status: 500, run: phaseRunning, metric: phaseRunning, next: 10 * time.Second, counts: counters{0, 0, 0, 0, 3, 3, 3}},
			{advance: 10 * time.Second, status: 500, run: phaseRunning, metric: phaseRunning, next: 10 * time.Second, counts: counters{0, 0, 0, 0, 4, 4, 4}},
			{advance: 10 * time.Second, status: 500, run: phaseError, metric: phaseError, counts: counters{0, 0, 0, 0, 5, 5, 5}},
		},
		message: `Metric "m" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4): "Error Message: GET http://`,
	}, {
		name: "a measurement without error resets consecutive errors",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.Interval, m.Count, m.ConsecutiveErrorLimit = "1m", intOrString(10), intOrString(1)
			return succeedIfBelow10(m)
		},
		steps: []step{
			{status: 503, run: phaseRunning, metric: phaseRunning, next: 10 * time.Second, counts: counters{0, 0, 0, 0, 1, 1, 1}},
			{advance: 10 * time.Second, value: good, run: phaseRunning, metric: phaseRunning, next: time.Minute, counts: counters{1, 1, 0, 0, 1, 0, 2}},
			{advance: time.Minute, status: 503, run: phaseRunning, metric: phaseRunning, next: 10 * time.Second, counts: counters{1, 1, 0, 0, 2, 1, 3}},
			{advance: 10 * time.Second, status: 503, run: phaseError, metric: phaseError, counts: counters{1, 1, 0, 0, 3, 2, 4}},
		},
		message: "consecutiveErrors (2) > consecutiveErrorLimit (1)",
	}, {
		name: "consecutiveErrorLimit 0 ends at the first error",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.ConsecutiveErrorLimit = intOrString(0)
			return succeedIfBelow10(m)
		},
		steps: []step{
			{status: 404, run: phaseError, metric: phaseError, counts: counters{0, 0, 0, 0, 1, 1, 1}},
		},
		message: "answered 404 Not Found",
	}, {
		name: "a condition that cannot be evaluated is an error",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.SuccessCondition, m.ConsecutiveErrorLimit = "result.p99 < 1", intOrString(0)
			return m
		},
		steps: []step{
			{value: good, run: phaseError, metric: phaseError, counts: counters{0, 0, 0, 0, 1, 1, 1}},
		},
		message: `evaluate successCondition "result.p99 < 1"`,
	}, {
		name: "initialDelay",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.InitialDelay = "5m"
			return succeedIfBelow10(m)
		},
		steps: []step{
			{value: good, run: phaseRunning, metric: phasePending, next: 5 * time.Minute},
			{advance: 4 * time.Minute, value: good, run: phaseRunning, metric: phasePending, next: time.Minute},
			{advance: time.Minute, value: good, run: phaseSuccessful, metric: phaseSuccessful, counts: counters{1, 1, 0, 0, 0, 0, 1}},
		},
	}, {
		name: "without count an interval measures until a failure",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.Interval = "30s"
			return succeedIfBelow10(m)
		},
		steps: []step{
			{value: good, run: phaseRunning, metric: phaseRunning, next: 30 * time.Second, counts: counters{1, 1, 0, 0, 0, 0, 1}},
			{advance: 30 * time.Second, value: good, run: phaseRunning, metric: phaseRunning, next: 30 * time.Second, counts: counters{2, 2, 0, 0, 0, 0, 2}},
			{advance: 30 * time.Second, value: bad, run: phaseFailed, metric: phaseFailed, counts: counters{3, 2, 1, 0, 0, 0, 3}},
		},
	}, {
		name: "consecutiveSuccessLimit ends the metric early",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.Interval, m.Count, m.FailureLimit, m.ConsecutiveSuccessLimit = "1m", intOrString(5), intOrString(3), intOrString(2)
			return succeedIfBelow10(m)
		},
		steps: []step{
			{value: good, run: phaseRunning, metric: phaseRunning, next: time.Minute, counts: counters{1, 1, 0, 0, 0, 0, 1}},
			{advance: time.Minute, value: bad, run: phaseRunning, metric: phaseRunning, next: time.Minute, counts: counters{2, 1, 1, 0, 0, 0, 2}},
			{advance: time.Minute, value: good, run: phaseRunning, metric: phaseRunning, next: time.Minute, counts: counters{3, 2, 1, 0, 0, 0, 3}},
			{advance: time.Minute, value: good, run: phaseSuccessful, metric: phaseSuccessful, counts: counters{4, 3, 1, 0, 0, 0, 4}},
		},
	}, {
		name: "count reached without consecutiveSuccessLimit is inconclusive under a failureLimit",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.Interval, m.Count, m.FailureLimit, m.ConsecutiveSuccessLimit = "1m", intOrString(2), intOrString(1), intOrString(2)
			return succeedIfBelow10(m)
		},
		steps: []step{
			{value: bad, run: phaseRunning, metric: phaseRunning, next: time.Minute, counts: counters{1, 0, 1, 0, 0, 0, 1}},
			{advance: time.Minute, value: good, run: phaseInconclusive, metric: phaseInconclusive, counts: counters{2, 1, 1, 0, 0, 0, 2}},
		},
		message: "consecutiveSuccessLimit (2) not reached after count (2) measurements",
	}, {
		name: "count reached without consecutiveSuccessLimit fails when failureLimit is -1",
		metric: func(m rolloutsapi.Metric) rolloutsapi.Metric {
			m.Interval, m.Count, m.FailureLimit, m.ConsecutiveSuccessLimit = "1m", intOrString(2), intOrString(-1), intOrString(2)
			return succeedIfBelow10(m)
		},
		steps: []step{
			{value: bad, run: phaseRunning, metric: phaseRunning, next: time.Minute, counts: counters{1, 0, 1, 0, 0, 0, 1}},
			{advance: time.Minute, value: bad, run: phaseFailed, metric: phaseFailed, counts: counters{2, 0, 2, 0, 0, 0, 2}},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newValueServer(t)
			clk := newClock()
			r := NewRunner(Options{Clock: clk.Now, Logger: testLogger(t)})
			run := newRun(tc.metric(webMetric("m", srv.srv.URL)))
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				srv.set(s.value, s.status)
				next, err := r.Reconcile(context.Background(), run)
				if err != nil {
					t.Fatalf("step %d: Reconcile: %v", i, err)
				}
				res := result(t, run, "m")
				got := countersOf(res)
				if run.Status.Phase != s.run || res.Phase != s.metric || next != s.next || got != s.counts {
					t.Fatalf("step %d: run %s, metric %s, next %s, counters %+v;\nwant run %s, metric %s, next %s, counters %+v (message %q)",
						i, run.Status.Phase, res.Phase, next, got, s.run, s.metric, s.next, s.counts, run.Status.Message)
				}
				if calls := srv.Calls(); calls != got.count+got.errors {
					t.Fatalf("step %d: the endpoint was called %d times for %d measurements", i, calls, got.count+got.errors)
				}
			}
			if !strings.Contains(run.Status.Message, tc.message) {
				t.Errorf("run message %q does not contain %q", run.Status.Message, tc.message)
			}
			if run.Status.StartedAt == nil || !run.Status.StartedAt.Time.Equal(newClock().Now()) {
				t.Errorf("startedAt = %v, want the first reconcile's time", run.Status.StartedAt)
			}
			if run.Status.CompletedAt == nil || !run.Status.CompletedAt.Time.Equal(clk.Now()) {
				t.Errorf("completedAt = %v, want %v", run.Status.CompletedAt, clk.Now())
			}
			// A completed run is left as it is.
			before := run.Status.DeepCopy()
			clk.Advance(time.Hour)
			if next, err := r.Reconcile(context.Background(), run); err != nil || next != 0 || len(result(t, run, "m").Measurements) != len(before.MetricResults[0].Measurements) {
				t.Errorf("Reconcile of the completed run = %s, %v, and changed it", next, err)
			}
		})
	}
}

func TestReconcileMeasurementRecord(t *testing.T) {
	srv := newValueServer(t)
	clk := newClock()
	run := newRun(succeedIfBelow10(webMetric("m", srv.srv.URL)))
	srv.set(4.5, 0)
	if _, err := NewRunner(Options{Clock: clk.Now, Logger: testLogger(t)}).Reconcile(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	m := result(t, run, "m").Measurements[0]
	if m.Phase != phaseSuccessful || m.Value != "4.5" || m.Message != "" ||
		!m.StartedAt.Time.Equal(clk.Now()) || !m.FinishedAt.Time.Equal(clk.Now()) {
		t.Errorf("measurement = %+v; want Successful, value 4.5, started and finished now", m)
	}
	want := rolloutsapi.RunSummary{Count: 1, Successful: 1}
	if run.Status.RunSummary != want || run.Status.DryRunSummary == nil || *run.Status.DryRunSummary != (rolloutsapi.RunSummary{}) {
		t.Errorf("runSummary = %+v, dryRunSummary = %+v; want %+v and an empty one", run.Status.RunSummary, run.Status.DryRunSummary, want)
	}
}

func TestReconcileDryRun(t *testing.T) {
	good1, bad1 := newValueServer(t), newValueServer(t)
	good1.set(good, 0)
	bad1.set(bad, 0)
	run := newRun(succeedIfBelow10(webMetric("latency", good1.srv.URL)), succeedIfBelow10(webMetric("errors", bad1.srv.URL)))
	run.Spec.DryRun = []rolloutsapi.DryRun{{MetricName: "err.*"}}
	if _, err := NewRunner(Options{Clock: newClock().Now, Logger: testLogger(t)}).Reconcile(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	if run.Status.Phase != phaseSuccessful {
		t.Errorf("run phase = %s (%s), want Successful: a dry-run metric never fails the run", run.Status.Phase, run.Status.Message)
	}
	errs := result(t, run, "errors")
	if errs.Phase != phaseFailed || !errs.DryRun || errs.Message != "Metric assessed Failed due to failed (1) > failureLimit (0)" {
		t.Errorf("dry-run metric = phase %s, dryRun %v, message %q", errs.Phase, errs.DryRun, errs.Message)
	}
	if got, want := run.Status.RunSummary, (rolloutsapi.RunSummary{Count: 1, Successful: 1}); got != want {
		t.Errorf("runSummary = %+v, want %+v", got, want)
	}
	if got, want := *run.Status.DryRunSummary, (rolloutsapi.RunSummary{Count: 1, Failed: 1}); got != want {
		t.Errorf("dryRunSummary = %+v, want %+v", got, want)
	}
}

func TestReconcileFailureEndsOtherMetrics(t *testing.T) {
	steady, failing := newValueServer(t), newValueServer(t)
	steady.set(good, 0)
	failing.set(bad, 0)
	unbounded := succeedIfBelow10(webMetric("steady", steady.srv.URL))
	unbounded.Interval = "1m"
	delayed := succeedIfBelow10(webMetric("later", steady.srv.URL))
	delayed.InitialDelay = "1h"
	run := newRun(unbounded, succeedIfBelow10(webMetric("failing", failing.srv.URL)), delayed)
	next, err := NewRunner(Options{Clock: newClock().Now, Logger: testLogger(t)}).Reconcile(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	// In the same step: the failure makes the run terminate, so the
	// unbounded and the delayed metrics end as Successful.
	if run.Status.Phase != phaseFailed || next != 0 {
		t.Fatalf("run = %s, next %s; want Failed, 0", run.Status.Phase, next)
	}
	for name, want := range map[string]rolloutsapi.AnalysisPhase{"steady": phaseSuccessful, "failing": phaseFailed, "later": phaseSuccessful} {
		if got := result(t, run, name).Phase; got != want {
			t.Errorf("metric %s = %s, want %s", name, got, want)
		}
	}
	if got, want := run.Status.RunSummary, (rolloutsapi.RunSummary{Count: 3, Successful: 2, Failed: 1}); got != want {
		t.Errorf("runSummary = %+v, want %+v", got, want)
	}
	if want := `Metric "failing" assessed Failed due to failed (1) > failureLimit (0)`; run.Status.Message != want {
		t.Errorf("message = %q, want %q", run.Status.Message, want)
	}
}

func TestReconcileTerminate(t *testing.T) {
	cases := []struct {
		name     string
		measured int // reconciles before terminate is set
		failed   bool
		want     rolloutsapi.AnalysisPhase
		message  string
	}{
		{name: "before any measurement", measured: 0, want: phaseSuccessful, message: "Run Terminated"},
		{name: "while running", measured: 2, want: phaseSuccessful, message: "Run Terminated"},
		{name: "after failures within the limit", measured: 2, failed: true, want: phaseSuccessful, message: "Run Terminated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newValueServer(t)
			if tc.failed {
				srv.set(bad, 0)
			} else {
				srv.set(good, 0)
			}
			clk := newClock()
			r := NewRunner(Options{Clock: clk.Now, Logger: testLogger(t)})
			m := succeedIfBelow10(webMetric("m", srv.srv.URL))
			m.Interval, m.Count, m.FailureLimit = "1m", intOrString(5), intOrString(3)
			run := newRun(m)
			for range tc.measured {
				if _, err := r.Reconcile(context.Background(), run); err != nil {
					t.Fatal(err)
				}
				clk.Advance(time.Minute)
			}
			run.Spec.Terminate = true
			next, err := r.Reconcile(context.Background(), run)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status.Phase != tc.want || run.Status.Message != tc.message || next != 0 {
				t.Errorf("run = %s %q, next %s; want %s %q, 0", run.Status.Phase, run.Status.Message, next, tc.want, tc.message)
			}
			if srv.Calls() != tc.measured {
				t.Errorf("the endpoint was called %d times, want %d: a terminated run measures no more", srv.Calls(), tc.measured)
			}
		})
	}
}

func TestReconcileRetention(t *testing.T) {
	cases := []struct {
		name  string
		rules []rolloutsapi.MeasurementRetention
		want  int
	}{
		{name: "default 10", want: 10},
		{name: "a rule by name", rules: []rolloutsapi.MeasurementRetention{{MetricName: "m", Limit: 3}}, want: 3},
		{name: "a rule by pattern", rules: []rolloutsapi.MeasurementRetention{{MetricName: ".*", Limit: 12}}, want: 12},
		{name: "limit 0 keeps the default", rules: []rolloutsapi.MeasurementRetention{{MetricName: "m", Limit: 0}}, want: 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newValueServer(t)
			clk := newClock()
			r := NewRunner(Options{Clock: clk.Now, Logger: testLogger(t)})
			m := webMetric("m", srv.srv.URL)
			m.Interval, m.Count = "1s", intOrString(15)
			run := newRun(m)
			run.Spec.MeasurementRetention = tc.rules
			for i := range 15 {
				srv.set(i, 0)
				if _, err := r.Reconcile(context.Background(), run); err != nil {
					t.Fatal(err)
				}
				clk.Advance(time.Second)
			}
			res := result(t, run, "m")
			if run.Status.Phase != phaseSuccessful || res.Count != 15 || len(res.Measurements) != tc.want {
				t.Fatalf("run %s, count %d, %d measurements kept; want Successful, 15, %d", run.Status.Phase, res.Count, len(res.Measurements), tc.want)
			}
			if first := res.Measurements[0].Value; first != strconv.Itoa(15-tc.want) {
				t.Errorf("oldest kept value = %s, want %d: the latest measurements are kept", first, 15-tc.want)
			}
		})
	}
}

func TestReconcileUnsupportedProvider(t *testing.T) {
	for _, name := range []string{"job", "datadog", "newRelic", "plugin"} {
		t.Run(name, func(t *testing.T) {
			raw := &rolloutsapi.RawJSON{Raw: []byte(`{"any": "config"}`)}
			m := rolloutsapi.Metric{Name: "m", Interval: "1m", Count: intOrString(3)}
			switch name {
			case "job":
				m.Provider.Job = raw
			case "datadog":
				m.Provider.Datadog = raw
			case "newRelic":
				m.Provider.NewRelic = raw
			case "plugin":
				m.Provider.Plugin = raw
			}
			run := newRun(m)
			next, err := NewRunner(Options{Clock: newClock().Now, Logger: testLogger(t)}).Reconcile(context.Background(), run)
			if err != nil {
				t.Fatal(err)
			}
			msg := "provider " + name + " is not supported by Caravan: supported providers are web and prometheus"
			res := result(t, run, "m")
			if run.Status.Phase != phaseError || next != 0 || res.Phase != phaseError || res.Message != msg {
				t.Fatalf("run %s (next %s), metric %s %q; want Error at once, with %q", run.Status.Phase, next, res.Phase, res.Message, msg)
			}
			if want := `Metric "m" assessed Error: ` + msg; run.Status.Message != want {
				t.Errorf("run message = %q, want %q", run.Status.Message, want)
			}
		})
	}
}

func TestReconcileRunErrors(t *testing.T) {
	srv := newValueServer(t)
	cases := []struct {
		name    string
		run     func() *rolloutsapi.AnalysisRun
		opts    Options
		message string
	}{{
		name: "an argument without a value",
		run: func() *rolloutsapi.AnalysisRun {
			run := newRun(webMetric("m", srv.srv.URL+"/{{args.path}}"))
			run.Spec.Args = []rolloutsapi.Argument{{Name: "path"}}
			return run
		},
		message: "unable to resolve metric arguments: args.path has no value",
	}, {
		name: "a placeholder of an undeclared argument",
		run: func() *rolloutsapi.AnalysisRun {
			return newRun(webMetric("m", srv.srv.URL+"/{{ args.path }}"))
		},
		message: `unable to resolve metric arguments: metric "m": placeholder {{ args.path }} names no argument`,
	}, {
		name: "an argument that makes the metric invalid",
		run: func() *rolloutsapi.AnalysisRun {
			m := webMetric("m", srv.srv.URL)
			m.Interval = "{{args.every}}"
			run := newRun(m)
			run.Spec.Args = []rolloutsapi.Argument{{Name: "every", Value: ptr("soon")}}
			return run
		},
		message: "analysis spec invalid: spec.metrics[0].interval: Invalid value: \"soon\"",
	}, {
		name: "a Secret without a resolver",
		run: func() *rolloutsapi.AnalysisRun {
			m := webMetric("m", srv.srv.URL)
			m.Provider.Web.Headers = []rolloutsapi.WebMetricHeader{{Key: "Authorization", Value: "Bearer {{args.token}}"}}
			run := newRun(m)
			run.Spec.Args = []rolloutsapi.Argument{{Name: "token", ValueFrom: &rolloutsapi.ValueFrom{
				SecretKeyRef: &rolloutsapi.SecretKeyRef{Name: "api", Key: "token"}}}}
			return run
		},
		message: `unable to resolve metric arguments: args.token reads key "token" of Secret "api", but this runner cannot read Secrets`,
	}, {
		name: "a Secret that cannot be read",
		run: func() *rolloutsapi.AnalysisRun {
			m := webMetric("m", srv.srv.URL)
			m.Provider.Web.Headers = []rolloutsapi.WebMetricHeader{{Key: "Authorization", Value: "Bearer {{args.token}}"}}
			run := newRun(m)
			run.Spec.Args = []rolloutsapi.Argument{{Name: "token", ValueFrom: &rolloutsapi.ValueFrom{
				SecretKeyRef: &rolloutsapi.SecretKeyRef{Name: "api", Key: "token"}}}}
			return run
		},
		opts: Options{Secrets: func(_ context.Context, ns, name, key string) (string, error) {
			return "", errNotFound{ns + "/" + name}
		}},
		message: `unable to resolve metric arguments: args.token: read key "token" of Secret "api": secret demo/api not found`,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Clock = newClock().Now
			opts.Logger = testLogger(t)
			run := tc.run()
			calls := srv.Calls()
			next, err := NewRunner(opts).Reconcile(context.Background(), run)
			if err != nil {
				t.Fatal(err)
			}
			if run.Status.Phase != phaseError || next != 0 || !strings.HasPrefix(run.Status.Message, tc.message) || run.Status.CompletedAt == nil {
				t.Errorf("run = %s %q (next %s); want Error with a message starting %q", run.Status.Phase, run.Status.Message, next, tc.message)
			}
			if srv.Calls() != calls {
				t.Errorf("the endpoint was called")
			}
		})
	}
}

type errNotFound struct{ name string }

func (e errNotFound) Error() string { return "secret " + e.name + " not found" }

func TestReconcileCancelled(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	run := newRun(webMetric("m", srv.URL))
	ctx, cancel := context.WithCancel(context.Background())
	r := NewRunner(Options{Clock: newClock().Now, Logger: testLogger(t)})
	done := make(chan error, 1)
	go func() {
		_, err := r.Reconcile(ctx, run)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("Reconcile after cancel = nil error, want context.Canceled")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Reconcile did not return within 10s of its context being cancelled")
	}
	if run.Status.Phase != "" || len(run.Status.MetricResults) != 0 {
		t.Errorf("status changed by a cancelled reconcile: %+v", run.Status)
	}
}
