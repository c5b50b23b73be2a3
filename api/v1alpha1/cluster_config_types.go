package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterConfigName is the only name a ClusterConfig may have.
const ClusterConfigName = "cluster"

// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status

// ClusterConfig holds settings for the whole installation. There is at most
// one, named "cluster".
type ClusterConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the installation's configuration.
	Spec ClusterConfigSpec `json:"spec,omitempty"`
	// Status is the observed state of the configuration.
	Status ClusterConfigStatus `json:"status,omitempty"`
}

// ClusterConfigSpec is the installation-wide configuration.
type ClusterConfigSpec struct {
	// WebhookReceivers are installation-wide inbound webhook endpoints. Their
	// Secrets live in the system resources namespace.
	WebhookReceivers []WebhookReceiverConfig `json:"webhookReceivers,omitempty"`
}

// ClusterConfigStatus is the observed state of the ClusterConfig.
type ClusterConfigStatus struct {
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

// +kubebuilder:object:root=true

// ClusterConfigList is a list of ClusterConfigs.
type ClusterConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterConfig `json:"items"`
}
