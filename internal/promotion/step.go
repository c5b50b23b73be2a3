// Package promotion is the promotion engine: it runs a Promotion's steps in
// order with Kargo's step model (if, continueOnError, retry, timeouts, task
// inflation, outputs), evaluating expressions in every step's config and
// validating it against the step's JSON schema. Like every domain engine it
// imports neither the store nor a Kubernetes client: the Promotion reconciler
// hands it plain inputs (Input, Lookups) and a save function, and the
// Promotion's status is the durable record of its progress.
//
// The pieces:
//
//   - Step, StepContext, StepResult: what every built-in step implements and
//     sees. The built-in steps live in package steps; the wiring code builds
//     the Registry explicitly and passes it to NewEngine.
//   - Engine.Run: runs a Promotion from its status's current step until it
//     ends or a step must wait, saving the status before every step runs and
//     when it stops.
//   - InflateSteps: replaces steps that reference a (Cluster)PromotionTask
//     with the task's steps; admission calls it when a Promotion is created.
//   - SecurePath: resolves a path a step's config names inside the
//     promotion's workspace, refusing any that leads outside it.
//
// The v1.0-era forms of Kargo manifests (helm-update-image, messageFromSteps,
// sourceBranchFromStep, prNumberFromStep, desiredCommitFromStep) run as
// their current equivalents, with a deprecation notice in the step's
// message.
package promotion

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
)

// Step is one kind of promotion step, such as git-clone. Implementations are
// safe for concurrent use: one Step value serves every promotion.
type Step interface {
	// Name is the value of a step's `uses`, e.g. "git-clone".
	Name() string
	// Schema is the JSON schema (draft 2020-12) that the step's config must
	// satisfy after expressions are evaluated. Nil means "no config".
	Schema() []byte
	// Run performs the step. A returned error is a step error: it counts
	// toward the step's retry.errorThreshold and the step is retried; wrap it
	// with retry.Terminal when retrying cannot help (it then fails at once),
	// or with retry.After to choose the delay before the next attempt. A step
	// that must wait (for a pull request, a sync) returns StepStatusRunning
	// with RetryAfter instead of blocking. ctx carries a deadline
	// (EngineOptions.DefaultStepTimeout) and is cancelled when the server
	// stops; a step that sees it cancelled should return promptly.
	Run(ctx context.Context, sc *StepContext) (StepResult, error)
}

// RetryPolicy is implemented by steps whose retry defaults differ from the
// engine's (an error threshold of 1 and no timeout), such as steps that
// poll. A step's retry settings in the manifest override them.
type RetryPolicy interface {
	// DefaultErrorThreshold is the number of consecutive errors after which
	// the step fails; 0 means the engine's default, 1.
	DefaultErrorThreshold() uint32
	// DefaultTimeout bounds the time from the step's first start to its
	// end, across retries and waits; 0 means none.
	DefaultTimeout() time.Duration
}

// TaskOutputStep is implemented by steps (compose-output) whose output,
// when they run inside an inflated PromotionTask, also becomes the output of
// the task itself: the engine merges it into the outputs under the task
// step's alias, where later steps of the Stage read it.
type TaskOutputStep interface {
	// TaskOutput reports whether the step's output is the task's output.
	TaskOutput() bool
}

// StepContext is everything a step may use while it runs.
type StepContext struct {
	// Project, Stage and Promotion name what is being promoted where.
	Project   string
	Stage     string
	Promotion string
	// Actor is who created the Promotion, as recorded in its create-actor
	// annotation.
	Actor string
	// Alias is the step's alias (e.g. "step-3", "update-image", or
	// "deploy::push" for a step of an inflated task).
	Alias string
	// WorkDir is the absolute path of the promotion's workspace, which
	// exists. Every path a step reads or writes must be resolved with
	// Path (SecurePath(WorkDir, p)).
	WorkDir string
	// Config is the step's config as JSON, after expression evaluation and
	// schema validation; decode it into the step's own config struct.
	Config json.RawMessage
	// Freight is the Freight the promotion brings to the Stage (one per
	// origin), for steps that look artifacts up themselves.
	Freight kargoapi.FreightCollection
	// TargetFreight is the Freight being promoted (also in Freight).
	TargetFreight kargoapi.FreightReference
	// Outputs holds the outputs of the steps that ran before, by alias, as
	// JSON values (maps, lists, strings, float64 numbers, bools, nil); a
	// step that waited sees its own earlier output too. Read it only: the
	// values are shared with the engine.
	Outputs map[string]map[string]any
	// Attempt counts the runs of this step in this promotion, starting at 1.
	// Attempt 1 is a first run: the step has never started before. A higher
	// number means an earlier run may have begun (it returned Running or an
	// error, or the server stopped while it ran), so a step with an external
	// effect (a push, a pull request) must check whether that effect already
	// happened before doing it again.
	Attempt int
	// Logger logs for this step; never log secrets.
	Logger *slog.Logger
}

// Path resolves p, a path from the step's config, inside the workspace: see
// SecurePath.
func (sc *StepContext) Path(p string) (string, error) { return SecurePath(sc.WorkDir, p) }

// StepStatus is the outcome of one run of a step.
type StepStatus = kargoapi.PromotionStepStatus

// Step statuses a step may return.
const (
	StepStatusSucceeded = kargoapi.PromotionStepStatusSucceeded
	StepStatusFailed    = kargoapi.PromotionStepStatusFailed
	StepStatusSkipped   = kargoapi.PromotionStepStatusSkipped
	StepStatusRunning   = kargoapi.PromotionStepStatusRunning
	StepStatusErrored   = kargoapi.PromotionStepStatusErrored
)

// StepResult is what a step reports.
type StepResult struct {
	// Status: Succeeded, Skipped (nothing to do, e.g. git-commit with no
	// change), Failed (the step decided the promotion must fail, e.g. fail or
	// an http failure expression) or Running (wait, then run again).
	Status StepStatus
	// Output is recorded under the step's alias and readable by later steps
	// as outputs['alias'].key. Values must be JSON-serializable.
	Output map[string]any
	// Message explains the status (shown on the step).
	Message string
	// RetryAfter is how long to wait before running a Running step again;
	// 0 means the engine's default (DefaultRetryAfter).
	RetryAfter time.Duration
	// HealthCheck, if set on a Succeeded result, asks the Stage to run this
	// health check from now on (argocd-update does).
	HealthCheck *kargoapi.HealthCheckStep
}

// Registry maps step names to steps. Build it explicitly in wiring code
// with NewRegistry.
type Registry map[string]Step

// NewRegistry returns a registry holding steps; a duplicate name panics, as
// it is a programming error in the wiring.
func NewRegistry(steps ...Step) Registry {
	r := make(Registry, len(steps))
	for _, s := range steps {
		if _, dup := r[s.Name()]; dup {
			panic("promotion: step " + s.Name() + " registered twice")
		}
		r[s.Name()] = s
	}
	return r
}
