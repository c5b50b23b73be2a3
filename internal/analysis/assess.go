package analysis

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

// runTerminatedMessage is the message of a run stopped by spec.terminate,
// as in Argo Rollouts.
const runTerminatedMessage = "Run Terminated"

// assess computes every metric's phase and the run's phase, message and
// summaries from the measurements, as Argo Rollouts' assessRunStatus does.
// When a metric has just failed (or errored, or become inconclusive), the
// run is terminating, and the other metrics are assessed once more as such,
// so the run completes in this step rather than the next.
func (r *Runner) assess(terminate bool, metrics []rolloutsapi.Metric, status *rolloutsapi.AnalysisRunStatus, dryRun map[string]bool) {
	terminating := isTerminating(terminate, status)
	phase, message := r.assessOnce(terminate, terminating, metrics, status, dryRun)
	if !terminating && isTerminating(terminate, status) {
		phase, message = r.assessOnce(terminate, true, metrics, status, dryRun)
	}
	if phase != status.Phase {
		status.Phase = phase
		status.Message = message
	}
}

func (r *Runner) assessOnce(terminate, terminating bool, metrics []rolloutsapi.Metric,
	status *rolloutsapi.AnalysisRunStatus, dryRun map[string]bool) (rolloutsapi.AnalysisPhase, string) {
	var worst rolloutsapi.AnalysisPhase
	var worstMessage string
	if terminate {
		worstMessage = runTerminatedMessage
	}
	var summary, drySummary rolloutsapi.RunSummary
	everythingCompleted := true
	for i := range metrics {
		m := &metrics[i]
		dry := dryRun[m.Name]
		if dry {
			drySummary.Count++
		} else {
			summary.Count++
		}
		res := findResult(status, m.Name)
		if res == nil {
			everythingCompleted = false
			continue
		}
		phase, reason := r.metricVerdict(m, res, terminating)
		if res.Phase != phase {
			if last := lastMeasurement(res); last != nil {
				res.Message = last.Message
			}
			res.Phase = phase
		}
		if !phase.Completed() {
			everythingCompleted = false
			continue
		}
		target := &summary
		if dry {
			target = &drySummary
			if worst == "" {
				worst = rolloutsapi.AnalysisPhaseSuccessful
			}
			if reason != "" {
				res.Message = fmt.Sprintf("Metric assessed %s due to %s", phase, reason)
			}
		} else if worst == "" || isWorse(worst, phase) {
			worst = phase
			switch {
			case reason != "":
				worstMessage = fmt.Sprintf("Metric %q assessed %s due to %s", m.Name, phase, reason)
				if res.Message != "" {
					worstMessage += fmt.Sprintf(": \"Error Message: %s\"", res.Message)
				}
			case phase != rolloutsapi.AnalysisPhaseSuccessful && res.Message != "":
				worstMessage = fmt.Sprintf("Metric %q assessed %s: %s", m.Name, phase, res.Message)
			}
		}
		switch phase {
		case rolloutsapi.AnalysisPhaseFailed:
			target.Failed++
		case rolloutsapi.AnalysisPhaseError:
			target.Error++
		case rolloutsapi.AnalysisPhaseInconclusive:
			target.Inconclusive++
		default:
			target.Successful++
		}
	}
	status.RunSummary = summary
	status.DryRunSummary = &drySummary
	worstMessage = strings.TrimSpace(worstMessage)
	if terminating {
		if worst == "" {
			return rolloutsapi.AnalysisPhaseSuccessful, worstMessage
		}
		return worst, worstMessage
	}
	if !everythingCompleted || worst == "" {
		return rolloutsapi.AnalysisPhaseRunning, ""
	}
	return worst, worstMessage
}

// metricVerdict is a metric's phase, and why when it is not plain success,
// as Argo Rollouts' assessMetricStatus decides it.
func (r *Runner) metricVerdict(m *rolloutsapi.Metric, res *rolloutsapi.MetricResult, terminating bool) (rolloutsapi.AnalysisPhase, string) {
	limitPhase, reason := limitsExceeded(m, res)
	if res.Phase.Completed() {
		if reason == "" {
			reason = successLimitMissed(m, res)
		}
		return res.Phase, reason
	}
	if len(res.Measurements) == 0 {
		if terminating {
			return rolloutsapi.AnalysisPhaseSuccessful, ""
		}
		return rolloutsapi.AnalysisPhasePending, ""
	}
	if !res.Measurements[len(res.Measurements)-1].Phase.Completed() {
		return rolloutsapi.AnalysisPhaseRunning, ""
	}
	if _, ok := r.providers[providerName(&m.Provider)]; !ok {
		// It can never be measured: no point in retrying.
		return rolloutsapi.AnalysisPhaseError, ""
	}
	if limitPhase != "" {
		return limitPhase, reason
	}
	successLimit := intValue(m.ConsecutiveSuccessLimit)
	if successLimit > 0 && int(res.ConsecutiveSuccess) >= successLimit {
		return rolloutsapi.AnalysisPhaseSuccessful, ""
	}
	if count, bounded := effectiveCount(m); bounded && int(res.Count) >= count {
		// Argo Rollouts v1.8: with consecutiveSuccessLimit, reaching count
		// without enough successes in a row is Inconclusive when failureLimit
		// applies too, Failed when it is disabled (-1).
		if why := successLimitMissed(m, res); why != "" {
			if m.FailureLimit == nil || intValue(m.FailureLimit) >= 0 {
				return rolloutsapi.AnalysisPhaseInconclusive, why
			}
			return rolloutsapi.AnalysisPhaseFailed, why
		}
		return rolloutsapi.AnalysisPhaseSuccessful, ""
	}
	if terminating {
		return rolloutsapi.AnalysisPhaseSuccessful, ""
	}
	return rolloutsapi.AnalysisPhaseRunning, ""
}

// successLimitMissed says why a metric that took its count of measurements
// did not succeed under its consecutiveSuccessLimit; "" when it did, or has
// no such limit.
func successLimitMissed(m *rolloutsapi.Metric, res *rolloutsapi.MetricResult) string {
	successLimit := intValue(m.ConsecutiveSuccessLimit)
	count, bounded := effectiveCount(m)
	if successLimit <= 0 || !bounded || int(res.Count) < count || int(res.ConsecutiveSuccess) >= successLimit {
		return ""
	}
	return fmt.Sprintf("consecutiveSuccessLimit (%d) not reached after count (%d) measurements", successLimit, count)
}

// limitsExceeded returns the phase a metric's counters force, if any, and
// the reason in Argo Rollouts' words. Errors beat inconclusive results,
// which beat failures.
func limitsExceeded(m *rolloutsapi.Metric, res *rolloutsapi.MetricResult) (rolloutsapi.AnalysisPhase, string) {
	var phase rolloutsapi.AnalysisPhase
	var reason string
	if failureLimit := intValue(m.FailureLimit); failureLimit >= 0 && int(res.Failed) > failureLimit {
		phase = rolloutsapi.AnalysisPhaseFailed
		reason = fmt.Sprintf("failed (%d) > failureLimit (%d)", res.Failed, failureLimit)
	}
	if inconclusiveLimit := intValue(m.InconclusiveLimit); int(res.Inconclusive) > inconclusiveLimit {
		phase = rolloutsapi.AnalysisPhaseInconclusive
		reason = fmt.Sprintf("inconclusive (%d) > inconclusiveLimit (%d)", res.Inconclusive, inconclusiveLimit)
	}
	errorLimit := rolloutsapi.DefaultConsecutiveErrorLimit
	if m.ConsecutiveErrorLimit != nil {
		errorLimit = intValue(m.ConsecutiveErrorLimit)
	}
	if int(res.ConsecutiveError) > errorLimit {
		phase = rolloutsapi.AnalysisPhaseError
		reason = fmt.Sprintf("consecutiveErrors (%d) > consecutiveErrorLimit (%d)", res.ConsecutiveError, errorLimit)
	}
	return phase, reason
}

// isTerminating reports whether the run takes no more measurements: it was
// asked to stop, or a metric that is not a dry run has failed, errored or
// become inconclusive.
func isTerminating(terminate bool, status *rolloutsapi.AnalysisRunStatus) bool {
	if terminate {
		return true
	}
	for _, res := range status.MetricResults {
		if res.DryRun {
			continue
		}
		switch res.Phase {
		case rolloutsapi.AnalysisPhaseFailed, rolloutsapi.AnalysisPhaseError, rolloutsapi.AnalysisPhaseInconclusive:
			return true
		}
	}
	return false
}

// phaseOrder ranks phases from best to worst, as Argo Rollouts does.
var phaseOrder = map[rolloutsapi.AnalysisPhase]int{
	rolloutsapi.AnalysisPhaseSuccessful:   0,
	rolloutsapi.AnalysisPhaseRunning:      1,
	rolloutsapi.AnalysisPhasePending:      2,
	rolloutsapi.AnalysisPhaseInconclusive: 3,
	rolloutsapi.AnalysisPhaseError:        4,
	rolloutsapi.AnalysisPhaseFailed:       5,
}

func isWorse(current, next rolloutsapi.AnalysisPhase) bool {
	return phaseOrder[next] > phaseOrder[current]
}

// trimMeasurements keeps the latest measurements of each metric: as many as
// the last measurementRetention rule matching it says (when above 0), else
// DefaultMeasurementRetention.
func trimMeasurements(status *rolloutsapi.AnalysisRunStatus, metrics []rolloutsapi.Metric, rules []rolloutsapi.MeasurementRetention) {
	limits := map[string]int{}
	for _, rule := range rules {
		re, err := regexp.Compile(rule.MetricName)
		if err != nil || rule.Limit <= 0 {
			continue
		}
		for _, m := range metrics {
			if re.MatchString(m.Name) {
				limits[m.Name] = int(rule.Limit)
			}
		}
	}
	for i := range status.MetricResults {
		res := &status.MetricResults[i]
		limit := DefaultMeasurementRetention
		if l, ok := limits[res.Name]; ok {
			limit = l
		}
		if n := len(res.Measurements); n > limit {
			res.Measurements = append([]rolloutsapi.Measurement(nil), res.Measurements[n-limit:]...)
		}
	}
}

// nextDue returns how long until the earliest next measurement of a metric
// that has not completed.
func (r *Runner) nextDue(metrics []rolloutsapi.Metric, status *rolloutsapi.AnalysisRunStatus, now time.Time) time.Duration {
	var next time.Time
	for i := range metrics {
		m := &metrics[i]
		res := findResult(status, m.Name)
		if res != nil && res.Phase.Completed() {
			continue
		}
		var due time.Time
		if last := lastMeasurement(res); last == nil {
			due = status.StartedAt.Add(mustDuration(m.InitialDelay))
		} else {
			if count, bounded := effectiveCount(m); bounded && int(res.Count) >= count {
				continue
			}
			due = finishedAt(last).Add(r.interval(m, last))
		}
		if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	if next.IsZero() {
		return r.errorRetry
	}
	if d := next.Sub(now); d >= minRequeue {
		return d
	}
	return minRequeue
}

// findResult returns the result of the named metric, or nil.
func findResult(status *rolloutsapi.AnalysisRunStatus, name string) *rolloutsapi.MetricResult {
	for i := range status.MetricResults {
		if status.MetricResults[i].Name == name {
			return &status.MetricResults[i]
		}
	}
	return nil
}

func lastMeasurement(res *rolloutsapi.MetricResult) *rolloutsapi.Measurement {
	if res == nil || len(res.Measurements) == 0 {
		return nil
	}
	return &res.Measurements[len(res.Measurements)-1]
}

// finishedAt is when a measurement finished, or started if it has not.
func finishedAt(m *rolloutsapi.Measurement) time.Time {
	switch {
	case m.FinishedAt != nil:
		return m.FinishedAt.Time
	case m.StartedAt != nil:
		return m.StartedAt.Time
	}
	return time.Time{}
}

// effectiveCount is how many measurements a metric takes, as Argo Rollouts'
// EffectiveCount: count when above 0; otherwise 1 without an interval and
// unbounded (false) with one.
func effectiveCount(m *rolloutsapi.Metric) (int, bool) {
	if n := intValue(m.Count); n > 0 {
		return n, true
	}
	if m.Interval == "" {
		return 1, true
	}
	return 0, false
}

// intValue reads an int-or-string field; absent or unreadable is 0.
func intValue(v *intstr.IntOrString) int {
	if v == nil {
		return 0
	}
	if v.Type == intstr.Int {
		return int(v.IntVal)
	}
	n, err := strconv.Atoi(strings.TrimSpace(v.StrVal))
	if err != nil {
		return 0
	}
	return n
}

// mustDuration parses a validated duration; empty is 0.
func mustDuration(d rolloutsapi.DurationString) time.Duration {
	if d == "" {
		return 0
	}
	v, err := d.Duration()
	if err != nil {
		return 0
	}
	return v
}
