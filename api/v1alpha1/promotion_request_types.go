package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PromotionRequestPhase summarises a PromotionRequest's life.
type PromotionRequestPhase string

// PromotionRequest phases.
const (
	PromotionRequestPhasePending   PromotionRequestPhase = "Pending"
	PromotionRequestPhaseRunning   PromotionRequestPhase = "Running"
	PromotionRequestPhaseSucceeded PromotionRequestPhase = "Succeeded"
	PromotionRequestPhaseFailed    PromotionRequestPhase = "Failed"
	PromotionRequestPhaseErrored   PromotionRequestPhase = "Errored"
)

// IsTerminal reports whether the PromotionRequest has finished.
func (p PromotionRequestPhase) IsTerminal() bool {
	switch p {
	case PromotionRequestPhaseSucceeded, PromotionRequestPhaseFailed, PromotionRequestPhaseErrored:
		return true
	}
	return false
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name=Stage,type=string,JSONPath=`.spec.stage`
// +kubebuilder:printcolumn:name=Freight,type=string,JSONPath=`.spec.freight`
// +kubebuilder:printcolumn:name=Phase,type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name=Age,type=date,JSONPath=`.metadata.creationTimestamp`

// PromotionRequest asks for one piece of Freight to be promoted by one Stage
// to a set of Targets. Stage and Freight never change; Targets may grow.
// Caravan stores PromotionRequests; their behaviour comes later.
type PromotionRequest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the Stage, Freight and Targets of the request.
	//
	// +kubebuilder:validation:Required
	Spec PromotionRequestSpec `json:"spec"`
	// Status is the progress of the request's Promotions.
	Status PromotionRequestStatus `json:"status,omitempty"`
}

// PromotionRequestSpec is the Stage, Freight and Targets of a request.
type PromotionRequestSpec struct {
	// Stage is the Stage that promotes; immutable.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Stage string `json:"stage"`
	// Freight is the Freight promoted; immutable.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Freight string `json:"freight"`
	// Targets are the Targets promoted to, resolved at creation. An empty
	// list means the Stage governed none; the only mutable field.
	//
	// +listType=atomic
	Targets []PromotionRequestTarget `json:"targets"`
}

// PromotionRequestTarget names a Target.
type PromotionRequestTarget struct {
	// Name is the Target's name.
	//
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// PromotionRequestStatus is the progress of a request's Promotions.
type PromotionRequestStatus struct {
	// Conditions are the latest observations of the request's state.
	//
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Phase summarises the request's life.
	Phase PromotionRequestPhase `json:"phase,omitempty"`
	// Targets has one entry per Target acted on.
	//
	// +listType=atomic
	Targets []PromotionRequestTargetStatus `json:"targets,omitempty"`
	// Summary counts the child Promotions by phase.
	Summary *PromotionRequestSummary `json:"summary,omitempty"`
	// ObservedGeneration is the generation last reconciled.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// StartedAt is when the request started.
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the request finished.
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
}

// PromotionRequestTargetStatus is the progress toward one Target.
type PromotionRequestTargetStatus struct {
	// Name is the Target's name.
	Name string `json:"name"`
	// Promotion is the child Promotion for this Target, once created.
	Promotion string `json:"promotion,omitempty"`
	// Phase is that Promotion's phase.
	Phase PromotionPhase `json:"phase,omitempty"`
}

// PromotionRequestSummary counts a request's Promotions by phase.
type PromotionRequestSummary struct {
	// Pending counts Promotions not yet started.
	Pending int32 `json:"pending,omitempty"`
	// Running counts Promotions running.
	Running int32 `json:"running,omitempty"`
	// Succeeded counts Promotions that succeeded.
	Succeeded int32 `json:"succeeded,omitempty"`
	// Failed counts Promotions that failed.
	Failed int32 `json:"failed,omitempty"`
	// Errored counts Promotions that errored.
	Errored int32 `json:"errored,omitempty"`
	// Aborted counts Promotions that were aborted.
	Aborted int32 `json:"aborted,omitempty"`
}

// +kubebuilder:object:root=true

// PromotionRequestList is a list of PromotionRequests.
type PromotionRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PromotionRequest `json:"items"`
}
