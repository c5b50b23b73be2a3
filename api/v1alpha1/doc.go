// Package v1alpha1 holds Caravan's resource types for the kargo.akuity.io
// API group at version v1alpha1: Project, ProjectConfig, ClusterConfig,
// Warehouse, Freight, Stage, Promotion, PromotionTask, ClusterPromotionTask,
// Target and PromotionRequest. Their JSON field names and shapes follow Kargo
// v1.11, so Kargo manifests decode into them unchanged.
//
// The package also computes Kargo's identifiers (Freight IDs, freight
// collection IDs, normalized repository URLs) and applies the defaults that
// Kargo's CRD schemas declare. Field validation lives next to these types in
// the validation files; checks that need other objects live in
// internal/admission.
//
// +kubebuilder:object:generate=true
// +groupName=kargo.akuity.io
package v1alpha1
