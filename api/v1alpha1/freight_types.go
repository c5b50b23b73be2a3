package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FreightOriginKind is the kind of object Freight can come from.
//
// +kubebuilder:validation:Enum={Warehouse}
type FreightOriginKind string

// FreightOriginKindWarehouse: the Freight came from a Warehouse.
const FreightOriginKindWarehouse FreightOriginKind = "Warehouse"

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name=Alias,type=string,JSONPath=`.metadata.labels.kargo\.akuity\.io/alias`
// +kubebuilder:printcolumn:name=Origin (Kind),type=string,JSONPath=`.origin.kind`
// +kubebuilder:printcolumn:name=Origin (Name),type=string,JSONPath=`.origin.name`
// +kubebuilder:printcolumn:name=Age,type=date,JSONPath=`.metadata.creationTimestamp`

// Freight is a set of specific artifact versions (commits, images, charts,
// generic artifacts) that move through Stages together. Its fields sit at the
// top level, not under spec; its name is its ID (see GenerateID).
type Freight struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Alias is a human-friendly, project-unique name, mirrored to the
	// kargo.akuity.io/alias label; generated when absent.
	Alias string `json:"alias,omitempty"`
	// Origin is where the Freight came from.
	//
	// +kubebuilder:validation:Required
	Origin FreightOrigin `json:"origin,omitempty"`
	// Commits are specific Git commits.
	Commits []GitCommit `json:"commits,omitempty"`
	// Images are specific container images.
	Images []Image `json:"images,omitempty"`
	// Charts are specific Helm chart versions.
	Charts []Chart `json:"charts,omitempty"`
	// Artifacts are specific versions of artifacts from generic
	// subscriptions.
	Artifacts []ArtifactReference `json:"artifacts,omitempty"`
	// Status records where the Freight is, was verified and was approved.
	Status FreightStatus `json:"status,omitempty"`
}

// FreightOrigin names the object Freight came from.
type FreightOrigin struct {
	// Kind is the origin's kind; only Warehouse exists.
	//
	// +kubebuilder:validation:Required
	Kind FreightOriginKind `json:"kind"`
	// Name is the origin's name.
	//
	// +kubebuilder:validation:Required
	Name string `json:"name"`
}

// String returns "Kind/name", the form used as a key and in Freight IDs.
func (o FreightOrigin) String() string { return string(o.Kind) + "/" + o.Name }

// GitCommit is a specific commit of a Git repository.
type GitCommit struct {
	// RepoURL is the repository's URL.
	RepoURL string `json:"repoURL,omitempty"`
	// ID is the commit hash.
	ID string `json:"id,omitempty"`
	// Branch is the branch the commit was found on.
	Branch string `json:"branch,omitempty"`
	// Tag is the tag that selected the commit.
	Tag string `json:"tag,omitempty"`
	// Message is the first line of the commit message.
	Message string `json:"message,omitempty"`
	// Author is the commit's author.
	Author string `json:"author,omitempty"`
	// Committer is the commit's committer.
	Committer string `json:"committer,omitempty"`
	// SubscriptionName is the name of the subscription that found it.
	SubscriptionName string `json:"subscriptionName,omitempty"`
}

// Image is a specific container image.
type Image struct {
	// RepoURL is the image repository.
	RepoURL string `json:"repoURL,omitempty"`
	// Tag is the image's tag.
	Tag string `json:"tag,omitempty"`
	// Digest is the image's digest, the precise identifier.
	Digest string `json:"digest,omitempty"`
	// Annotations are the image's OCI annotations.
	Annotations map[string]string `json:"annotations,omitempty"`
	// GitRepoURL was the inferred source repository of the image.
	//
	// Deprecated: read the OCI source annotation instead.
	GitRepoURL string `json:"gitRepoURL,omitempty"`
	// SubscriptionName is the name of the subscription that found it.
	SubscriptionName string `json:"subscriptionName,omitempty"`
}

// Chart is a specific Helm chart version.
type Chart struct {
	// RepoURL is the chart repository (classic or oci://).
	RepoURL string `json:"repoURL,omitempty"`
	// Name is the chart's name within a classic repository; empty for OCI.
	Name string `json:"name,omitempty"`
	// Version is the chart version.
	Version string `json:"version,omitempty"`
	// SubscriptionName is the name of the subscription that found it.
	SubscriptionName string `json:"subscriptionName,omitempty"`
}

// FreightStatus records a Freight's journey through Stages.
type FreightStatus struct {
	// CurrentlyIn maps Stage names to the Stages now using the Freight.
	CurrentlyIn map[string]CurrentStage `json:"currentlyIn,omitempty"`
	// VerifiedIn maps Stage names to the Stages that verified the Freight.
	VerifiedIn map[string]VerifiedStage `json:"verifiedIn,omitempty"`
	// ApprovedFor maps Stage names to the Stages a user approved it for.
	ApprovedFor map[string]ApprovedStage `json:"approvedFor,omitempty"`
	// Metadata holds values promotion steps attached to the Freight.
	Metadata map[string]JSON `json:"metadata,omitempty"`
}

// CurrentStage is a Stage's current use of Freight.
type CurrentStage struct {
	// Since is when the Stage started using the Freight.
	Since *metav1.Time `json:"since,omitempty"`
}

// VerifiedStage is a Stage's verification of Freight.
type VerifiedStage struct {
	// VerifiedAt is when the Freight was verified there.
	VerifiedAt *metav1.Time `json:"verifiedAt,omitempty"`
	// LongestCompletedSoak is the longest uninterrupted time the Freight was
	// in use by the Stage, updated when it leaves.
	LongestCompletedSoak *metav1.Duration `json:"longestSoak,omitempty"`
}

// ApprovedStage is a user's approval of Freight for a Stage.
type ApprovedStage struct {
	// ApprovedAt is when the approval was given.
	ApprovedAt *metav1.Time `json:"approvedAt,omitempty"`
}

// +kubebuilder:object:root=true

// FreightList is a list of Freight.
type FreightList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Freight `json:"items"`
}
