package analysis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

// Defaults of Argo Rollouts' analysis controller.
const (
	// DefaultMeasurementRetention is how many measurements a metric keeps
	// unless a measurementRetention rule says otherwise.
	DefaultMeasurementRetention = 10
	// DefaultErrorRetryInterval is how long after a measurement error the
	// next measurement is taken, whatever the metric's interval.
	DefaultErrorRetryInterval = 10 * time.Second
)

// Log attribute keys.
const (
	logKeyRun     = "analysisRun"
	logKeyMetric  = "metric"
	logKeyPhase   = "phase"
	logKeyMessage = "message"
)

// SecretResolver returns the value stored under key in the Secret name of
// namespace (the run's namespace). Its error must not contain the value.
type SecretResolver func(ctx context.Context, namespace, name, key string) (string, error)

// Options configure a Runner. The zero value runs the web and prometheus
// providers over a client of their own, with the real clock, and fails runs
// whose arguments read Secrets.
type Options struct {
	// Providers run metrics, keyed by the provider's name in a metric
	// ("web", "prometheus", "job", …). Nil means the built-in web and
	// prometheus providers over HTTPClient; a map replaces them (add
	// NewWebProvider and NewPrometheusProvider to keep them). A metric whose
	// provider is not in the map completes with phase Error.
	Providers map[string]Provider
	// HTTPClient sends the built-in providers' requests when Providers is
	// nil. Nil: a client with its own copy of http.DefaultTransport.
	HTTPClient *http.Client
	// Secrets reads the values of arguments with valueFrom.secretKeyRef,
	// each time a measurement is taken. Nil: such runs end in phase Error.
	Secrets SecretResolver
	// Clock tells the time; nil means time.Now. Tests inject one. It is
	// called from the goroutines that take measurements concurrently.
	Clock func() time.Time
	// Logger receives the runner's records; nil means slog.Default().
	// Secret values never reach it.
	Logger *slog.Logger
	// ErrorRetryInterval is how long after an erroneous measurement the next
	// one is taken; 0 means DefaultErrorRetryInterval (Argo Rollouts' 10 s).
	ErrorRetryInterval time.Duration
}

// Runner advances AnalysisRuns with Argo Rollouts' semantics. It keeps no
// state between calls: everything lives in the run's status. It is safe for
// concurrent use on different runs.
type Runner struct {
	providers  map[string]Provider
	secrets    SecretResolver
	clock      func() time.Time
	log        *slog.Logger
	errorRetry time.Duration
}

// NewRunner returns a Runner configured by opts.
func NewRunner(opts Options) *Runner {
	r := &Runner{
		providers:  opts.Providers,
		secrets:    opts.Secrets,
		clock:      opts.Clock,
		log:        opts.Logger,
		errorRetry: opts.ErrorRetryInterval,
	}
	if r.providers == nil {
		r.providers = map[string]Provider{
			ProviderWeb:        NewWebProvider(opts.HTTPClient),
			ProviderPrometheus: NewPrometheusProvider(opts.HTTPClient),
		}
	}
	if r.clock == nil {
		r.clock = time.Now
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.errorRetry <= 0 {
		r.errorRetry = DefaultErrorRetryInterval
	}
	return r
}

// minRequeue is the shortest wait Reconcile returns for a run that has not
// completed.
const minRequeue = time.Second

// Reconcile advances run's status by one step, as Argo Rollouts' analysis
// controller does on a reconciliation: it takes each metric's measurement
// when it is due, evaluates it, applies the metric's limits, and computes
// the metric and run phases, the run's message and summaries. It returns
// how long until the next measurement is due: 0 when the run has completed
// (its phase is Successful, Failed, Error or Inconclusive), more than 0
// otherwise. A completed run is left as it is.
//
// A run that can never be measured (an argument without a value, an invalid
// metric, a Secret that cannot be read) completes with phase Error and a
// message saying why. Reconcile returns an error only when ctx is done
// before it finished; the status is then left as it was.
func (r *Runner) Reconcile(ctx context.Context, run *rolloutsapi.AnalysisRun) (time.Duration, error) {
	if run.Status.Phase.Completed() {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	log := r.log.With(logKeyRun, run.Namespace+"/"+run.Name)
	now := r.clock()
	status := run.Status.DeepCopy()
	if status.StartedAt == nil {
		t := metav1.NewTime(now)
		status.StartedAt = &t
	}
	if status.Phase == "" {
		status.Phase = rolloutsapi.AnalysisPhaseRunning
	}

	// The metrics as scheduled and assessed: every placeholder resolved but
	// those of secrets, which only a measurement needs.
	planArgs, err := planningArgs(run.Spec.Args)
	if err != nil {
		return r.endInError(run, status, now, log, "unable to resolve metric arguments: "+err.Error())
	}
	metrics := make([]rolloutsapi.Metric, len(run.Spec.Metrics))
	for i := range run.Spec.Metrics {
		m, err := resolveMetric(&run.Spec.Metrics[i], planArgs)
		if err != nil {
			return r.endInError(run, status, now, log, "unable to resolve metric arguments: "+err.Error())
		}
		metrics[i] = *m
	}
	check := rolloutsapi.AnalysisRun{Spec: run.Spec}
	check.Spec.Metrics = metrics
	if errs := rolloutsapi.ValidateAnalysisRun(&check); len(errs) > 0 {
		return r.endInError(run, status, now, log, "analysis spec invalid: "+errs.ToAggregate().Error())
	}
	dryRun := matchRules(metrics, ruleNames(run.Spec.DryRun))

	tasks := r.plan(run.Spec.Terminate, metrics, status, dryRun, now)
	if len(tasks) > 0 {
		measured, mask, err := r.measureAll(ctx, run, tasks)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return 0, ctxErr
			}
			return r.endInError(run, status, now, log, "unable to resolve metric arguments: "+err.Error())
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		for i, t := range tasks {
			r.record(status, &metrics[t], dryRun[metrics[t].Name], measured[i], log, mask)
		}
	}

	before := status.Phase
	r.assess(run.Spec.Terminate, metrics, status, dryRun)
	if status.Phase.Completed() {
		t := metav1.NewTime(r.clock())
		status.CompletedAt = &t
		if before != status.Phase {
			log.Info("analysis run completed", logKeyPhase, status.Phase, logKeyMessage, status.Message)
		}
	}
	trimMeasurements(status, metrics, run.Spec.MeasurementRetention)
	run.Status = *status
	if run.Status.Phase.Completed() {
		return 0, nil
	}
	return r.nextDue(metrics, status, r.clock()), nil
}

// endInError completes the run with phase Error.
func (r *Runner) endInError(run *rolloutsapi.AnalysisRun, status *rolloutsapi.AnalysisRunStatus, now time.Time,
	log *slog.Logger, message string) (time.Duration, error) {
	status.Phase = rolloutsapi.AnalysisPhaseError
	status.Message = message
	t := metav1.NewTime(now)
	status.CompletedAt = &t
	run.Status = *status
	log.Warn("analysis run ended in error", logKeyMessage, message)
	return 0, nil
}

// planningArgs maps each argument to its value, keeping the placeholders of
// secrets (replaced by a stand-in), as Argo Rollouts does to schedule a run.
func planningArgs(args []rolloutsapi.Argument) (map[string]argValue, error) {
	out := make(map[string]argValue, len(args))
	for _, a := range args {
		switch {
		case a.ValueFrom != nil && a.ValueFrom.SecretKeyRef != nil:
			out[a.Name] = argValue{value: masked}
		case a.Value != nil:
			out[a.Name] = argValue{value: *a.Value}
		case a.ValueFrom != nil && a.ValueFrom.FieldRef != nil:
			return nil, fmt.Errorf("args.%s takes its value from valueFrom.fieldRef, which only a Rollout can resolve: give it a value", a.Name)
		default:
			return nil, fmt.Errorf("args.%s has no value: give it a value, or valueFrom.secretKeyRef", a.Name)
		}
	}
	return out, nil
}

func ruleNames[T rolloutsapi.DryRun | rolloutsapi.MeasurementRetention](rules []T) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		switch v := any(r).(type) {
		case rolloutsapi.DryRun:
			out[i] = v.MetricName
		case rolloutsapi.MeasurementRetention:
			out[i] = v.MetricName
		}
	}
	return out
}

// matchRules returns the names of the metrics that a rule (a metric name or
// a regular expression, already validated) matches.
func matchRules(metrics []rolloutsapi.Metric, rules []string) map[string]bool {
	out := map[string]bool{}
	for _, rule := range rules {
		re, err := regexp.Compile(rule)
		if err != nil {
			continue
		}
		for _, m := range metrics {
			if re.MatchString(m.Name) {
				out[m.Name] = true
			}
		}
	}
	return out
}

// plan returns the indexes of the metrics to measure now, as Argo Rollouts'
// generateMetricTasks does: none when the run is terminating; a metric's
// first measurement once its initialDelay has passed since the run started;
// later ones, until count is reached, interval after the previous one (or
// ErrorRetryInterval after an error). A metric waiting for its initialDelay
// gets a Pending result.
func (r *Runner) plan(terminate bool, metrics []rolloutsapi.Metric, status *rolloutsapi.AnalysisRunStatus,
	dryRun map[string]bool, now time.Time) []int {
	if isTerminating(terminate, status) {
		return nil
	}
	var tasks []int
	for i := range metrics {
		m := &metrics[i]
		res := findResult(status, m.Name)
		if res != nil && res.Phase.Completed() {
			continue
		}
		last := lastMeasurement(res)
		if last == nil {
			delay := mustDuration(m.InitialDelay)
			if delay > 0 && now.Before(status.StartedAt.Add(delay)) {
				if res == nil {
					status.MetricResults = append(status.MetricResults, rolloutsapi.MetricResult{
						Name:    m.Name,
						Phase:   rolloutsapi.AnalysisPhasePending,
						DryRun:  dryRun[m.Name],
						Message: fmt.Sprintf("waiting for initialDelay (%s) before the first measurement", m.InitialDelay),
					})
				}
				continue
			}
			tasks = append(tasks, i)
			continue
		}
		if count, bounded := effectiveCount(m); bounded && int(res.Count) >= count {
			continue
		}
		if !now.Before(finishedAt(last).Add(r.interval(m, last))) {
			tasks = append(tasks, i)
		}
	}
	return tasks
}

// interval is the wait after measurement last of m.
func (r *Runner) interval(m *rolloutsapi.Metric, last *rolloutsapi.Measurement) time.Duration {
	if last.Phase == rolloutsapi.AnalysisPhaseError || m.Interval == "" {
		return r.errorRetry
	}
	return mustDuration(m.Interval)
}

// measured is one measurement taken, with its metric's metadata.
type measured struct {
	measurement rolloutsapi.Measurement
	metadata    map[string]string
}

// measureAll reads the secrets the run needs and takes the measurements of
// tasks concurrently. An error means a secret could not be read.
func (r *Runner) measureAll(ctx context.Context, run *rolloutsapi.AnalysisRun, tasks []int) ([]measured, masker, error) {
	args := make(map[string]argValue, len(run.Spec.Args))
	var mask masker
	for _, a := range run.Spec.Args {
		if a.ValueFrom == nil || a.ValueFrom.SecretKeyRef == nil {
			if a.Value != nil {
				args[a.Name] = argValue{value: *a.Value}
			}
			continue
		}
		ref := a.ValueFrom.SecretKeyRef
		if r.secrets == nil {
			return nil, nil, fmt.Errorf("args.%s reads key %q of Secret %q, but this runner cannot read Secrets", a.Name, ref.Key, ref.Name)
		}
		v, err := r.secrets(ctx, run.Namespace, ref.Name, ref.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("args.%s: read key %q of Secret %q: %w", a.Name, ref.Key, ref.Name, err)
		}
		args[a.Name] = argValue{value: v}
		mask = append(mask, v)
	}

	out := make([]measured, len(tasks))
	var wg sync.WaitGroup
	for i, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = r.measure(ctx, &run.Spec.Metrics[t], args, mask)
		}()
	}
	wg.Wait()
	return out, mask, nil
}

// measure takes one measurement of metric (as written in the run's spec).
// The result is masked: no secret value is left in it.
func (r *Runner) measure(ctx context.Context, spec *rolloutsapi.Metric, args map[string]argValue, mask masker) measured {
	start := metav1.NewTime(r.clock())
	fail := func(err error) measured {
		finish := metav1.NewTime(r.clock())
		return measured{measurement: rolloutsapi.Measurement{
			Phase:      rolloutsapi.AnalysisPhaseError,
			Message:    mask.mask(err.Error()),
			StartedAt:  &start,
			FinishedAt: &finish,
		}}
	}
	metric, err := resolveMetric(spec, args)
	if err != nil {
		return fail(err)
	}
	name := providerName(&metric.Provider)
	provider, ok := r.providers[name]
	if !ok {
		return fail(errors.New(unsupportedMessage(name, r.providers)))
	}
	var metadata map[string]string
	if mp, ok := provider.(MetadataProvider); ok {
		metadata = mask.maskMap(mp.MetricMetadata(metric))
	}
	res, err := provider.Measure(ctx, metric)
	if err != nil {
		m := fail(err)
		m.metadata = metadata
		return m
	}
	finish := metav1.NewTime(r.clock())
	m := rolloutsapi.Measurement{
		Value:      mask.mask(res.Text),
		Metadata:   mask.maskMap(res.Metadata),
		StartedAt:  &start,
		FinishedAt: &finish,
	}
	m.Phase, err = evaluate(res.Value, metric)
	if err != nil {
		m.Message = mask.mask(err.Error())
	}
	return measured{measurement: m, metadata: metadata}
}

// record adds a measurement to its metric's result and counts it, as Argo
// Rollouts does: Count counts measurements without error.
func (r *Runner) record(status *rolloutsapi.AnalysisRunStatus, metric *rolloutsapi.Metric, dryRun bool,
	got measured, log *slog.Logger, mask masker) {
	res := findResult(status, metric.Name)
	if res == nil {
		status.MetricResults = append(status.MetricResults, rolloutsapi.MetricResult{Name: metric.Name})
		res = &status.MetricResults[len(status.MetricResults)-1]
	}
	if res.Phase == "" || res.Phase == rolloutsapi.AnalysisPhasePending {
		res.Phase = rolloutsapi.AnalysisPhaseRunning
		res.Message = ""
	}
	res.DryRun = dryRun
	if res.Metadata == nil && len(got.metadata) > 0 {
		res.Metadata = got.metadata
	}
	m := got.measurement
	switch m.Phase {
	case rolloutsapi.AnalysisPhaseSuccessful:
		res.Successful++
		res.Count++
		res.ConsecutiveError = 0
		res.ConsecutiveSuccess++
	case rolloutsapi.AnalysisPhaseFailed:
		res.Failed++
		res.Count++
		res.ConsecutiveError = 0
		res.ConsecutiveSuccess = 0
	case rolloutsapi.AnalysisPhaseInconclusive:
		res.Inconclusive++
		res.Count++
		res.ConsecutiveError = 0
		res.ConsecutiveSuccess = 0
	case rolloutsapi.AnalysisPhaseError:
		res.Error++
		res.ConsecutiveError++
		res.ConsecutiveSuccess = 0
		log.Warn("measurement had an error", logKeyMetric, metric.Name, logKeyMessage, mask.mask(m.Message))
	}
	res.Measurements = append(res.Measurements, m)
	log.Debug("measurement taken", logKeyMetric, metric.Name, logKeyPhase, m.Phase)
}
