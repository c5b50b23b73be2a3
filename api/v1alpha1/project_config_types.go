package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status

// ProjectConfig configures one Project: which Stages auto-promote and which
// webhook receivers the Project exposes. It is named after its Project and
// lives in the Project's namespace.
type ProjectConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the Project's configuration.
	Spec ProjectConfigSpec `json:"spec,omitempty"`
	// Status is the observed state of the configuration.
	Status ProjectConfigStatus `json:"status,omitempty"`
}

// ProjectConfigSpec is the configuration of a Project.
type ProjectConfigSpec struct {
	// PromotionPolicies govern promotion into particular Stages.
	PromotionPolicies []PromotionPolicy `json:"promotionPolicies,omitempty"`
	// WebhookReceivers are the Project's inbound webhook endpoints.
	WebhookReceivers []WebhookReceiverConfig `json:"webhookReceivers,omitempty"`
}

// ProjectConfigStatus is the observed state of a ProjectConfig.
type ProjectConfigStatus struct {
	// Conditions are the latest observations of the configuration's state.
	//
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the generation last reconciled.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// LastHandledRefresh is the refresh annotation value last acted on.
	LastHandledRefresh string `json:"lastHandledRefresh,omitempty"`
	// WebhookReceivers lists the endpoints of the configured receivers.
	WebhookReceivers []WebhookReceiverDetails `json:"webhookReceivers,omitempty"`
}

// PromotionPolicy governs promotion into the Stages it selects. Exactly one
// of stage and stageSelector is set.
type PromotionPolicy struct {
	// Stage names one Stage.
	//
	// Deprecated: use StageSelector.
	Stage string `json:"stage,omitempty"`
	// StageSelector selects Stages by name pattern and/or labels.
	StageSelector *PromotionPolicySelector `json:"stageSelector,omitempty"`
	// AutoPromotionEnabled lets new Freight be promoted into the selected
	// Stages without a person asking. Defaults to false.
	AutoPromotionEnabled bool `json:"autoPromotionEnabled,omitempty"`
}

// PromotionPolicySelector selects resources by name and/or labels; when both
// are given a resource must match both.
type PromotionPolicySelector struct {
	// Name is an exact name, or a pattern prefixed "glob:", "regex:" or
	// "regexp:".
	Name string `json:"name,omitempty"`
	// LabelSelector's matchLabels and matchExpressions sit inline.
	*metav1.LabelSelector `json:",inline"`
}

// WebhookReceiverConfig configures one inbound webhook endpoint. Exactly one
// provider field is set.
type WebhookReceiverConfig struct {
	// Name identifies the receiver.
	//
	// +kubebuilder:validation:Required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Artifactory receives JFrog Artifactory payloads.
	Artifactory *ArtifactoryWebhookReceiverConfig `json:"artifactory,omitempty"`
	// Azure receives Azure Container Registry and Azure DevOps payloads.
	Azure *AzureWebhookReceiverConfig `json:"azure,omitempty"`
	// Bitbucket receives Bitbucket payloads.
	Bitbucket *BitbucketWebhookReceiverConfig `json:"bitbucket,omitempty"`
	// DockerHub receives Docker Hub payloads.
	DockerHub *DockerHubWebhookReceiverConfig `json:"dockerhub,omitempty"`
	// Gitea receives Gitea payloads.
	Gitea *GiteaWebhookReceiverConfig `json:"gitea,omitempty"`
	// GitHub receives GitHub payloads.
	GitHub *GitHubWebhookReceiverConfig `json:"github,omitempty"`
	// GitLab receives GitLab payloads.
	GitLab *GitLabWebhookReceiverConfig `json:"gitlab,omitempty"`
	// Harbor receives Harbor payloads.
	Harbor *HarborWebhookReceiverConfig `json:"harbor,omitempty"`
	// Quay receives Quay payloads.
	Quay *QuayWebhookReceiverConfig `json:"quay,omitempty"`
	// Generic receives any POST and applies user-defined actions.
	Generic *GenericWebhookReceiverConfig `json:"generic,omitempty"`
}

// ArtifactoryWebhookReceiverConfig configures a JFrog Artifactory receiver.
// The Secret holds the shared secret under the key "secret-token".
type ArtifactoryWebhookReceiverConfig struct {
	// SecretRef names the Secret holding the shared secret.
	//
	// +kubebuilder:validation:Required
	SecretRef corev1.LocalObjectReference `json:"secretRef"`
	// VirtualRepoName, when set, replaces the payload's local repository name
	// when working out which repository URL the event is about.
	VirtualRepoName string `json:"virtualRepoName,omitempty"`
}

// AzureWebhookReceiverConfig configures an Azure receiver. The Secret's
// "secret" key only seeds a hard-to-guess URL.
type AzureWebhookReceiverConfig struct {
	// SecretRef names the Secret holding the URL seed.
	//
	// +kubebuilder:validation:Required
	SecretRef corev1.LocalObjectReference `json:"secretRef"`
}

// BitbucketWebhookReceiverConfig configures a Bitbucket receiver. The
// Secret's "secret" key holds the shared secret.
type BitbucketWebhookReceiverConfig struct {
	// SecretRef names the Secret holding the shared secret.
	//
	// +kubebuilder:validation:Required
	SecretRef corev1.LocalObjectReference `json:"secretRef"`
}

// DockerHubWebhookReceiverConfig configures a Docker Hub receiver. The
// Secret's "secret" key only seeds a hard-to-guess URL.
type DockerHubWebhookReceiverConfig struct {
	// SecretRef names the Secret holding the URL seed.
	//
	// +kubebuilder:validation:Required
	SecretRef corev1.LocalObjectReference `json:"secretRef"`
}

// GiteaWebhookReceiverConfig configures a Gitea receiver. The Secret's
// "secret" key holds the shared secret.
type GiteaWebhookReceiverConfig struct {
	// SecretRef names the Secret holding the shared secret.
	//
	// +kubebuilder:validation:Required
	SecretRef corev1.LocalObjectReference `json:"secretRef"`
}

// GitHubWebhookReceiverConfig configures a GitHub receiver. The Secret's
// "secret" key holds the shared secret.
type GitHubWebhookReceiverConfig struct {
	// SecretRef names the Secret holding the shared secret.
	//
	// +kubebuilder:validation:Required
	SecretRef corev1.LocalObjectReference `json:"secretRef"`
}

// GitLabWebhookReceiverConfig configures a GitLab receiver. The Secret's
// "secret-token" key holds the shared token.
type GitLabWebhookReceiverConfig struct {
	// SecretRef names the Secret holding the shared token.
	//
	// +kubebuilder:validation:Required
	SecretRef corev1.LocalObjectReference `json:"secretRef"`
}

// HarborWebhookReceiverConfig configures a Harbor receiver. The Secret's
// "auth-header" key holds the expected Authorization header.
type HarborWebhookReceiverConfig struct {
	// SecretRef names the Secret holding the auth header.
	//
	// +kubebuilder:validation:Required
	SecretRef corev1.LocalObjectReference `json:"secretRef"`
}

// QuayWebhookReceiverConfig configures a Quay receiver. The Secret's
// "secret" key only seeds a hard-to-guess URL.
type QuayWebhookReceiverConfig struct {
	// SecretRef names the Secret holding the URL seed.
	//
	// +kubebuilder:validation:Required
	SecretRef corev1.LocalObjectReference `json:"secretRef"`
}

// GenericWebhookReceiverConfig configures a receiver that accepts any POST and
// runs the listed actions on the resources they select. The Secret's "secret"
// key only seeds a hard-to-guess URL.
type GenericWebhookReceiverConfig struct {
	// SecretRef names the Secret holding the URL seed.
	//
	// +kubebuilder:validation:Required
	SecretRef corev1.LocalObjectReference `json:"secretRef"`
	// Actions run, in order, for each request.
	//
	// +kubebuilder:validation:MinItems=1
	Actions []GenericWebhookAction `json:"actions,omitempty"`
}

// GenericWebhookActionType is what a generic webhook action does.
//
// +kubebuilder:validation:Enum=Refresh
type GenericWebhookActionType string

// GenericWebhookActionTypeRefresh refreshes the selected resources.
const GenericWebhookActionTypeRefresh GenericWebhookActionType = "Refresh"

// GenericWebhookAction is one action of a generic webhook receiver.
type GenericWebhookAction struct {
	// ActionType is what to do; only Refresh exists.
	ActionType GenericWebhookActionType `json:"action"`
	// WhenExpression, when set, must evaluate to true for the action to run.
	WhenExpression string `json:"whenExpression,omitempty"`
	// Parameters are action-specific values, static or expressions over the
	// request.
	Parameters map[string]string `json:"parameters,omitempty"`
	// TargetSelectionCriteria select the resources the action applies to.
	//
	// +kubebuilder:validation:MinItems=1
	TargetSelectionCriteria []GenericWebhookTargetSelectionCriteria `json:"targetSelectionCriteria,omitempty"`
}

// GenericWebhookTargetKind is the kind a generic webhook action targets.
//
// +kubebuilder:validation:Enum=Warehouse
type GenericWebhookTargetKind string

// GenericWebhookTargetKindWarehouse targets Warehouses.
const GenericWebhookTargetKindWarehouse GenericWebhookTargetKind = "Warehouse"

// GenericWebhookTargetSelectionCriteria selects resources by name, labels
// and/or index values; all given criteria must match.
type GenericWebhookTargetSelectionCriteria struct {
	// Kind is the kind of resource selected.
	Kind GenericWebhookTargetKind `json:"kind"`
	// Name selects one resource by name (may be an expression).
	Name string `json:"name,omitempty"`
	// LabelSelector selects resources by label.
	LabelSelector metav1.LabelSelector `json:"labelSelector,omitempty"`
	// IndexSelector selects resources by values in well-known indices.
	IndexSelector IndexSelector `json:"indexSelector,omitempty"`
}

// IndexSelector selects resources by values in well-known indices.
type IndexSelector struct {
	// MatchIndices are requirements that must all hold.
	MatchIndices []IndexSelectorRequirement `json:"matchIndices,omitempty"`
}

// IndexSelectorOperator compares an index value.
type IndexSelectorOperator string

// Index selector operators.
const (
	IndexSelectorOperatorEqual    IndexSelectorOperator = "Equals"
	IndexSelectorOperatorNotEqual IndexSelectorOperator = "NotEquals"
)

// Index keys a generic webhook IndexSelectorRequirement may use.
const (
	IndexKeySubscribedURLs = "subscribedURLs"
	IndexKeyReceiverPaths  = "receiverPaths"
)

// IndexSelectorRequirement is one index comparison.
type IndexSelectorRequirement struct {
	// Key is the index: subscribedURLs or receiverPaths.
	//
	// +kubebuilder:validation:Enum=subscribedURLs;receiverPaths
	Key string `json:"key"`
	// Operator is Equals or NotEquals.
	Operator IndexSelectorOperator `json:"operator"`
	// Value is a literal or an expression over the request.
	Value string `json:"value"`
}

// WebhookReceiverDetails reports where a receiver listens.
type WebhookReceiverDetails struct {
	// Name is the receiver's name.
	Name string `json:"name,omitempty"`
	// Path is the receiver's URL path.
	Path string `json:"path,omitempty"`
	// URL is the receiver's full URL.
	URL string `json:"url,omitempty"`
}

// +kubebuilder:object:root=true

// ProjectConfigList is a list of ProjectConfigs.
type ProjectConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProjectConfig `json:"items"`
}
