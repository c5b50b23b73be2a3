package admission

import (
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/caravan-dev/caravan/internal/kinds"
)

// CauseTypeUnknownField is the details.causes type of a field that the
// kind's schema does not have.
const CauseTypeUnknownField metav1.CauseType = "FieldValueUnknown"

func groupKind(info *kinds.Info) schema.GroupKind {
	return schema.GroupKind{Group: info.Group, Kind: info.Kind}
}

func groupResource(info *kinds.Info) schema.GroupResource {
	return schema.GroupResource{Group: info.Group, Resource: info.Resource}
}

// invalid is the 422 a kube-apiserver answers for field errors, e.g.
// `Stage.kargo.akuity.io "uat" is invalid: spec.requestedFreight[0].sources:
// Required value: need direct or stages`, with one cause per field.
func invalid(info *kinds.Info, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(groupKind(info), name, errs)
}

// forbidden is a 403 `<resource> "<name>" is forbidden: <reason>`.
func forbidden(info *kinds.Info, name string, reason string) error {
	return apierrors.NewForbidden(groupResource(info), name, fmt.Errorf("%s", reason))
}

// conflict is a 409 Conflict `Operation cannot be fulfilled on <resource>
// "<name>": <reason>`.
func conflict(info *kinds.Info, name string, reason string) error {
	return apierrors.NewConflict(groupResource(info), name, fmt.Errorf("%s", reason))
}

// badRequest is a 400 BadRequest carrying causes.
func badRequest(message string, causes []metav1.StatusCause) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusBadRequest,
		Reason:  metav1.StatusReasonBadRequest,
		Message: message,
		Details: detailsOrNil(causes),
	}}
}

func detailsOrNil(causes []metav1.StatusCause) *metav1.StatusDetails {
	if len(causes) == 0 {
		return nil
	}
	return &metav1.StatusDetails{Causes: causes}
}

// projectNotFound is the 404 for a namespaced object whose namespace is no
// Project's, shaped like kube-apiserver's answer for a missing namespace.
func projectNotFound(info *kinds.Info, namespace string, reserved []string) error {
	msg := fmt.Sprintf("project %q does not exist: create it first (a Project named %q), then create this %s in its namespace",
		namespace, namespace, info.Kind)
	if info.Kind == "Secret" || info.Kind == "ConfigMap" {
		msg += fmt.Sprintf(", or use one of the reserved namespaces %q and %q", reserved[0], reserved[1])
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusNotFound,
		Reason:  metav1.StatusReasonNotFound,
		Message: msg,
		Details: &metav1.StatusDetails{Group: kinds.KargoGroup, Kind: "projects", Name: namespace},
	}}
}

// internalError wraps an unexpected error (a failed read of another object).
func internalError(format string, args ...any) error {
	return apierrors.NewInternalError(fmt.Errorf(format, args...))
}

// notFound is a field error of type NotFound that says how to fix it.
func notFound(p *field.Path, value any, detail string) *field.Error {
	e := field.NotFound(p, value)
	e.Detail = detail
	return e
}
