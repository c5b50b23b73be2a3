package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CommitSelectionStrategy is how a Git subscription picks the newest commit.
//
// +kubebuilder:validation:Enum={Lexical,NewestFromBranch,NewestTag,SemVer}
type CommitSelectionStrategy string

// Commit selection strategies.
const (
	// CommitSelectionStrategyLexical picks the commit of the lexically greatest tag.
	CommitSelectionStrategyLexical CommitSelectionStrategy = "Lexical"
	// CommitSelectionStrategyNewestFromBranch picks the branch head (the default).
	CommitSelectionStrategyNewestFromBranch CommitSelectionStrategy = "NewestFromBranch"
	// CommitSelectionStrategyNewestTag picks the commit of the newest tag.
	CommitSelectionStrategyNewestTag CommitSelectionStrategy = "NewestTag"
	// CommitSelectionStrategySemVer picks the commit of the greatest semver tag.
	CommitSelectionStrategySemVer CommitSelectionStrategy = "SemVer"
)

// ImageSelectionStrategy is how an image subscription picks the newest image.
//
// +kubebuilder:validation:Enum={Digest,Lexical,NewestBuild,SemVer}
type ImageSelectionStrategy string

// Image selection strategies.
const (
	// ImageSelectionStrategyDigest follows the digest of the tag named by constraint.
	ImageSelectionStrategyDigest ImageSelectionStrategy = "Digest"
	// ImageSelectionStrategyLexical picks the lexically greatest tag.
	ImageSelectionStrategyLexical ImageSelectionStrategy = "Lexical"
	// ImageSelectionStrategyNewestBuild picks the most recently built image.
	ImageSelectionStrategyNewestBuild ImageSelectionStrategy = "NewestBuild"
	// ImageSelectionStrategySemVer picks the greatest semver tag (the default).
	ImageSelectionStrategySemVer ImageSelectionStrategy = "SemVer"
)

// FreightCreationPolicy is whether a Warehouse creates Freight by itself.
//
// +kubebuilder:validation:Enum={Automatic,Manual}
type FreightCreationPolicy string

// Freight creation policies.
const (
	// FreightCreationPolicyAutomatic creates Freight when new artifacts appear.
	FreightCreationPolicyAutomatic FreightCreationPolicy = "Automatic"
	// FreightCreationPolicyManual never creates Freight by itself.
	FreightCreationPolicyManual FreightCreationPolicy = "Manual"
)

// Discovery limits shared by every subscription type.
const (
	// DefaultDiscoveryLimit applies when discoveryLimit is absent or 0.
	DefaultDiscoveryLimit int32 = 20
	// MaxDiscoveryLimit is the largest discoveryLimit accepted.
	MaxDiscoveryLimit int32 = 100
	// DefaultWarehouseInterval is the discovery interval when none is given.
	DefaultWarehouseInterval = "5m0s"
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name=Shard,type=string,JSONPath=`.spec.shard`
// +kubebuilder:printcolumn:name=Age,type=date,JSONPath=`.metadata.creationTimestamp`

// Warehouse watches artifact repositories and produces Freight from what it
// discovers there.
type Warehouse struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec lists the repositories the Warehouse subscribes to.
	//
	// +kubebuilder:validation:Required
	Spec WarehouseSpec `json:"spec"`
	// Status is what the Warehouse last discovered.
	Status WarehouseStatus `json:"status,omitempty"`
}

// WarehouseSpec describes what a Warehouse subscribes to and how often it
// looks.
type WarehouseSpec struct {
	// Shard assigns the Warehouse to a shard; kept in sync with the
	// kargo.akuity.io/shard label.
	Shard string `json:"shard,omitempty"`
	// Interval is the time between discoveries, as a Go duration of h, m and s
	// units. Defaults to 5m0s.
	//
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	// +kubebuilder:default="5m0s"
	Interval metav1.Duration `json:"interval"`
	// FreightCreationPolicy is Automatic (the default) or Manual.
	//
	// +kubebuilder:default=Automatic
	// +kubebuilder:validation:Optional
	FreightCreationPolicy FreightCreationPolicy `json:"freightCreationPolicy"`
	// Subscriptions are the repositories whose artifacts go into Freight.
	//
	// +kubebuilder:validation:MinItems=1
	Subscriptions RepoSubscriptions `json:"subscriptions"`
	// FreightCreationCriteria must hold for Freight to be created
	// automatically; ignored when the policy is Manual.
	FreightCreationCriteria *FreightCreationCriteria `json:"freightCreationCriteria,omitempty"`
}

// FreightCreationCriteria gate automatic Freight creation.
type FreightCreationCriteria struct {
	// Expression is an expr-lang expression over the discovered artifacts that
	// must be true for Freight to be created.
	Expression string `json:"expression,omitempty"`
}

// RepoSubscriptions is a Warehouse's list of subscriptions. It has its own
// JSON decoding so that generic subscriptions, keyed by their artifact type,
// are understood; see RepoSubscription.
type RepoSubscriptions []RepoSubscription

// RepoSubscription is one subscription of a Warehouse: exactly one of Git,
// Image, Chart or Generic, plus an optional name.
//
// On the wire a generic subscription is an object with a single key, the
// artifact type, whose value holds name, config and discoveryLimit, e.g.
// {"my-type": {"name": "x", "config": {...}}}.
type RepoSubscription struct {
	// Name identifies the subscription within its Warehouse; artifacts it
	// discovers record it as their subscriptionName.
	Name string `json:"name,omitempty"`
	// Git subscribes to a Git repository.
	Git *GitSubscription `json:"git,omitempty"`
	// Image subscribes to a container image repository.
	Image *ImageSubscription `json:"image,omitempty"`
	// Chart subscribes to a Helm chart repository.
	Chart *ChartSubscription `json:"chart,omitempty"`
	// Generic subscribes to some other kind of artifact source, handled by a
	// subscriber for its SubscriptionType.
	Generic *Subscription `json:"-"`
}

// GitSubscription subscribes to a Git repository.
type GitSubscription struct {
	// RepoURL is the repository's URL (https, http, ssh or scp-style).
	//
	// +kubebuilder:validation:MinLength=1
	RepoURL string `json:"repoURL"`
	// CommitSelectionStrategy picks the newest commit. Defaults to
	// NewestFromBranch.
	//
	// +kubebuilder:default=NewestFromBranch
	CommitSelectionStrategy CommitSelectionStrategy `json:"commitSelectionStrategy,omitempty"`
	// Branch is the branch followed by NewestFromBranch; the repository's
	// default branch when empty.
	//
	// +kubebuilder:validation:MaxLength=255
	Branch string `json:"branch,omitempty"`
	// StrictSemvers admits only tags with major, minor and patch parts when
	// the strategy is SemVer. Defaults to true.
	//
	// +kubebuilder:default=true
	StrictSemvers *bool `json:"strictSemvers,omitempty"`
	// SemverConstraint limits the tags SemVer considers.
	SemverConstraint string `json:"semverConstraint,omitempty"`
	// AllowTags is a regular expression tags must match.
	//
	// Deprecated: use AllowTagsRegexes. Kargo fails discovery when it is set.
	AllowTags string `json:"allowTags,omitempty"`
	// AllowTagsRegexes are regular expressions of which a tag must match one.
	AllowTagsRegexes []string `json:"allowTagsRegexes,omitempty"`
	// AllowTagsRegex is the spelling of AllowTagsRegexes used by earlier
	// v1.11 builds; both are honoured.
	AllowTagsRegex []string `json:"allowTagsRegex,omitempty"`
	// IgnoreTags are tags, literally, that are never considered.
	//
	// Deprecated: use IgnoreTagsRegexes. Kargo fails discovery when it is set.
	IgnoreTags []string `json:"ignoreTags,omitempty"`
	// IgnoreTagsRegexes are regular expressions; a tag matching any is skipped.
	IgnoreTagsRegexes []string `json:"ignoreTagsRegexes,omitempty"`
	// IgnoreTagsRegex is the spelling of IgnoreTagsRegexes used by earlier
	// v1.11 builds; both are honoured.
	IgnoreTagsRegex []string `json:"ignoreTagsRegex,omitempty"`
	// ExpressionFilter is an expr-lang expression over commit or tag metadata
	// that must be true for a commit or tag to be considered.
	ExpressionFilter string `json:"expressionFilter,omitempty"`
	// InsecureSkipTLSVerify ignores TLS certificate errors.
	InsecureSkipTLSVerify bool `json:"insecureSkipTLSVerify,omitempty"`
	// IncludePaths limits the paths whose changes produce Freight: exact
	// paths, or patterns prefixed "glob:", "regex:" or "regexp:".
	IncludePaths []string `json:"includePaths,omitempty"`
	// ExcludePaths removes paths from IncludePaths, in the same syntax.
	ExcludePaths []string `json:"excludePaths,omitempty"`
	// DiscoveryLimit caps how many commits are discovered: 1–100, with 0 or
	// absent meaning 20.
	//
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=20
	DiscoveryLimit int32 `json:"discoveryLimit,omitempty"`
}

// ImageSubscription subscribes to a container image repository.
type ImageSubscription struct {
	// RepoURL is the image repository, without a tag.
	//
	// +kubebuilder:validation:MinLength=1
	RepoURL string `json:"repoURL"`
	// ImageSelectionStrategy picks the newest image. Defaults to SemVer.
	//
	// +kubebuilder:default=SemVer
	ImageSelectionStrategy ImageSelectionStrategy `json:"imageSelectionStrategy,omitempty"`
	// StrictSemvers admits only tags with major, minor and patch parts when
	// the strategy is SemVer. Defaults to true.
	//
	// +kubebuilder:default=true
	StrictSemvers *bool `json:"strictSemvers,omitempty"`
	// SemverConstraint is the former name of Constraint.
	//
	// Deprecated: use Constraint, which wins when both are set.
	SemverConstraint string `json:"semverConstraint,omitempty"`
	// Constraint narrows the images considered; its meaning depends on the
	// strategy (a semver range for SemVer, the followed tag for Digest).
	Constraint string `json:"constraint,omitempty"`
	// AllowTags is a regular expression tags must match.
	//
	// Deprecated: use AllowTagsRegexes. Kargo fails discovery when it is set.
	AllowTags string `json:"allowTags,omitempty"`
	// AllowTagsRegexes are regular expressions of which a tag must match one.
	AllowTagsRegexes []string `json:"allowTagsRegexes,omitempty"`
	// AllowTagsRegex is the spelling of AllowTagsRegexes used by earlier
	// v1.11 builds; both are honoured.
	AllowTagsRegex []string `json:"allowTagsRegex,omitempty"`
	// IgnoreTags are tags, literally, that are never considered.
	//
	// Deprecated: use IgnoreTagsRegexes. Kargo fails discovery when it is set.
	IgnoreTags []string `json:"ignoreTags,omitempty"`
	// IgnoreTagsRegexes are regular expressions; a tag matching any is skipped.
	IgnoreTagsRegexes []string `json:"ignoreTagsRegexes,omitempty"`
	// IgnoreTagsRegex is the spelling of IgnoreTagsRegexes used by earlier
	// v1.11 builds; both are honoured.
	IgnoreTagsRegex []string `json:"ignoreTagsRegex,omitempty"`
	// Platform ("os/arch") limits images to one platform.
	Platform string `json:"platform,omitempty"`
	// InsecureSkipTLSVerify ignores TLS certificate errors.
	InsecureSkipTLSVerify bool `json:"insecureSkipTLSVerify,omitempty"`
	// CacheByTag caches image metadata by tag; unsafe with mutable tags.
	CacheByTag bool `json:"cacheByTag,omitempty"`
	// DiscoveryLimit caps how many images are discovered: 1–100, with 0 or
	// absent meaning 20.
	//
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=20
	DiscoveryLimit int32 `json:"discoveryLimit,omitempty"`
}

// ChartSubscription subscribes to a Helm chart repository.
type ChartSubscription struct {
	// RepoURL is a classic (http/https) chart repository, which then needs
	// Name, or an oci:// repository that is itself the chart.
	//
	// +kubebuilder:validation:MinLength=1
	RepoURL string `json:"repoURL"`
	// Name is the chart within a classic repository; empty for OCI.
	Name string `json:"name,omitempty"`
	// SemverConstraint limits the chart versions considered.
	SemverConstraint string `json:"semverConstraint,omitempty"`
	// DiscoveryLimit caps how many versions are discovered: 1–100, with 0 or
	// absent meaning 20.
	//
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=20
	DiscoveryLimit int32 `json:"discoveryLimit,omitempty"`
}

// Subscription is a generic subscription, understood by the subscriber
// registered for its SubscriptionType.
type Subscription struct {
	// SubscriptionType is the artifact type: the key the subscription was
	// written under.
	SubscriptionType string `json:"-"`
	// Name identifies the subscription within its Warehouse.
	Name string `json:"name"`
	// Config is the subscriber's own configuration, kept as written.
	Config *JSON `json:"config,omitempty"`
	// DiscoveryLimit caps how many versions are discovered: 1–100, with 0 or
	// absent meaning 20.
	DiscoveryLimit int32 `json:"discoveryLimit,omitempty"`
}

// WarehouseStatus is what a Warehouse last observed.
type WarehouseStatus struct {
	// Conditions are the latest observations of the Warehouse's state.
	//
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastHandledRefresh is the refresh annotation value last acted on.
	LastHandledRefresh string `json:"lastHandledRefresh,omitempty"`
	// ObservedGeneration is the generation last reconciled.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// LastFreightID is the name of the newest Freight this Warehouse made.
	LastFreightID string `json:"lastFreightID,omitempty"`
	// DiscoveredArtifacts is what the last discovery found.
	DiscoveredArtifacts *DiscoveredArtifacts `json:"discoveredArtifacts,omitempty"`
}

// DiscoveredArtifacts is what one discovery found, per subscription.
type DiscoveredArtifacts struct {
	// DiscoveredAt is when the discovery ran.
	DiscoveredAt metav1.Time `json:"discoveredAt"`
	// Git holds commits found by Git subscriptions.
	Git []GitDiscoveryResult `json:"git,omitempty"`
	// Images holds images found by image subscriptions.
	Images []ImageDiscoveryResult `json:"images,omitempty"`
	// Charts holds versions found by chart subscriptions.
	Charts []ChartDiscoveryResult `json:"charts,omitempty"`
	// Results holds artifacts found by generic subscriptions.
	Results []DiscoveryResult `json:"results,omitempty"`
}

// GitDiscoveryResult is what one Git subscription found.
type GitDiscoveryResult struct {
	// RepoURL is the subscription's repository.
	RepoURL string `json:"repoURL"`
	// Commits are the commits found, newest first; empty means none matched.
	Commits []DiscoveredCommit `json:"commits"`
}

// DiscoveredCommit is one discovered commit.
type DiscoveredCommit struct {
	// ID is the commit hash.
	ID string `json:"id,omitempty"`
	// Branch is the branch it was found on, when the strategy follows one.
	Branch string `json:"branch,omitempty"`
	// Tag is the tag that points at it, when the strategy selects tags.
	Tag string `json:"tag,omitempty"`
	// Subject is the first line of its message.
	Subject string `json:"subject,omitempty"`
	// Author is its author.
	Author string `json:"author,omitempty"`
	// Committer is its committer.
	Committer string `json:"committer,omitempty"`
	// CreatorDate is the commit date, or the tag date for annotated tags.
	CreatorDate *metav1.Time `json:"creatorDate,omitempty"`
}

// ImageDiscoveryResult is what one image subscription found.
type ImageDiscoveryResult struct {
	// RepoURL is the subscription's repository.
	RepoURL string `json:"repoURL"`
	// Platform is the subscription's platform, if any.
	Platform string `json:"platform,omitempty"`
	// References are the images found, newest first; empty means none matched.
	References []DiscoveredImageReference `json:"references"`
}

// DiscoveredImageReference is one discovered image.
type DiscoveredImageReference struct {
	// Tag is the image's tag.
	Tag string `json:"tag"`
	// Digest is the image's digest.
	Digest string `json:"digest"`
	// Annotations are the image's OCI annotations.
	Annotations map[string]string `json:"annotations,omitempty"`
	// CreatedAt is when the image was built, when known.
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`
}

// ChartDiscoveryResult is what one chart subscription found.
type ChartDiscoveryResult struct {
	// RepoURL is the subscription's repository.
	RepoURL string `json:"repoURL"`
	// Name is the subscription's chart name.
	Name string `json:"name,omitempty"`
	// SemverConstraint is the subscription's constraint, if any.
	SemverConstraint string `json:"semverConstraint,omitempty"`
	// Versions are the versions found, newest first; empty means none matched.
	Versions []string `json:"versions"`
}

// DiscoveryResult is what one generic subscription found.
type DiscoveryResult struct {
	// SubscriptionName is the subscription's name.
	SubscriptionName string `json:"name"`
	// ArtifactReferences are the versions found.
	ArtifactReferences []ArtifactReference `json:"artifactReferences"`
}

// ArtifactReference is one version of an artifact from a generic
// subscription.
type ArtifactReference struct {
	// ArtifactType is the kind of artifact, often a media type.
	ArtifactType string `json:"artifactType,omitempty"`
	// SubscriptionName is the subscription that found it.
	SubscriptionName string `json:"subscriptionName"`
	// Version identifies the revision.
	Version string `json:"version"`
	// Metadata is the subscriber's own description of the artifact.
	Metadata *JSON `json:"metadata,omitempty"`
}

// +kubebuilder:object:root=true

// WarehouseList is a list of Warehouses.
type WarehouseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Warehouse `json:"items"`
}
