package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/analysis"
	"github.com/caravan-dev/caravan/internal/retry"
	"github.com/caravan-dev/caravan/internal/store"
)

// DefaultAnalysisRunWorkers is how many AnalysisRuns take measurements at
// once.
const DefaultAnalysisRunWorkers = 4

// AnalysisRunOptions are the dependencies of an AnalysisRunReconciler.
// Store is required.
type AnalysisRunOptions struct {
	// Store is the admission-wrapped store.
	Store store.Store
	// Clock tells the analysis engine the time of measurements; time.Now
	// when nil.
	Clock func() time.Time
	// Logger receives the analysis engine's records; slog.Default() when
	// nil. Secret values never reach it.
	Logger *slog.Logger
	// HTTPClient sends the web and prometheus providers' requests; nil means
	// a client of their own.
	HTTPClient *http.Client
	// ErrorRetryInterval is how long after an erroneous measurement the next
	// one is taken; 0 means Argo Rollouts' 10 s.
	ErrorRetryInterval time.Duration
}

// AnalysisRunReconciler runs AnalysisRuns (Argo Rollouts' analysis
// controller) on Caravan's analysis engine. A pass over one run:
//
//  1. load: read the run; a missing, deleting or completed one is left
//     alone.
//  2. measure: analysis.Runner.Reconcile takes the measurements that are due
//     and assesses them; arguments read from Secrets
//     (valueFrom.secretKeyRef, used in web headers, URLs, queries …) are
//     read from the run's project at that moment and never stored.
//  3. status: one status write. Should the run's spec have changed
//     meanwhile (spec.terminate set by an abort), the pass is discarded and
//     run again over the new spec.
//
// A run that has not completed comes back when its next measurement is due.
type AnalysisRunReconciler struct {
	store  store.Store
	runner *analysis.Runner
	clock  func() time.Time
}

// NewAnalysisRunReconciler returns a reconciler with the given dependencies.
func NewAnalysisRunReconciler(opts AnalysisRunOptions) (*AnalysisRunReconciler, error) {
	if opts.Store == nil {
		return nil, errors.New("create analysisrun reconciler: Store is required")
	}
	r := &AnalysisRunReconciler{store: opts.Store, clock: opts.Clock}
	if r.clock == nil {
		r.clock = time.Now
	}
	lookups := NewPromotionLookups(opts.Store, "")
	r.runner = analysis.NewRunner(analysis.Options{
		HTTPClient:         opts.HTTPClient,
		Secrets:            secretResolver(lookups),
		Clock:              r.clock,
		Logger:             opts.Logger,
		ErrorRetryInterval: opts.ErrorRetryInterval,
	})
	return r, nil
}

// NewAnalysisRunRunner returns the runner of rec over every AnalysisRun in
// s. Status writes do not wake it (the reconciler schedules its own next
// pass); spec changes, such as spec.terminate, do.
func NewAnalysisRunRunner(s store.Store, rec *AnalysisRunReconciler, opts RunnerOptions) (*Runner, error) {
	opts.Kind = "AnalysisRun"
	opts.Reconciler = rec
	if opts.Name == "" {
		opts.Name = "analysisrun"
	}
	return NewRunner(s, opts)
}

// StageKeysOfAnalysisRun maps an AnalysisRun to the Stage it verifies (its
// kargo.akuity.io/stage label), for a Stage runner's Watch of AnalysisRuns.
func StageKeysOfAnalysisRun(obj *unstructured.Unstructured) []Key {
	name := obj.GetLabels()[kargoapi.LabelKeyStage]
	if name == "" {
		return nil
	}
	if full := obj.GetAnnotations()[annotationKeyStageName]; full != "" {
		name = full
	}
	return []Key{{Namespace: obj.GetNamespace(), Name: name}}
}

// annotationKeyStageName records the full name of a Stage whose name is too
// long for the stage label's value.
const annotationKeyStageName = "caravan.akuity.io/stage"

// secretResolver reads argument values from the project's Secrets. Its
// errors name the Secret and key, never a value.
func secretResolver(l *PromotionLookups) analysis.SecretResolver {
	return func(ctx context.Context, namespace, name, key string) (string, error) {
		data, err := l.Secret(ctx, namespace, name)
		if err != nil {
			return "", err
		}
		if data == nil {
			return "", fmt.Errorf("secret %q not found in project %q: create it with the key %q", name, namespace, key)
		}
		v, ok := data[key]
		if !ok {
			return "", fmt.Errorf("secret %q in project %q has no key %q: add it, or correct the argument's secretKeyRef",
				name, namespace, key)
		}
		return v, nil
	}
}

// Reconcile runs one pass over the AnalysisRun key names.
func (r *AnalysisRunReconciler) Reconcile(ctx context.Context, key Key) (Result, error) {
	obj, err := r.store.Get(ctx, "AnalysisRun", key.Namespace, key.Name)
	if apierrors.IsNotFound(err) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("get analysisrun %s: %w", key, err)
	}
	if obj.GetDeletionTimestamp() != nil {
		return Result{}, nil
	}
	run := &rolloutsapi.AnalysisRun{}
	if err := decodeObject(obj, run); err != nil {
		return Result{}, retry.Terminal(fmt.Errorf("decode analysisrun %s: %w", key, err))
	}
	if run.Status.Phase.Completed() {
		return Result{}, nil
	}
	before := run.Status.DeepCopy()
	next, err := r.runner.Reconcile(ctx, run)
	if err != nil {
		return Result{}, err // stopping: the status is left as it was
	}
	if !reflect.DeepEqual(before, &run.Status) {
		if err := r.writeStatus(ctx, key, obj, &run.Status); err != nil {
			return Result{RequeueAfter: next}, err
		}
	}
	if run.Status.Phase.Completed() {
		LoggerFrom(ctx).Info("analysis run completed", "phase", run.Status.Phase)
		return Result{}, nil
	}
	return Result{RequeueAfter: max(next, time.Millisecond)}, nil
}

// writeStatus writes status over the run obj was read as. A conflict from a
// status-only change (none is expected: this reconciler is the status's only
// writer) is written over; one from a spec change is returned, so that the
// runner reconciles the run again, from its new spec, at once.
func (r *AnalysisRunReconciler) writeStatus(ctx context.Context, key Key, obj *unstructured.Unstructured, status *rolloutsapi.AnalysisRunStatus) error {
	m, err := toMap(status)
	if err != nil {
		return fmt.Errorf("encode status of analysisrun %s: %w", key, err)
	}
	cur := obj.DeepCopy()
	for attempt := 1; ; attempt++ {
		cur.Object["status"] = m
		_, err := r.store.UpdateStatus(ctx, cur)
		switch {
		case err == nil, apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err) || attempt == 3:
			return fmt.Errorf("update status of analysisrun %s: %w", key, err)
		}
		latest, gerr := r.store.Get(ctx, "AnalysisRun", key.Namespace, key.Name)
		if apierrors.IsNotFound(gerr) {
			return nil
		}
		if gerr != nil {
			return fmt.Errorf("update status of analysisrun %s: %w", key, gerr)
		}
		if latest.GetUID() != obj.GetUID() {
			return nil // deleted and created again: the new one gets its own pass
		}
		if latest.GetGeneration() != obj.GetGeneration() {
			return err // the spec changed: measure again over the new one
		}
		cur = latest
	}
}
