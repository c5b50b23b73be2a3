package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types controllers write, with Kargo's names and polarities.
// "Positive polarity" means True is the normal, healthy state; "negative
// polarity" means the condition is normally absent (or False) and its
// presence with True reports a problem or work in flight.
const (
	// ConditionReady: the object is fully operational. For a Warehouse: its
	// last discovery reached every subscription and, with the Automatic
	// policy, produced or found Freight (or the creation criteria said
	// no). Positive polarity.
	ConditionReady = "Ready"
	// ConditionReconciling: the controller is still working on the object
	// and more changes are coming, e.g. a failed discovery will be retried
	// with backoff. Removed when the work is done. Negative polarity.
	ConditionReconciling = "Reconciling"
	// ConditionStalled: the controller cannot progress until the object
	// changes, e.g. a subscription whose constraint does not compile.
	// Removed once it progresses again. Negative polarity.
	ConditionStalled = "Stalled"
	// ConditionFreightCreated: the last discovery's newest artifacts made
	// Freight: True with reason NewFreight when it was created, False with
	// reason AlreadyExists when the same artifacts had made it before.
	// Absent when the discovery built no Freight. Positive polarity.
	ConditionFreightCreated = "FreightCreated"
	// ConditionFreightCreationCriteriaSatisfied: the Warehouse's
	// freightCreationCriteria.expression held for the newest artifacts.
	// Absent when there is no expression. Positive polarity.
	ConditionFreightCreationCriteriaSatisfied = "FreightCreationCriteriaSatisfied"
	// ConditionDeprecated: the spec uses fields that still work but are
	// deprecated (a Warehouse's allowTags / ignoreTags); the message says
	// what to write instead. Caravan's own; Kargo fails discovery instead.
	// Negative polarity.
	ConditionDeprecated = "Deprecated"
)

// Condition reasons of Warehouses, Kargo's where Kargo has one.
const (
	ReasonArtifactsDiscovered      = "ArtifactsDiscovered"
	ReasonDiscoveryFailed          = "DiscoveryFailed"
	ReasonInvalidSubscription      = "InvalidSubscription"
	ReasonNoArtifacts              = "NoArtifactsDiscovered"
	ReasonRetryingDiscovery        = "RetryingDiscovery"
	ReasonCriteriaSatisfied        = "CriteriaSatisfied"
	ReasonCriteriaNotSatisfied     = "CriteriaNotSatisfied"
	ReasonCriteriaEvaluationFailed = "CriteriaEvaluationFailed"
	ReasonNewFreight               = "NewFreight"
	ReasonAlreadyExists            = "AlreadyExists"
	ReasonFreightCreationFailed    = "FreightCreationFailure"
	ReasonDeprecatedFields         = "DeprecatedFields"
)

// conditionSet writes conditions of one object with the same generation and
// transition time.
type conditionSet struct {
	conds      *[]metav1.Condition
	generation int64
	now        metav1.Time
}

// set records a condition; its transition time moves only when its status
// changes.
func (c conditionSet) set(typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(c.conds, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: c.generation,
		LastTransitionTime: c.now,
	})
}

// remove drops a condition.
func (c conditionSet) remove(typ string) {
	meta.RemoveStatusCondition(c.conds, typ)
}
