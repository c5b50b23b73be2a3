package controller

import (
	"context"
	"fmt"
	"time"
)

// Key names one object: its namespace ("" for cluster-scoped kinds) and name.
type Key struct {
	Namespace string
	Name      string
}

// String returns "namespace/name", or "name" for a cluster-scoped object.
func (k Key) String() string {
	if k.Namespace == "" {
		return k.Name
	}
	return k.Namespace + "/" + k.Name
}

// Result says when a reconciler wants to see a key again.
type Result struct {
	// RequeueAfter, when positive, reconciles the key again after this long.
	// With an error that is retried with backoff, it caps the backoff.
	RequeueAfter time.Duration
}

// Reconciler brings one object closer to its desired state. It must be safe
// for concurrent use on different keys; a Runner never reconciles one key on
// two workers at once. Reconcile is called again for a key whose object is
// gone (it should return nil then).
type Reconciler interface {
	Reconcile(ctx context.Context, key Key) (Result, error)
}

// ReconcilerFunc adapts a function to the Reconciler interface.
type ReconcilerFunc func(ctx context.Context, key Key) (Result, error)

// Reconcile calls f.
func (f ReconcilerFunc) Reconcile(ctx context.Context, key Key) (Result, error) {
	return f(ctx, key)
}

// panicError is what a panic in Reconcile becomes.
type panicError struct {
	value any
}

func (e *panicError) Error() string { return fmt.Sprintf("reconciler panicked: %v", e.value) }
