package promotion

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/expr"
	"github.com/caravan-dev/caravan/internal/retry"
)

// Defaults of the engine.
const (
	// DefaultSharedNamespace is where sharedSecret() and sharedConfigMap()
	// read when EngineOptions names no namespace.
	DefaultSharedNamespace = "kargo-shared-resources"
	// DefaultStepTimeout bounds one run of a step (the deadline of the
	// context Step.Run gets) when EngineOptions sets none.
	DefaultStepTimeout = 10 * time.Minute
	// DefaultRetryAfter is the wait before running a Running step again when
	// the step names none.
	DefaultRetryAfter = 10 * time.Second

	minErrorBackoff = 5 * time.Second
	maxErrorBackoff = 5 * time.Minute
)

// Attribute keys of the engine's log records.
const (
	logKeyProject   = "project"
	logKeyStage     = "stage"
	logKeyPromotion = "promotion"
	logKeyStep      = "step"
	logKeyUses      = "uses"
	logKeyStatus    = "status"
	logKeyError     = "error"
	logKeyAttempt   = "attempt"
)

// EngineOptions configure an Engine.
type EngineOptions struct {
	// Registry holds the steps promotions may use (see NewRegistry).
	Registry Registry
	// Lookups reads Secrets, ConfigMaps, Freight, Stages and Warehouses for
	// the expression functions. Nil leaves secret(), configMap(),
	// freightMetadata() … unavailable: expressions calling them fail.
	Lookups Lookups
	// SharedNamespace is the namespace sharedSecret() and sharedConfigMap()
	// read. Default: DefaultSharedNamespace.
	SharedNamespace string
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
	// Logger receives the engine's records. Default: slog.Default().
	Logger *slog.Logger
	// DefaultStepTimeout bounds one run of a step. It is not a step's
	// retry.timeout, which bounds the time from its first start to its end
	// across retries and waits. Default: DefaultStepTimeout.
	DefaultStepTimeout time.Duration
}

// Engine runs Promotions' steps. It is safe for concurrent use; one Engine
// serves every promotion.
type Engine struct {
	registry    Registry
	schemas     map[string]*jsonschema.Schema
	known       []string
	lookups     Lookups
	shared      string
	clock       func() time.Time
	log         *slog.Logger
	stepTimeout time.Duration
}

// NewEngine returns an Engine over opts.Registry. It compiles every step's
// schema once; a schema that does not compile is a programming error in the
// step, and NewEngine panics with it.
func NewEngine(opts EngineOptions) *Engine {
	e := &Engine{
		registry:    opts.Registry,
		schemas:     make(map[string]*jsonschema.Schema, len(opts.Registry)),
		lookups:     opts.Lookups,
		shared:      opts.SharedNamespace,
		clock:       opts.Clock,
		log:         opts.Logger,
		stepTimeout: opts.DefaultStepTimeout,
	}
	if e.shared == "" {
		e.shared = DefaultSharedNamespace
	}
	if e.clock == nil {
		e.clock = time.Now
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.stepTimeout <= 0 {
		e.stepTimeout = DefaultStepTimeout
	}
	for name, st := range opts.Registry {
		e.known = append(e.known, name)
		if raw := st.Schema(); len(raw) > 0 {
			s, err := compileSchema(name, raw)
			if err != nil {
				panic("promotion: " + err.Error())
			}
			e.schemas[name] = s
		}
	}
	sort.Strings(e.known)
	return e
}

// Input is what a promotion runs with. The Promotion reconciler builds it
// from the Promotion, its Stage and its Freight.
type Input struct {
	// Project, Stage and Promotion name the promotion.
	Project, Stage, Promotion string
	// Actor is who created the Promotion (ctx.meta.promotion.actor).
	Actor string
	// Vars are the Promotion's variables (spec.vars), in order.
	Vars []kargoapi.ExpressionVariable
	// Steps are the Promotion's steps (spec.steps), tasks inflated.
	Steps []kargoapi.PromotionStep
	// Freight is the Freight the promotion brings to the Stage, one per
	// origin, the target Freight among them.
	Freight kargoapi.FreightCollection
	// TargetFreight is the Freight being promoted.
	TargetFreight kargoapi.FreightReference
	// WorkDir is the promotion's workspace, an absolute path; Run creates it
	// when missing. It is a cache: a resumed promotion may find it empty.
	WorkDir string
	// Aborted, if set, reports whether the Promotion was asked to abort; it
	// is consulted before each step.
	Aborted func() bool
}

// RunResult says what the caller does after Run.
type RunResult struct {
	// Done is true when the Promotion ended: status.Phase is terminal.
	Done bool
	// RetryAfter, when not Done, is when to call Run again: a step is
	// waiting (Running) or will be retried after an error.
	RetryAfter time.Duration
}

// Run runs the promotion described by in from status.CurrentStep until it
// ends or a step must wait, and records its progress in status: phase,
// startedAt, message, currentStep, stepExecutionMetadata (alias, times,
// status, message, error count, attempts), state (each step's output under
// its alias), healthChecks, freight and freightCollection (when unset), and
// finishedAt.
//
// save writes status durably. Run calls it before the first run of every
// step, so that the steps finished so far (skipped ones included) and the
// start of this one are stored before it can have any effect, and before it
// returns a result, so that a step's outcome (Running, a retry, the end) is
// stored. A step that was recorded as started and runs again sees a higher
// StepContext.Attempt. A promotion of n steps that all run is saved n+1
// times. A status whose phase is terminal is left alone and reported Done.
//
// Run returns an error, with status possibly holding unsaved progress, when
// save fails, when ctx ends, or when a lookup an expression needs fails
// (the store may be briefly unavailable): the caller should re-read the
// Promotion and call Run again later. Everything the Promotion's author can
// fix (an unknown step, a bad expression, a config that fails its schema)
// is recorded in the status instead, and ends the promotion as Errored.
func (e *Engine) Run(
	ctx context.Context,
	in Input,
	status *kargoapi.PromotionStatus,
	save func(ctx context.Context, status *kargoapi.PromotionStatus) error,
) (RunResult, error) {
	if status.Phase.IsTerminal() {
		return RunResult{Done: true}, nil
	}
	if save == nil {
		return RunResult{}, errors.New("run promotion: save is nil")
	}
	r := &run{e: e, in: &in, status: status, save: save,
		log: e.log.With(logKeyProject, in.Project, logKeyStage, in.Stage, logKeyPromotion, in.Promotion)}
	r.steps = make([]plannedStep, len(in.Steps))
	r.aliases = make([]string, len(in.Steps))
	for i := range in.Steps {
		r.steps[i] = planStep(&in.Steps[i], i)
		r.aliases[i] = r.steps[i].alias
	}
	now := metav1.NewTime(e.clock())
	if status.StartedAt == nil {
		status.StartedAt = &now
	}
	if status.Phase != kargoapi.PromotionPhaseRunning {
		status.Phase = kargoapi.PromotionPhaseRunning
		status.Message = ""
	}
	if status.Freight == nil && in.TargetFreight.Name != "" {
		status.Freight = in.TargetFreight.DeepCopy()
	}
	if status.FreightCollection == nil && len(in.Freight.Freight) > 0 {
		status.FreightCollection = in.Freight.DeepCopy()
	}
	r.outputs = map[string]any{}
	if !status.State.IsEmpty() {
		if err := json.Unmarshal(status.State.Raw, &r.outputs); err != nil || r.outputs == nil {
			return r.end(ctx, kargoapi.PromotionPhaseErrored,
				fmt.Sprintf("the saved step outputs (status.state) cannot be read: %v; create a new Promotion", err))
		}
	}
	if status.CurrentStep < 0 || int(status.CurrentStep) > len(in.Steps) {
		return r.end(ctx, kargoapi.PromotionPhaseErrored, fmt.Sprintf(
			"status.currentStep is %d but the Promotion has %d steps; create a new Promotion", status.CurrentStep, len(in.Steps)))
	}
	if in.WorkDir != "" {
		if err := os.MkdirAll(in.WorkDir, 0o700); err != nil {
			return RunResult{}, fmt.Errorf("create workspace: %w", err)
		}
	}
	if err := r.newOrigins(ctx); err != nil {
		return RunResult{}, fmt.Errorf("run promotion: %w", err)
	}
	r.buildCtxVar()
	for i := int(status.CurrentStep); i < len(in.Steps); i++ {
		if err := ctx.Err(); err != nil {
			return RunResult{}, err
		}
		if in.Aborted != nil && in.Aborted() {
			return r.abort(ctx, i)
		}
		status.CurrentStep = int64(i)
		meta := r.meta(i)
		if isFinished(meta) {
			continue
		}
		wait, waiting, err := r.step(ctx, i)
		if err != nil {
			return RunResult{}, err
		}
		if waiting {
			if err := r.store(ctx); err != nil {
				return RunResult{}, err
			}
			return RunResult{RetryAfter: wait}, nil
		}
	}
	phase, msg := r.finalPhase()
	return r.end(ctx, phase, msg)
}

// meta returns the execution metadata of step i, growing the list to it.
func (r *run) meta(i int) *kargoapi.StepExecutionMetadata {
	for len(r.status.StepExecutionMetadata) <= i {
		r.status.StepExecutionMetadata = append(r.status.StepExecutionMetadata, kargoapi.StepExecutionMetadata{})
	}
	m := &r.status.StepExecutionMetadata[i]
	m.Alias = r.steps[i].alias
	m.ContinueOnError = r.in.Steps[i].ContinueOnError
	return m
}

func isFinished(m *kargoapi.StepExecutionMetadata) bool {
	switch m.Status {
	case kargoapi.PromotionStepStatusSucceeded, kargoapi.PromotionStepStatusSkipped,
		kargoapi.PromotionStepStatusFailed, kargoapi.PromotionStepStatusErrored, kargoapi.PromotionStepStatusAborted:
		return m.FinishedAt != nil
	}
	return false
}

// store saves the status with the outputs in status.state.
func (r *run) store(ctx context.Context) error {
	raw, err := json.Marshal(r.outputs)
	if err != nil {
		return fmt.Errorf("encode step outputs: %w", err)
	}
	r.status.State = &kargoapi.JSON{Raw: raw}
	if err := r.save(ctx, r.status); err != nil {
		return fmt.Errorf("save promotion status: %w", err)
	}
	return nil
}

// end finishes the promotion with phase and message and saves it.
func (r *run) end(ctx context.Context, phase kargoapi.PromotionPhase, msg string) (RunResult, error) {
	now := metav1.NewTime(r.e.clock())
	r.status.Phase = phase
	r.status.Message = msg
	r.status.FinishedAt = &now
	if n := int64(len(r.in.Steps)); n > 0 && r.status.CurrentStep >= n {
		r.status.CurrentStep = n - 1
	}
	if r.outputs == nil {
		r.outputs = map[string]any{}
	}
	if err := r.store(ctx); err != nil {
		return RunResult{}, err
	}
	r.log.Info("promotion finished", logKeyStatus, string(phase))
	return RunResult{Done: true}, nil
}

// abort ends the promotion as Aborted before step i; a step waiting there
// is marked Aborted too.
func (r *run) abort(ctx context.Context, i int) (RunResult, error) {
	if i < len(r.status.StepExecutionMetadata) {
		m := &r.status.StepExecutionMetadata[i]
		if m.Status == kargoapi.PromotionStepStatusRunning {
			now := metav1.NewTime(r.e.clock())
			m.Status = kargoapi.PromotionStepStatusAborted
			m.Message = "aborted while it was waiting"
			m.FinishedAt = &now
		}
	}
	return r.end(ctx, kargoapi.PromotionPhaseAborted, fmt.Sprintf(
		"aborted before step %d (%q) of %d", i, r.steps[i].alias, len(r.steps)))
}

// finalPhase is the worst status among the steps without continueOnError:
// Succeeded (or Skipped) < Failed < Errored.
func (r *run) finalPhase() (kargoapi.PromotionPhase, string) {
	worst, at := 0, -1
	for i, m := range r.status.StepExecutionMetadata {
		if i >= len(r.in.Steps) || r.in.Steps[i].ContinueOnError {
			continue
		}
		if s := severity(m.Status); s > worst {
			worst, at = s, i
		}
	}
	if at < 0 {
		return kargoapi.PromotionPhaseSucceeded, ""
	}
	m := r.status.StepExecutionMetadata[at]
	phase, verb := kargoapi.PromotionPhaseFailed, "failed"
	if worst == 2 {
		phase, verb = kargoapi.PromotionPhaseErrored, "errored"
	}
	msg := fmt.Sprintf("step %d %q (%s) %s", at, m.Alias, r.in.Steps[at].Uses, verb)
	if m.Message != "" {
		msg += ": " + m.Message
	}
	return phase, msg
}

func severity(s kargoapi.PromotionStepStatus) int {
	switch s {
	case kargoapi.PromotionStepStatusFailed, kargoapi.PromotionStepStatusAborted:
		return 1
	case kargoapi.PromotionStepStatusErrored:
		return 2
	}
	return 0
}

// step runs step i once: it decides whether the step is skipped, evaluates
// its config, records its start, runs it and records the outcome. waiting
// is true when the promotion must stop here and resume after wait. err is
// an error the caller returns from Run.
func (r *run) step(ctx context.Context, i int) (wait time.Duration, waiting bool, err error) {
	p := &r.steps[i]
	spec := &r.in.Steps[i]
	meta := r.meta(i)
	log := r.log.With(logKeyStep, p.alias, logKeyUses, spec.Uses)

	// A step without if is skipped once an earlier step failed (an implicit
	// success()); its vars are then not even evaluated.
	if strings.TrimSpace(spec.If) == "" && r.hasFailures(i) {
		r.finish(meta, kargoapi.PromotionStepStatusSkipped,
			"skipped because an earlier step failed; give it if: ${{ always() }} to run it anyway")
		return 0, false, nil
	}
	sc := r.newScope(ctx, i)
	fail := func(err error) (time.Duration, bool, error) {
		if sc.lookupErr != nil {
			// The store failed, not the manifest: keep what finished so far
			// and let the caller retry.
			_ = r.store(ctx)
			return 0, false, fmt.Errorf("step %q: %w", p.alias, sc.lookupErr)
		}
		r.finish(meta, kargoapi.PromotionStepStatusErrored, joinMessage(sc.red.string(err.Error()), p.notice))
		return 0, false, nil
	}
	if err := sc.evalVars(spec); err != nil {
		return fail(err)
	}
	if strings.TrimSpace(spec.If) != "" {
		ok, err := sc.evalIf(spec.If)
		if err != nil {
			return fail(err)
		}
		if !ok {
			r.finish(meta, kargoapi.PromotionStepStatusSkipped, "skipped: its if condition is false")
			return 0, false, nil
		}
	}
	st, err := r.resolve(p, spec)
	if err != nil {
		return fail(err)
	}
	cfg, err := sc.evalConfig(p.config)
	if err == nil && p.convert != nil {
		cfg, err = p.convert(sc, cfg)
	}
	if err == nil {
		if s := r.e.schemas[p.uses]; s != nil {
			err = validateConfig(s, cfg)
		}
	}
	if err != nil {
		return fail(err)
	}

	// Record the start before the step can have any effect.
	now := metav1.NewTime(r.e.clock())
	first := meta.StartedAt == nil
	meta.Attempts++
	meta.Status = kargoapi.PromotionStepStatusRunning
	if first {
		meta.StartedAt = &now
		meta.ErrorCount = 0
		if err := r.store(ctx); err != nil {
			return 0, false, err
		}
	}
	sctx := &StepContext{
		Project: r.in.Project, Stage: r.in.Stage, Promotion: r.in.Promotion, Actor: r.in.Actor,
		Alias: p.alias, WorkDir: r.in.WorkDir, Config: cfg,
		Freight: r.in.Freight, TargetFreight: r.in.TargetFreight,
		Outputs: r.outputsCopy(), Attempt: int(meta.Attempts), Logger: log,
	}
	log.Debug("running promotion step", logKeyAttempt, meta.Attempts)
	res, runErr, panicked := r.e.invoke(ctx, st, sctx, log, sc.red)
	if ctx.Err() != nil && !panicked {
		// The server is stopping: the step's outcome says nothing about
		// the step, which runs again (as a later attempt) after a restart.
		return 0, false, ctx.Err()
	}
	return r.outcome(i, st, sc, res, runErr, panicked, log)
}

// resolve returns the Step that runs p.
func (r *run) resolve(p *plannedStep, spec *kargoapi.PromotionStep) (Step, error) {
	if p.err != nil {
		return nil, p.err
	}
	if spec.Task != nil {
		return nil, fmt.Errorf("the step references the task %q, which should have been inflated when the Promotion "+
			"was created: create a new Promotion", spec.Task.Name)
	}
	if p.uses == "" {
		return nil, fmt.Errorf("the step has no uses: name the step to run, such as git-clone")
	}
	st, ok := r.e.registry[p.uses]
	if ok {
		return st, nil
	}
	if spec.Uses != p.uses {
		return nil, fmt.Errorf("%s runs as %s, which this server does not have", strings.TrimSpace(spec.Uses), p.uses)
	}
	msg := fmt.Sprintf("unknown step %q: known steps are %s", p.uses, strings.Join(r.e.known, ", "))
	if s := closest(p.uses, r.e.known); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return nil, errors.New(msg)
}

// invoke runs st, turning a panic into an error.
func (e *Engine) invoke(ctx context.Context, st Step, sc *StepContext, log *slog.Logger, red *redactor) (res StepResult, err error, panicked bool) {
	runCtx, cancel := context.WithTimeout(ctx, e.stepTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			panicked = true
			err = fmt.Errorf("the step panicked: %v", v)
			log.Error("promotion step panicked", "panic", red.string(fmt.Sprint(v)), "stack", string(debug.Stack()))
		}
	}()
	res, err = st.Run(runCtx, sc)
	return res, err, false
}

// outcome records what a run of step i returned.
func (r *run) outcome(i int, st Step, sc *scope, res StepResult, runErr error, panicked bool,
	log *slog.Logger) (time.Duration, bool, error) {
	p := &r.steps[i]
	spec := &r.in.Steps[i]
	meta := &r.status.StepExecutionMetadata[i]
	now := r.e.clock()

	if res.Output != nil {
		out, err := jsonValue(res.Output)
		if err != nil && runErr == nil && !panicked {
			runErr = retry.Terminal(fmt.Errorf("its output cannot be saved as JSON: %w", err))
		}
		if out != nil {
			out = sc.red.value(out).(map[string]any)
			r.outputs[p.alias] = out
			if to, ok := st.(TaskOutputStep); ok && to.TaskOutput() {
				if ns, _ := expr.SplitAlias(p.alias); ns != "" {
					merged, _ := r.outputs[ns].(map[string]any)
					if merged == nil {
						merged = map[string]any{}
					}
					for k, v := range out {
						merged[k] = v
					}
					r.outputs[ns] = merged
				}
			}
		}
	}
	msg := res.Message
	if runErr != nil {
		msg = runErr.Error()
	}
	msg = sc.red.string(msg)
	if p.notice != "" {
		msg = joinMessage(msg, p.notice)
	}
	log = log.With(logKeyStatus, string(res.Status))

	switch {
	case panicked:
		r.finish(meta, kargoapi.PromotionStepStatusErrored, msg)
	case res.Status == kargoapi.PromotionStepStatusFailed:
		r.finish(meta, kargoapi.PromotionStepStatusFailed, msg)
	case runErr != nil && retry.IsTerminal(runErr):
		r.finish(meta, kargoapi.PromotionStepStatusErrored, msg)
	case runErr != nil || res.Status == kargoapi.PromotionStepStatusErrored:
		if runErr == nil && res.Message == "" {
			msg = joinMessage("the step reported an error without details", p.notice)
		}
		meta.ErrorCount++
		threshold := r.threshold(spec, st)
		if meta.ErrorCount >= threshold {
			if threshold > 1 {
				msg = fmt.Sprintf("%d errors in a row, reaching retry.errorThreshold %d; the last: %s", meta.ErrorCount, threshold, msg)
			}
			r.finish(meta, kargoapi.PromotionStepStatusErrored, msg)
			break
		}
		if r.timedOut(meta, spec, st, now) {
			break
		}
		meta.Message = fmt.Sprintf("%s (error %d of %d allowed by retry.errorThreshold; retrying)", msg, meta.ErrorCount, threshold)
		wait := backoff(meta.ErrorCount)
		if d, ok := retry.Delay(runErr); ok && d > 0 {
			wait = d
		}
		log.Info("promotion step will be retried", logKeyError, meta.Message)
		return r.capWait(meta, spec, st, now, wait), true, nil
	case res.Status == kargoapi.PromotionStepStatusSucceeded || res.Status == kargoapi.PromotionStepStatusSkipped:
		if res.Status == kargoapi.PromotionStepStatusSucceeded && res.HealthCheck != nil {
			r.addHealthCheck(*res.HealthCheck)
		}
		r.finish(meta, res.Status, msg)
	case res.Status == kargoapi.PromotionStepStatusRunning:
		meta.ErrorCount = 0
		if r.timedOut(meta, spec, st, now) {
			break
		}
		meta.Message = msg
		wait := res.RetryAfter
		if wait <= 0 {
			wait = DefaultRetryAfter
		}
		return r.capWait(meta, spec, st, now, wait), true, nil
	default:
		r.finish(meta, kargoapi.PromotionStepStatusErrored, fmt.Sprintf(
			"the step returned the status %q, which is not one a step may return (Succeeded, Skipped, Failed, Running)", res.Status))
	}
	log.Debug("promotion step finished", "result", string(meta.Status))
	return 0, false, nil
}

// finish records a step's final status.
func (r *run) finish(meta *kargoapi.StepExecutionMetadata, s kargoapi.PromotionStepStatus, msg string) {
	now := metav1.NewTime(r.e.clock())
	meta.Status = s
	meta.Message = msg
	meta.FinishedAt = &now
}

// hasFailures reports whether a step before i failed or errored without
// continueOnError.
func (r *run) hasFailures(i int) bool {
	for _, m := range r.status.StepExecutionMetadata[:i] {
		if !m.ContinueOnError && (m.Status == kargoapi.PromotionStepStatusFailed ||
			m.Status == kargoapi.PromotionStepStatusErrored) {
			return true
		}
	}
	return false
}

// threshold is the step's retry.errorThreshold, else its default, else 1.
func (r *run) threshold(spec *kargoapi.PromotionStep, st Step) uint32 {
	if spec.Retry != nil && spec.Retry.ErrorThreshold > 0 {
		return spec.Retry.ErrorThreshold
	}
	if rp, ok := st.(RetryPolicy); ok && rp.DefaultErrorThreshold() > 0 {
		return rp.DefaultErrorThreshold()
	}
	return kargoapi.DefaultStepErrorThreshold
}

// timeout is the step's retry.timeout, else its default; 0 is none.
func (r *run) timeout(spec *kargoapi.PromotionStep, st Step) time.Duration {
	if spec.Retry != nil && spec.Retry.Timeout != nil && spec.Retry.Timeout.Duration > 0 {
		return spec.Retry.Timeout.Duration
	}
	if rp, ok := st.(RetryPolicy); ok {
		return rp.DefaultTimeout()
	}
	return 0
}

// timedOut ends a step as Errored when it has been running longer than its
// timeout, and reports whether it did.
func (r *run) timedOut(meta *kargoapi.StepExecutionMetadata, spec *kargoapi.PromotionStep, st Step, now time.Time) bool {
	t := r.timeout(spec, st)
	if t <= 0 || meta.StartedAt == nil || now.Sub(meta.StartedAt.Time) <= t {
		return false
	}
	last := meta.Message
	r.finish(meta, kargoapi.PromotionStepStatusErrored, fmt.Sprintf(
		"timed out: still not done %s after it started, longer than its timeout of %s (raise retry.timeout to wait longer)",
		now.Sub(meta.StartedAt.Time).Round(time.Second), t))
	if last != "" {
		meta.Message += "; last: " + last
	}
	return true
}

// capWait shortens wait so that the next run comes soon after the step's
// timeout, if it has one.
func (r *run) capWait(meta *kargoapi.StepExecutionMetadata, spec *kargoapi.PromotionStep, st Step, now time.Time, wait time.Duration) time.Duration {
	t := r.timeout(spec, st)
	if t <= 0 || meta.StartedAt == nil {
		return wait
	}
	if left := meta.StartedAt.Add(t).Sub(now) + time.Second; left < wait {
		return left
	}
	return wait
}

// backoff is the wait before retrying a step after its n-th error in a row.
func backoff(n uint32) time.Duration {
	d := minErrorBackoff
	for ; n > 1 && d < maxErrorBackoff; n-- {
		d *= 2
	}
	return min(d, maxErrorBackoff)
}

func (r *run) addHealthCheck(hc kargoapi.HealthCheckStep) {
	for _, h := range r.status.HealthChecks {
		if h.Uses == hc.Uses && string(jsonOf(h.Config)) == string(jsonOf(hc.Config)) {
			return
		}
	}
	r.status.HealthChecks = append(r.status.HealthChecks, *hc.DeepCopy())
}

func jsonOf(j *kargoapi.JSON) []byte {
	if j.IsEmpty() {
		return nil
	}
	return j.Raw
}

// outputsCopy returns the outputs so far for a StepContext.
func (r *run) outputsCopy() map[string]map[string]any {
	out := make(map[string]map[string]any, len(r.outputs))
	for k, v := range r.outputs {
		if m, ok := v.(map[string]any); ok {
			out[k] = m
		}
	}
	return out
}

// jsonValue returns v as the JSON value it encodes to, so that the outputs
// a step sees are the same whether or not the promotion was resumed.
func jsonValue(v map[string]any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func joinMessage(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
