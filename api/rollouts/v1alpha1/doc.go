// Package v1alpha1 holds Caravan's copies of the Argo Rollouts analysis
// kinds in the argoproj.io/v1alpha1 API group: AnalysisTemplate,
// ClusterAnalysisTemplate and AnalysisRun. Field names, shapes and the
// meaning of absent versus zero follow Argo Rollouts. The web and prometheus
// providers are typed; every other provider is kept as raw JSON.
//
// +kubebuilder:object:generate=true
// +groupName=argoproj.io
package v1alpha1
