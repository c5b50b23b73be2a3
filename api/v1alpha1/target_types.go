package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name=Ready,type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name=Status,type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name=Age,type=date,JSONPath=`.metadata.creationTimestamp`

// Target is one destination (a cluster, say) that Stages promote to. It only
// holds values for the promotion steps of the Stages that govern it; it runs
// nothing itself. Caravan stores Targets; their behaviour comes later.
type Target struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec holds the Target's values.
	Spec TargetSpec `json:"spec,omitempty"`
	// Status records which Stages govern the Target.
	Status TargetStatus `json:"status,omitempty"`
}

// TargetSpec holds a Target's values.
type TargetSpec struct {
	// Params are arbitrary JSON values, kept as written, that steps read as
	// target.params.KEY.
	Params map[string]JSON `json:"params,omitempty"`
}

// TargetStatus records which Stages govern a Target.
type TargetStatus struct {
	// Conditions are the latest observations of the Target's state.
	//
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// OwnedBy has one entry per governing Stage and Freight origin.
	OwnedBy []TargetOwnership `json:"ownedBy,omitempty"`
}

// TargetOwnership is one Stage's governance of a Target for one origin.
type TargetOwnership struct {
	// Stage is the governing Stage.
	Stage string `json:"stage,omitempty"`
	// Origin is the origin of the Freight the Stage promotes to the Target.
	Origin FreightOrigin `json:"origin,omitempty"`
	// CurrentFreight is the Freight from Origin last promoted to the Target.
	CurrentFreight string `json:"currentFreight,omitempty"`
}

// +kubebuilder:object:root=true

// TargetList is a list of Targets.
type TargetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Target `json:"items"`
}
