package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PromotionPhase is where a Promotion is in its life.
type PromotionPhase string

// Promotion phases.
const (
	// PromotionPhasePending: queued, not started.
	PromotionPhasePending PromotionPhase = "Pending"
	// PromotionPhaseRunning: its steps are running.
	PromotionPhaseRunning PromotionPhase = "Running"
	// PromotionPhaseSucceeded: every step succeeded.
	PromotionPhaseSucceeded PromotionPhase = "Succeeded"
	// PromotionPhaseFailed: a step failed.
	PromotionPhaseFailed PromotionPhase = "Failed"
	// PromotionPhaseErrored: it could not run for a technical reason.
	PromotionPhaseErrored PromotionPhase = "Errored"
	// PromotionPhaseAborted: a user aborted it.
	PromotionPhaseAborted PromotionPhase = "Aborted"
)

// IsTerminal reports whether the Promotion has finished.
func (p PromotionPhase) IsTerminal() bool {
	switch p {
	case PromotionPhaseSucceeded, PromotionPhaseFailed, PromotionPhaseErrored, PromotionPhaseAborted:
		return true
	}
	return false
}

// PromotionStepStatus is the state of one step of a Promotion.
type PromotionStepStatus string

// Promotion step states.
const (
	PromotionStepStatusRunning   PromotionStepStatus = "Running"
	PromotionStepStatusSucceeded PromotionStepStatus = "Succeeded"
	PromotionStepStatusSkipped   PromotionStepStatus = "Skipped"
	PromotionStepStatusAborted   PromotionStepStatus = "Aborted"
	PromotionStepStatusFailed    PromotionStepStatus = "Failed"
	PromotionStepStatusErrored   PromotionStepStatus = "Errored"
)

// Kinds a step's task reference may name.
const (
	PromotionTaskKindPromotionTask        = "PromotionTask"
	PromotionTaskKindClusterPromotionTask = "ClusterPromotionTask"
)

// DefaultStepErrorThreshold is the number of consecutive errors a step
// tolerates when retry.errorThreshold is absent or 0.
const DefaultStepErrorThreshold uint32 = 1

// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName={promo,promos}
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name=Shard,type=string,JSONPath=`.metadata.labels.kargo\.akuity\.io/shard`
// +kubebuilder:printcolumn:name=Stage,type=string,JSONPath=`.spec.stage`
// +kubebuilder:printcolumn:name=Freight,type=string,JSONPath=`.spec.freight`
// +kubebuilder:printcolumn:name=Phase,type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name=Age,type=date,JSONPath=`.metadata.creationTimestamp`

// Promotion is a request to move one Stage to one piece of Freight by
// running a list of steps. Its spec does not change after creation.
type Promotion struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is what to promote where, and how.
	//
	// +kubebuilder:validation:Required
	Spec PromotionSpec `json:"spec"`
	// Status is the Promotion's progress, step by step.
	Status PromotionStatus `json:"status,omitempty"`
}

// PromotionSpec is what a Promotion promotes where, and how.
type PromotionSpec struct {
	// Stage is the Stage promoted into, in the Promotion's namespace.
	//
	// +kubebuilder:validation:MinLength=1
	Stage string `json:"stage"`
	// Freight is the name of the Freight promoted.
	Freight string `json:"freight,omitempty"`
	// Origin asks for the newest Freight from this origin instead of naming
	// one.
	Origin *FreightOrigin `json:"origin,omitempty"`
	// Target names a Target to promote to. Reserved by Kargo for its
	// commercial edition; kept as written.
	Target *JSON `json:"target,omitempty"`
	// Vars are variables the steps can use (copied from the Stage and its
	// template at creation).
	Vars []ExpressionVariable `json:"vars,omitempty"`
	// Steps run in order (copied from the Stage's template at creation).
	Steps []PromotionStep `json:"steps,omitempty"`
}

// PromotionStep is one step of a Promotion: a built-in step (uses) or a
// PromotionTask whose steps are inlined (task).
type PromotionStep struct {
	// Uses names the step to run, e.g. git-clone.
	Uses string `json:"uses,omitempty"`
	// Task names a PromotionTask or ClusterPromotionTask to inline.
	Task *PromotionTaskReference `json:"task,omitempty"`
	// As is the alias other steps use to read this step's outputs.
	As string `json:"as,omitempty"`
	// If is an expression; the step runs only when it is true.
	If string `json:"if,omitempty"`
	// ContinueOnError lets the Promotion go on when this step fails.
	ContinueOnError bool `json:"continueOnError,omitempty"`
	// Retry controls how failures of this step are retried.
	Retry *PromotionStepRetry `json:"retry,omitempty"`
	// Vars are variables scoped to this step (or the inlined task).
	Vars []ExpressionVariable `json:"vars,omitempty"`
	// Config is the step's configuration, kept as written and checked
	// against the step's schema when it runs.
	Config *JSON `json:"config,omitempty"`
}

// PromotionTaskReference names a PromotionTask or ClusterPromotionTask.
type PromotionTaskReference struct {
	// Name is the task's name.
	//
	// +kubebuilder:validation:Required
	Name string `json:"name"`
	// Kind is PromotionTask (the default) or ClusterPromotionTask.
	//
	// +kubebuilder:validation:Enum=PromotionTask;ClusterPromotionTask
	Kind string `json:"kind,omitempty"`
}

// PromotionStepRetry controls how a step's failures are retried.
type PromotionStepRetry struct {
	// Timeout bounds the total time spent retrying, as a Go duration.
	//
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// ErrorThreshold is how many consecutive errors fail the step; 0 or
	// absent means the step's default.
	ErrorThreshold uint32 `json:"errorThreshold,omitempty"`
}

// PromotionStatus is a Promotion's progress. It is written after every step
// so a restart resumes where the Promotion stopped.
type PromotionStatus struct {
	// LastHandledRefresh is the refresh annotation value last acted on.
	LastHandledRefresh string `json:"lastHandledRefresh,omitempty"`
	// Phase is where the Promotion is in its life.
	Phase PromotionPhase `json:"phase,omitempty"`
	// Message explains the phase, e.g. why it failed.
	Message string `json:"message,omitempty"`
	// Freight is the Freight being promoted.
	Freight *FreightReference `json:"freight,omitempty"`
	// FreightCollection is the Freight being promoted plus the Freight of
	// other origins carried over from the Stage.
	FreightCollection *FreightCollection `json:"freightCollection,omitempty"`
	// HealthChecks are the health checks the steps asked for, run by the
	// Stage afterwards.
	HealthChecks []HealthCheckStep `json:"healthChecks,omitempty"`
	// StartedAt is when the Promotion's first step started.
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the Promotion finished.
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// CurrentStep is the index of the step now running.
	CurrentStep int64 `json:"currentStep,omitempty"`
	// StepExecutionMetadata records each step's progress, by index.
	StepExecutionMetadata []StepExecutionMetadata `json:"stepExecutionMetadata,omitempty"`
	// State holds step outputs between reconciles.
	State *JSON `json:"state,omitempty"`
}

// HealthCheckStep is a health check a step asked the Stage to run.
type HealthCheckStep struct {
	// Uses names the health check.
	Uses string `json:"uses"`
	// Config is the health check's configuration.
	Config *JSON `json:"config,omitempty"`
}

// StepExecutionMetadata is the progress of one step.
type StepExecutionMetadata struct {
	// Alias is the step's alias.
	Alias string `json:"alias,omitempty"`
	// StartedAt is when the step first started.
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the step finished.
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// ErrorCount is the number of consecutive errors so far.
	ErrorCount uint32 `json:"errorCount,omitempty"`
	// Attempts counts the runs of the step recorded so far (Caravan's
	// addition): a step that starts with Attempts > 0 may have run before,
	// for instance when the server stopped during its run.
	Attempts uint32 `json:"attempts,omitempty"`
	// Status is the step's state.
	Status PromotionStepStatus `json:"status,omitempty"`
	// Message explains the state.
	Message string `json:"message,omitempty"`
	// ContinueOnError records the step's continueOnError setting.
	ContinueOnError bool `json:"continueOnError,omitempty"`
}

// +kubebuilder:object:root=true

// PromotionList is a list of Promotions.
type PromotionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Promotion `json:"items"`
}
