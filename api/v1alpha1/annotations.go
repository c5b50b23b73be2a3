package v1alpha1

import (
	"encoding/json"
	"strings"
)

// Annotation keys Kargo defines and Caravan honours.
const (
	// AnnotationKeyRefresh asks a controller to reconcile the object now. Its
	// value is an opaque token; each new value is a new request, and the
	// handled one is echoed in status.lastHandledRefresh.
	AnnotationKeyRefresh = "kargo.akuity.io/refresh"
	// AnnotationKeyReverify on a Stage asks for its current Freight to be
	// verified again. Its value is a verification ID or a VerificationRequest
	// in JSON.
	AnnotationKeyReverify = "kargo.akuity.io/reverify"
	// AnnotationKeyAbort on a Stage aborts a running verification (value: a
	// verification ID or a VerificationRequest in JSON); on a Promotion it
	// aborts the promotion (value: an AbortPromotionRequest in JSON).
	AnnotationKeyAbort = "kargo.akuity.io/abort"
	// AnnotationKeyColor on a Stage picks the colour the UI draws it in.
	AnnotationKeyColor = "kargo.akuity.io/color"
	// AnnotationKeyCreateActor records who created the object (set by the
	// server on Promotions, Freight and others).
	AnnotationKeyCreateActor = "kargo.akuity.io/create-actor"
	// AnnotationKeyDescription is a human-readable description of the object.
	AnnotationKeyDescription = "kargo.akuity.io/description"
	// AnnotationKeyAuthorizedStage on an Argo CD Application names the Stage
	// ("<project>:<stage>") allowed to update it.
	AnnotationKeyAuthorizedStage = "kargo.akuity.io/authorized-stage"
	// AnnotationKeyArgoCDContext on a Stage records the Argo CD Applications
	// its last promotion touched, for health checks.
	AnnotationKeyArgoCDContext = "kargo.akuity.io/argocd-context"
	// AnnotationKeyPromotion on an object records the Promotion that wrote it.
	AnnotationKeyPromotion = "kargo.akuity.io/promotion"
	// AnnotationKeyAzureClientID on a Project names an Azure managed identity.
	AnnotationKeyAzureClientID = "azure.kargo.akuity.io/client-id"

	// AnnotationValueTrue is the canonical true value of boolean annotations.
	AnnotationValueTrue = "true"
)

// Annotation keys carried by the v1 Events that Kargo emits about promotions,
// approvals and verifications.
const (
	AnnotationKeyEventActor               = "event.kargo.akuity.io/actor"
	AnnotationKeyEventProject             = "event.kargo.akuity.io/project"
	AnnotationKeyEventPromotionName       = "event.kargo.akuity.io/promotion-name"
	AnnotationKeyEventPromotionCreateTime = "event.kargo.akuity.io/promotion-create-time"
	AnnotationKeyEventFreightName         = "event.kargo.akuity.io/freight-name"
	AnnotationKeyEventFreightAlias        = "event.kargo.akuity.io/freight-alias"
	AnnotationKeyEventFreightCreateTime   = "event.kargo.akuity.io/freight-create-time"
	AnnotationKeyEventFreightCommits      = "event.kargo.akuity.io/freight-commits"
	AnnotationKeyEventFreightImages       = "event.kargo.akuity.io/freight-images"
	AnnotationKeyEventFreightCharts       = "event.kargo.akuity.io/freight-charts"
	AnnotationKeyEventStageName           = "event.kargo.akuity.io/stage-name"
	AnnotationKeyEventAnalysisRunName     = "event.kargo.akuity.io/analysis-run-name"
	AnnotationKeyEventVerificationPending = "event.kargo.akuity.io/verification-pending"
	AnnotationKeyEventVerificationStart   = "event.kargo.akuity.io/verification-start-time"
	AnnotationKeyEventVerificationFinish  = "event.kargo.akuity.io/verification-finish-time"
	AnnotationKeyEventApplications        = "event.kargo.akuity.io/applications"
)

// Label keys and values Kargo defines.
const (
	// LabelKeyAlias mirrors a Freight's alias so Freight can be looked up by it.
	LabelKeyAlias = "kargo.akuity.io/alias"
	// LabelKeyCredentialType marks a Secret as repository credentials of the
	// type given by its value.
	LabelKeyCredentialType = "kargo.akuity.io/cred-type"
	// LabelKeyShard assigns Stages, Warehouses and Promotions to a shard.
	LabelKeyShard = "kargo.akuity.io/shard"
	// LabelKeyStage names the Stage an object (e.g. an AnalysisRun) belongs to.
	LabelKeyStage = "kargo.akuity.io/stage"
	// LabelKeyPromotion names the Promotion an object belongs to.
	LabelKeyPromotion = "kargo.akuity.io/promotion"
	// LabelKeyProject marks a namespace as a Project's namespace.
	LabelKeyProject = "kargo.akuity.io/project"
	// LabelKeyFreightCollection names the freight collection an AnalysisRun
	// verifies.
	LabelKeyFreightCollection = "kargo.akuity.io/freight-collection"
	// LabelKeyKeepNamespace keeps a Project's namespace when the Project is
	// deleted.
	LabelKeyKeepNamespace = "kargo.akuity.io/keep-namespace"
	// LabelKeyAnalysisEnv marks Secrets and ConfigMaps that AnalysisRuns may use.
	LabelKeyAnalysisEnv = "kargo.akuity.io/analysis-env"

	// LabelValueTrue is the canonical true value of boolean labels.
	LabelValueTrue = "true"

	// Values of LabelKeyCredentialType.
	CredentialTypeGit     = "git"
	CredentialTypeHelm    = "helm"
	CredentialTypeImage   = "image"
	CredentialTypeGeneric = "generic"
)

// FinalizerName is the finalizer Kargo's controllers put on the objects they
// must clean up after.
const FinalizerName = "kargo.akuity.io/finalizer"

// VerificationRequest is the JSON form of the reverify and abort annotations
// on a Stage.
type VerificationRequest struct {
	// ID is the verification to re-run or abort.
	ID string `json:"id,omitempty"`
	// Actor is who asked.
	Actor string `json:"actor,omitempty"`
	// ControlPlane is true when the server itself asked.
	ControlPlane bool `json:"controlPlane,omitempty"`
}

// PromotionAbortAction says what to do with a running Promotion.
type PromotionAbortAction string

// PromotionAbortActionTerminate stops the Promotion where it is.
const PromotionAbortActionTerminate PromotionAbortAction = "terminate"

// AbortPromotionRequest is the JSON form of the abort annotation on a
// Promotion.
type AbortPromotionRequest struct {
	// Action is what to do; only "terminate" exists.
	Action PromotionAbortAction `json:"action"`
	// Actor is who asked.
	Actor string `json:"actor,omitempty"`
	// ControlPlane is true when the server itself asked.
	ControlPlane bool `json:"controlPlane,omitempty"`
}

// ParseVerificationRequest reads the reverify or abort annotation of a Stage.
// A JSON object is decoded; any other value is taken as the verification ID.
// It returns false when the value names no verification.
func ParseVerificationRequest(value string) (VerificationRequest, bool) {
	var req VerificationRequest
	trimmed := strings.TrimSpace(value)
	if strings.HasPrefix(trimmed, "{") {
		if err := json.Unmarshal([]byte(trimmed), &req); err != nil {
			return VerificationRequest{}, false
		}
	} else {
		req.ID = trimmed
	}
	return req, req.ID != ""
}

// ParseAbortPromotionRequest reads the abort annotation of a Promotion. Kargo
// also accepts a bare action word; both forms are understood.
func ParseAbortPromotionRequest(value string) (AbortPromotionRequest, bool) {
	var req AbortPromotionRequest
	trimmed := strings.TrimSpace(value)
	if strings.HasPrefix(trimmed, "{") {
		if err := json.Unmarshal([]byte(trimmed), &req); err != nil {
			return AbortPromotionRequest{}, false
		}
	} else {
		req.Action = PromotionAbortAction(trimmed)
	}
	return req, req.Action == PromotionAbortActionTerminate
}
