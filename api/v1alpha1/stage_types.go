package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VerificationPhase is the state of a verification; it mirrors the phase of
// the underlying AnalysisRun except when the run could not be started.
type VerificationPhase string

// Verification phases.
const (
	VerificationPhasePending      VerificationPhase = "Pending"
	VerificationPhaseRunning      VerificationPhase = "Running"
	VerificationPhaseSuccessful   VerificationPhase = "Successful"
	VerificationPhaseFailed       VerificationPhase = "Failed"
	VerificationPhaseError        VerificationPhase = "Error"
	VerificationPhaseAborted      VerificationPhase = "Aborted"
	VerificationPhaseInconclusive VerificationPhase = "Inconclusive"
)

// IsTerminal reports whether the verification has finished.
func (p VerificationPhase) IsTerminal() bool {
	switch p {
	case VerificationPhaseSuccessful, VerificationPhaseFailed, VerificationPhaseError,
		VerificationPhaseAborted, VerificationPhaseInconclusive:
		return true
	}
	return false
}

// HealthState is a Stage's health.
type HealthState string

// Health states.
const (
	HealthStateHealthy       HealthState = "Healthy"
	HealthStateNotApplicable HealthState = "NotApplicable"
	HealthStateProgressing   HealthState = "Progressing"
	HealthStateUnknown       HealthState = "Unknown"
	HealthStateUnhealthy     HealthState = "Unhealthy"
)

// FreightAvailabilityStrategy is how many upstream Stages must have verified
// Freight before it is available.
//
// +kubebuilder:validation:Enum={All,OneOf,""}
type FreightAvailabilityStrategy string

// Freight availability strategies.
const (
	// FreightAvailabilityStrategyOneOf: verified in any one upstream Stage (the default).
	FreightAvailabilityStrategyOneOf FreightAvailabilityStrategy = "OneOf"
	// FreightAvailabilityStrategyAll: verified in every upstream Stage.
	FreightAvailabilityStrategyAll FreightAvailabilityStrategy = "All"
)

// AutoPromotionSelectionPolicy is which Freight auto-promotion picks.
//
// +kubebuilder:validation:Enum={NewestFreight,MatchUpstream}
type AutoPromotionSelectionPolicy string

// Auto-promotion selection policies.
const (
	// AutoPromotionSelectionPolicyNewestFreight picks the newest available Freight (the default).
	AutoPromotionSelectionPolicyNewestFreight AutoPromotionSelectionPolicy = "NewestFreight"
	// AutoPromotionSelectionPolicyMatchUpstream picks what the one upstream Stage has.
	AutoPromotionSelectionPolicyMatchUpstream AutoPromotionSelectionPolicy = "MatchUpstream"
)

// AnalysisTemplate kinds a Verification may reference.
const (
	AnalysisTemplateKindAnalysisTemplate        = "AnalysisTemplate"
	AnalysisTemplateKindClusterAnalysisTemplate = "ClusterAnalysisTemplate"
)

// FreightHistoryLimit is how many freight collections a Stage keeps, and
// VerificationHistoryLimit how many verifications each collection keeps.
const (
	FreightHistoryLimit      = 10
	VerificationHistoryLimit = 10
)

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name=Shard,type=string,JSONPath=`.spec.shard`
// +kubebuilder:printcolumn:name=Current Freight,type=string,JSONPath=`.status.freightSummary`
// +kubebuilder:printcolumn:name=Health,type=string,JSONPath=`.status.health.status`
// +kubebuilder:printcolumn:name=Ready,type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name=Status,type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name=Age,type=date,JSONPath=`.metadata.creationTimestamp`

// Stage is a step of a pipeline (test, uat, prod…): which Freight it
// accepts, how Freight is promoted into it, and how it is verified.
type Stage struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the Stage's desired behaviour.
	//
	// +kubebuilder:validation:Required
	Spec StageSpec `json:"spec"`
	// Status is the Stage's current Freight, health and history.
	Status StageStatus `json:"status,omitempty"`
}

// StageSpec describes a Stage.
type StageSpec struct {
	// Shard assigns the Stage to a shard; kept in sync with the
	// kargo.akuity.io/shard label.
	Shard string `json:"shard,omitempty"`
	// Vars are variables that promotion steps of this Stage can use.
	Vars []ExpressionVariable `json:"vars,omitempty"`
	// RequestedFreight lists, per origin, the Freight the Stage needs and
	// where it may come from.
	//
	// +kubebuilder:validation:MinItems=1
	RequestedFreight []FreightRequest `json:"requestedFreight"`
	// PromotionTemplate is how Freight is promoted into the Stage. A Stage
	// without steps only passes Freight on (a control-flow Stage).
	PromotionTemplate *PromotionTemplate `json:"promotionTemplate,omitempty"`
	// Verification is how the Stage's current Freight is checked.
	Verification *Verification `json:"verification,omitempty"`
	// PromotionWindows restrict when promotions may run. Reserved by Kargo for
	// its commercial edition; accepted and kept as written.
	PromotionWindows *JSON `json:"promotionWindows,omitempty"`
	// AutoRollback configures automatic rollback. Reserved by Kargo for its
	// commercial edition; accepted and kept as written.
	AutoRollback *JSON `json:"autoRollback,omitempty"`
	// Targets selects the Targets this Stage governs. Reserved by Kargo for
	// its commercial edition; accepted and kept as written.
	Targets *JSON `json:"targets,omitempty"`
}

// FreightRequest is a Stage's need for Freight from one origin.
type FreightRequest struct {
	// Origin is where the Freight must come from.
	//
	// +kubebuilder:validation:Required
	Origin FreightOrigin `json:"origin"`
	// Sources is where the Stage may obtain it.
	Sources FreightSources `json:"sources"`
}

// FreightSources is where a Stage may obtain Freight: directly from its
// Warehouse, from upstream Stages, or both.
type FreightSources struct {
	// Direct admits Freight straight from its Warehouse.
	Direct bool `json:"direct,omitempty"`
	// Stages admits Freight verified in these upstream Stages.
	Stages []string `json:"stages,omitempty"`
	// RequiredSoakTime is how long Freight must have stayed in an upstream
	// Stage before it is available here.
	//
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(s|m|h))+$`
	RequiredSoakTime *metav1.Duration `json:"requiredSoakTime,omitempty"`
	// AvailabilityStrategy is OneOf (the default) or All upstream Stages.
	AvailabilityStrategy FreightAvailabilityStrategy `json:"availabilityStrategy,omitempty"`
	// AutoPromotionOptions tune auto-promotion of this Freight.
	AutoPromotionOptions *AutoPromotionOptions `json:"autoPromotionOptions,omitempty"`
}

// AutoPromotionOptions tune how auto-promotion picks Freight.
type AutoPromotionOptions struct {
	// SelectionPolicy is NewestFreight (the default) or MatchUpstream.
	//
	// +kubebuilder:default=NewestFreight
	SelectionPolicy AutoPromotionSelectionPolicy `json:"selectionPolicy,omitempty"`
}

// PromotionTemplate is the template of the Promotions of a Stage.
type PromotionTemplate struct {
	// Spec is the template.
	Spec PromotionTemplateSpec `json:"spec"`
}

// PromotionTemplateSpec holds the vars and steps copied into each Promotion.
type PromotionTemplateSpec struct {
	// Vars are variables the steps can use.
	Vars []ExpressionVariable `json:"vars,omitempty"`
	// Steps run in order.
	//
	// +kubebuilder:validation:MinItems=1
	Steps []PromotionStep `json:"steps,omitempty"`
}

// Verification is how a Stage's current Freight is checked, with Argo
// Rollouts AnalysisTemplates.
type Verification struct {
	// AnalysisTemplates are run as AnalysisRuns.
	AnalysisTemplates []AnalysisTemplateReference `json:"analysisTemplates,omitempty"`
	// AnalysisRunMetadata is added to every AnalysisRun.
	AnalysisRunMetadata *AnalysisRunMetadata `json:"analysisRunMetadata,omitempty"`
	// Args are passed to every AnalysisRun.
	Args []AnalysisRunArgument `json:"args,omitempty"`
}

// AnalysisTemplateReference names an AnalysisTemplate or
// ClusterAnalysisTemplate.
type AnalysisTemplateReference struct {
	// Name is the template's name (in the Stage's namespace when namespaced).
	//
	// +kubebuilder:validation:Required
	Name string `json:"name"`
	// Kind is AnalysisTemplate (the default) or ClusterAnalysisTemplate.
	//
	// +kubebuilder:validation:Enum=AnalysisTemplate;ClusterAnalysisTemplate
	Kind string `json:"kind,omitempty"`
}

// AnalysisRunMetadata is labels and annotations added to AnalysisRuns.
type AnalysisRunMetadata struct {
	// Labels are added to each AnalysisRun.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are added to each AnalysisRun.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// AnalysisRunArgument is an argument passed to AnalysisRuns.
type AnalysisRunArgument struct {
	// Name is the argument's name.
	//
	// +kubebuilder:validation:Required
	Name string `json:"name"`
	// Value is the argument's value; it may contain expressions.
	//
	// +kubebuilder:validation:Required
	Value string `json:"value,omitempty"`
}

// StageStatus is a Stage's current Freight, health and history.
type StageStatus struct {
	// Conditions are the latest observations of the Stage's state.
	//
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastHandledRefresh is the refresh annotation value last acted on.
	LastHandledRefresh string `json:"lastHandledRefresh,omitempty"`
	// FreightHistory lists recent freight collections, current first.
	FreightHistory FreightHistory `json:"freightHistory,omitempty"`
	// FreightSummary is a one-line summary of the current Freight.
	FreightSummary string `json:"freightSummary,omitempty"`
	// Health is the Stage's last observed health.
	Health *Health `json:"health,omitempty"`
	// ObservedGeneration is the generation last reconciled.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// CurrentPromotion is the Promotion now running, if any.
	CurrentPromotion *PromotionReference `json:"currentPromotion,omitempty"`
	// LastPromotion is the Promotion that finished last.
	LastPromotion *PromotionReference `json:"lastPromotion,omitempty"`
	// AutoPromotionEnabled reports whether the Project's policies allow
	// auto-promotion into this Stage.
	AutoPromotionEnabled bool `json:"autoPromotionEnabled,omitempty"`
	// AutoPromotionHolds pauses auto-promotion per origin after a user
	// promoted Freight other than the auto-promotion candidate; promoting
	// the candidate lifts the hold. Keyed by origin ("Warehouse/name").
	AutoPromotionHolds map[string]AutoPromotionHold `json:"autoPromotionHolds,omitempty"`
	// Metadata holds values promotion steps set with set-metadata, read by
	// the stageMetadata() expression function.
	Metadata map[string]JSON `json:"metadata,omitempty"`
}

// AutoPromotionHold records why auto-promotion of one origin is paused.
type AutoPromotionHold struct {
	// FreightName is the Freight the user promoted instead of the candidate.
	FreightName string `json:"freightName,omitempty"`
	// Origin is the origin the hold applies to.
	Origin FreightOrigin `json:"origin"`
	// PromotionName is the user's Promotion that placed the hold.
	PromotionName string `json:"promotionName,omitempty"`
	// Actor is who placed the hold.
	Actor string `json:"actor,omitempty"`
	// Reason says why auto-promotion is held, for people.
	Reason string `json:"reason,omitempty"`
	// CreatedAt is when the hold was placed.
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`
}

// FreightHistory is a Stage's freight collections, most recent first.
type FreightHistory []*FreightCollection

// FreightCollection is the set of Freight (one per origin) a Stage used at
// one time, with its verifications.
type FreightCollection struct {
	// ID identifies the collection; see FreightCollectionID.
	ID string `json:"id"`
	// Freight maps origins ("Kind/name") to Freight.
	Freight map[string]FreightReference `json:"items,omitempty"`
	// VerificationHistory lists verifications of the collection, newest first.
	VerificationHistory []VerificationInfo `json:"verificationHistory,omitempty"`
}

// FreightReference is a copy of the identifying parts of a Freight.
type FreightReference struct {
	// Name is the Freight's name (its ID).
	Name string `json:"name,omitempty"`
	// Origin is where the Freight came from.
	Origin FreightOrigin `json:"origin,omitempty"`
	// Commits are the Freight's commits.
	Commits []GitCommit `json:"commits,omitempty"`
	// Images are the Freight's images.
	Images []Image `json:"images,omitempty"`
	// Charts are the Freight's charts.
	Charts []Chart `json:"charts,omitempty"`
	// Artifacts are the Freight's generic artifacts.
	Artifacts []ArtifactReference `json:"artifacts,omitempty"`
}

// VerificationInfo is one verification of a freight collection.
type VerificationInfo struct {
	// ID identifies the verification.
	ID string `json:"id,omitempty"`
	// Actor is who started or aborted it.
	Actor string `json:"actor,omitempty"`
	// StartTime is when it started.
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// Phase is its state.
	Phase VerificationPhase `json:"phase,omitempty"`
	// Message explains the phase.
	Message string `json:"message,omitempty"`
	// AnalysisRun is the AnalysisRun that implements it.
	AnalysisRun *AnalysisRunReference `json:"analysisRun,omitempty"`
	// FinishTime is when it finished.
	FinishTime *metav1.Time `json:"finishTime,omitempty"`
}

// AnalysisRunReference names an AnalysisRun.
type AnalysisRunReference struct {
	// Namespace is the AnalysisRun's namespace.
	Namespace string `json:"namespace"`
	// Name is the AnalysisRun's name.
	Name string `json:"name"`
	// Phase is the AnalysisRun's last observed phase.
	Phase string `json:"phase"`
}

// Health is a Stage's health as its health checks report it.
type Health struct {
	// Status is the overall health.
	Status HealthState `json:"status,omitempty"`
	// Issues explain any state other than Healthy.
	Issues []string `json:"issues,omitempty"`
	// Config is the combined configuration of the health checks.
	Config *JSON `json:"config,omitempty"`
	// Output is the combined output of the health checks.
	Output *JSON `json:"output,omitempty"`
}

// PromotionReference is a Stage's view of a Promotion.
type PromotionReference struct {
	// Name is the Promotion's name.
	Name string `json:"name"`
	// Freight is the Freight being promoted.
	Freight *FreightReference `json:"freight,omitempty"`
	// Status is the Promotion's status when last observed.
	Status *PromotionStatus `json:"status,omitempty"`
	// FinishedAt is when the Promotion finished.
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
}

// +kubebuilder:object:root=true

// StageList is a list of Stages.
type StageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Stage `json:"items"`
}
