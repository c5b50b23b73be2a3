package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName={promotask,promotasks}

// PromotionTask is a reusable list of promotion steps, in a Project, that a
// step of a Stage can inline with task.
type PromotionTask struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the task's vars and steps.
	//
	// +kubebuilder:validation:Required
	Spec PromotionTaskSpec `json:"spec"`
}

// PromotionTaskSpec is the vars and steps of a (Cluster)PromotionTask.
type PromotionTaskSpec struct {
	// Vars are the task's inputs and variables; one without a value must be
	// given by the step that uses the task.
	Vars []ExpressionVariable `json:"vars,omitempty"`
	// Steps run in order; each uses a built-in step.
	//
	// +kubebuilder:validation:MinItems=1
	Steps []PromotionStep `json:"steps"`
}

// +kubebuilder:object:root=true

// PromotionTaskList is a list of PromotionTasks.
type PromotionTaskList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PromotionTask `json:"items"`
}

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName={clusterpromotask,clusterpromotasks}

// ClusterPromotionTask is a PromotionTask available to every Project.
type ClusterPromotionTask struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the task's vars and steps.
	//
	// +kubebuilder:validation:Required
	Spec PromotionTaskSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// ClusterPromotionTaskList is a list of ClusterPromotionTasks.
type ClusterPromotionTaskList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterPromotionTask `json:"items"`
}
