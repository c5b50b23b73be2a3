package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status

// Project is a cluster-scoped kind that owns the namespace of the same name;
// every other namespaced object of the project lives there.
type Project struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is kept for manifests written before ProjectConfig existed.
	//
	// Deprecated: use a ProjectConfig named after the Project.
	Spec *ProjectSpec `json:"spec,omitempty"`
	// Status is the Project's observed state.
	Status ProjectStatus `json:"status,omitempty"`
}

// ProjectSpec is the legacy in-Project configuration.
type ProjectSpec struct {
	// PromotionPolicies is the legacy place for promotion policies.
	//
	// Deprecated: use ProjectConfig's promotionPolicies.
	PromotionPolicies []PromotionPolicy `json:"promotionPolicies,omitempty"`
}

// ProjectStatus is the observed state of a Project.
type ProjectStatus struct {
	// Conditions are the latest observations of the Project's state.
	//
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Stats summarises the health of the Project's Warehouses and Stages.
	Stats *ProjectStats `json:"stats,omitempty"`
}

// ProjectStats counts a Project's Warehouses and Stages by health.
type ProjectStats struct {
	// Warehouses summarises the Project's Warehouses.
	Warehouses WarehouseStats `json:"warehouses,omitempty"`
	// Stages summarises the Project's Stages.
	Stages StageStats `json:"stages,omitempty"`
}

// WarehouseStats counts Warehouses by health.
type WarehouseStats struct {
	// Health counts Warehouses by health.
	Health HealthStats `json:"health,omitempty"`
}

// StageStats counts Stages by health.
type StageStats struct {
	// Health counts Stages by health.
	Health HealthStats `json:"health,omitempty"`
}

// HealthStats counts objects by health.
type HealthStats struct {
	// Healthy is the number of healthy objects.
	Healthy int64 `json:"healthy,omitempty"`
}

// +kubebuilder:object:root=true

// ProjectList is a list of Projects.
type ProjectList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Project `json:"items"`
}
