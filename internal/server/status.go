package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusOf converts err to the Status body the API answers with. StatusErrors
// from the store and admission pass through; anything else is a 500 whose
// message says nothing about the cause (it may carry data that must not
// leak), and is logged instead.
func (s *Server) statusOf(ctx context.Context, err error) metav1.Status {
	var st metav1.Status
	var as apierrors.APIStatus
	switch {
	case errors.As(err, &as):
		st = as.Status()
	case errors.Is(err, context.DeadlineExceeded):
		st = apierrors.NewTimeoutError("the request did not complete in time", 0).Status()
	default:
		s.log.ErrorContext(ctx, "request failed", attrError, err.Error())
		st = apierrors.NewInternalError(errors.New("the server failed to handle the request; see its log")).Status()
	}
	st.Kind, st.APIVersion = "Status", "v1"
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	return st
}

// writeError answers with err as a Status.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		return // the client went away; nobody reads the answer
	}
	st := s.statusOf(r.Context(), err)
	writeJSON(w, int(st.Code), &st)
}

// writeJSON answers with v encoded as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"encode response","reason":"InternalError","code":500}`)
	}
	writeBytes(w, code, b)
}

func writeBytes(w http.ResponseWriter, code int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(b)+1))
	w.WriteHeader(code)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte{'\n'})
}

// Errors the handlers build themselves.

func errNotFoundPath() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
	}}
}

func errMethodNotAllowed(method, what string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusMethodNotAllowed, Reason: metav1.StatusReasonMethodNotAllowed,
		Message: fmt.Sprintf("%s is not supported on %s", method, what),
	}}
}

func errUnsupportedMediaType(contentType string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of a PATCH must be a JSON merge patch (Content-Type: application/merge-patch+json), not %q", contentType),
	}}
}

func errUnauthorized() error {
	return apierrors.NewUnauthorized("Unauthorized: send a valid bearer token (Authorization: Bearer <token>); the admin token is in <data-dir>/admin-token")
}
