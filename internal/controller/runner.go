package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/caravan-dev/caravan/internal/identity"
	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/retry"
	"github.com/caravan-dev/caravan/internal/store"
)

// Log attribute keys used by every controller.
const (
	logKeyController = "controller"
	logKeyKey        = "key"
	logKeyError      = "error"
	logKeyRetryIn    = "retry_in"
)

// Default backoff of a key whose reconcile failed: from 1 s, doubling, up to
// 5 minutes (see RunnerOptions.RateLimiter). Reconcilers talk to remote
// hosts; a failing one should not hammer them.
const (
	DefaultBaseDelay = time.Second
	DefaultMaxDelay  = 5 * time.Minute
)

// DefaultRateLimiter returns the per-key exponential backoff runners use
// unless told otherwise: DefaultBaseDelay doubling up to DefaultMaxDelay.
func DefaultRateLimiter() workqueue.TypedRateLimiter[Key] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[Key](DefaultBaseDelay, DefaultMaxDelay)
}

// UpdatePredicate decides whether an update of a watched object enqueues it.
type UpdatePredicate func(old, updated *unstructured.Unstructured) bool

// MapFunc turns a changed object of another kind into the keys to reconcile.
type MapFunc func(obj *unstructured.Unstructured) []Key

// RunnerOptions configure a Runner. Kind and Reconciler are required.
type RunnerOptions struct {
	// Name identifies the runner in logs; the kind when empty.
	Name string
	// Kind is the kinds.Info Kind whose changes are reconciled.
	Kind string
	// Namespace limits the watch to one namespace; "" watches all.
	Namespace string
	// LabelSelector limits the watch; nil watches every object.
	LabelSelector labels.Selector
	// Reconciler is called with the key of every changed object.
	Reconciler Reconciler
	// Workers is how many keys are reconciled at once; at least 1.
	Workers int
	// RateLimiter computes the backoff of failed keys; DefaultRateLimiter()
	// when nil.
	RateLimiter workqueue.TypedRateLimiter[Key]
	// Clock times delayed requeues; the real clock when nil.
	Clock clock.WithTicker
	// Logger receives the runner's logs; slog.Default() when nil.
	Logger *slog.Logger
	// UpdatePredicate filters updates; nil enqueues every update that changes
	// more than status (see DesiredStateChanged).
	UpdatePredicate UpdatePredicate
}

// Runner feeds one Reconciler with the keys of one kind's changed objects
// through a rate-limited work queue, and decides what a reconcile's outcome
// means for the key (see the package documentation).
type Runner struct {
	name      string
	rec       Reconciler
	workers   int
	log       *slog.Logger
	limiter   workqueue.TypedRateLimiter[Key]
	queue     workqueue.TypedRateLimitingInterface[Key]
	informer  cache.SharedIndexInformer
	predicate UpdatePredicate
	// triggers are informers over other kinds whose changes map to keys.
	triggers []cache.SharedIndexInformer
}

// NewRunner returns a runner over kind in s. Start it with Run.
func NewRunner(s store.Store, opts RunnerOptions) (*Runner, error) {
	if opts.Reconciler == nil {
		return nil, errors.New("create runner: no reconciler given")
	}
	info := kinds.ByKind(opts.Kind)
	if info == nil {
		return nil, fmt.Errorf("create runner: unknown kind %q", opts.Kind)
	}
	r := &Runner{
		name:      opts.Name,
		rec:       opts.Reconciler,
		workers:   max(1, opts.Workers),
		limiter:   opts.RateLimiter,
		predicate: opts.UpdatePredicate,
	}
	if r.name == "" {
		r.name = info.Kind
	}
	if r.limiter == nil {
		r.limiter = DefaultRateLimiter()
	}
	if r.predicate == nil {
		r.predicate = DesiredStateChanged
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	r.log = logger.With(logKeyController, r.name)
	clk := opts.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	r.queue = workqueue.NewTypedRateLimitingQueueWithConfig(r.limiter,
		workqueue.TypedRateLimitingQueueConfig[Key]{Clock: clk})
	r.informer = newInformer(s, info, opts.Namespace, opts.LabelSelector)
	_, err := r.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { r.enqueueObject(obj) },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*unstructured.Unstructured)
			n, ok2 := newObj.(*unstructured.Unstructured)
			if !ok1 || !ok2 || r.predicate(o, n) {
				r.enqueueObject(newObj)
			}
		},
		DeleteFunc: func(obj any) { r.enqueueObject(obj) },
	})
	if err != nil {
		return nil, fmt.Errorf("create runner %s: %w", r.name, err)
	}
	return r, nil
}

// newInformer returns an informer over one kind of s.
func newInformer(s store.Store, info *kinds.Info, namespace string, sel labels.Selector) cache.SharedIndexInformer {
	example := &unstructured.Unstructured{}
	example.SetAPIVersion(info.APIVersion())
	example.SetKind(info.Kind)
	lw := store.NewListWatch(s, info.Kind, namespace, store.ListOptions{LabelSelector: sel})
	return cache.NewSharedIndexInformer(lw, example, 0, cache.Indexers{
		cache.NamespaceIndex: cache.MetaNamespaceIndexFunc,
	})
}

// Watch makes changes of another kind enqueue the keys mapFn returns, e.g.
// a credentials Secret changing requeues the Warehouses of its project.
// Objects of that kind are cached without their data and stringData, so
// Secret values are never held by the runner. Call it before Run.
func (r *Runner) Watch(s store.Store, kind, namespace string, sel labels.Selector, mapFn MapFunc) error {
	_, err := r.WatchTransformed(s, kind, namespace, sel, stripData, func(obj any) []Key {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return nil
		}
		return mapFn(u)
	})
	return err
}

// ObjectMapFunc turns a changed object of another kind, as a Watch
// transform left it, into the keys to reconcile.
type ObjectMapFunc func(obj any) []Key

// WatchTransformed is Watch with the watched objects cached as transform
// makes them (from the stored *unstructured.Unstructured) rather than with
// only their data dropped: a typed or trimmed form keeps the runner's cache
// small. transform must accept its own output (client-go may hand it an
// object twice) and mapFn sees its output. It returns the informer, for
// indexers and cached reads. Call it before Run.
func (r *Runner) WatchTransformed(s store.Store, kind, namespace string, sel labels.Selector, transform cache.TransformFunc, mapFn ObjectMapFunc) (cache.SharedIndexInformer, error) {
	info := kinds.ByKind(kind)
	if info == nil {
		return nil, fmt.Errorf("watch %s for %s: unknown kind", kind, r.name)
	}
	if transform == nil {
		transform = stripData
	}
	inf := newInformer(s, info, namespace, sel)
	if err := inf.SetTransform(transform); err != nil {
		return nil, fmt.Errorf("watch %s for %s: %w", kind, r.name, err)
	}
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		for _, k := range mapFn(obj) {
			r.Enqueue(k)
		}
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	})
	if err != nil {
		return nil, fmt.Errorf("watch %s for %s: %w", kind, r.name, err)
	}
	r.triggers = append(r.triggers, inf)
	return inf, nil
}

// stripData drops the values of Secrets and ConfigMaps from cached objects.
func stripData(obj any) (any, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		delete(u.Object, "data")
		delete(u.Object, "stringData")
		delete(u.Object, "binaryData")
	}
	return obj, nil
}

// Keys returns the keys of the watched objects in namespace ("" for all),
// from the runner's cache.
func (r *Runner) Keys(namespace string) []Key {
	var objs []any
	if namespace == "" {
		objs = r.informer.GetStore().List()
	} else {
		var err error
		if objs, err = r.informer.GetIndexer().ByIndex(cache.NamespaceIndex, namespace); err != nil {
			return nil
		}
	}
	keys := make([]Key, 0, len(objs))
	for _, o := range objs {
		if m, err := meta.Accessor(o); err == nil {
			keys = append(keys, Key{Namespace: m.GetNamespace(), Name: m.GetName()})
		}
	}
	return keys
}

// Enqueue asks for key to be reconciled.
func (r *Runner) Enqueue(key Key) { r.queue.Add(key) }

func (r *Runner) enqueueObject(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	r.Enqueue(Key{Namespace: m.GetNamespace(), Name: m.GetName()})
}

// DesiredStateChanged is the default UpdatePredicate: an update enqueues
// when the generation, labels, annotations, finalizers or deletion
// timestamp changed, or the kind has no generation and anything but status
// changed. Status-only writes, which reconcilers make themselves, do not.
func DesiredStateChanged(old, updated *unstructured.Unstructured) bool {
	if old.GetGeneration() != updated.GetGeneration() || updated.GetGeneration() == 0 {
		return true
	}
	return !equalStringMaps(old.GetLabels(), updated.GetLabels()) ||
		!equalStringMaps(old.GetAnnotations(), updated.GetAnnotations()) ||
		!equalStrings(old.GetFinalizers(), updated.GetFinalizers()) ||
		(old.GetDeletionTimestamp() == nil) != (updated.GetDeletionTimestamp() == nil)
}

func equalStringMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Run starts the informers and, once they have synced, the workers; it
// returns when ctx is done and every worker has finished its current key.
// Reconciles run with identity.Controller as the actor in their context.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	informers := append([]cache.SharedIndexInformer{r.informer}, r.triggers...)
	synced := make([]cache.InformerSynced, 0, len(informers))
	for _, inf := range informers {
		wg.Go(func() { inf.RunWithContext(ctx) })
		synced = append(synced, inf.HasSynced)
	}
	go func() {
		<-ctx.Done()
		r.queue.ShutDown()
	}()
	if cache.WaitForCacheSync(ctx.Done(), synced...) {
		r.log.Debug("controller started", "workers", r.workers)
		wctx := withLogger(identity.WithActor(ctx, identity.Controller), r.log)
		for range r.workers {
			wg.Go(func() {
				for r.processNextWorkItem(wctx) {
				}
			})
		}
	}
	<-ctx.Done()
	wg.Wait()
}

// processNextWorkItem takes one key off the queue, reconciles it and
// decides when it comes back. It returns false when the queue is shut down.
func (r *Runner) processNextWorkItem(ctx context.Context) bool {
	key, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(key)
	res, err := r.reconcile(ctx, key)
	if ctx.Err() != nil {
		return true // stopping: the queue is shutting down, nothing to requeue
	}
	r.handle(key, res, err)
	return true
}

// reconcile calls the reconciler, turning a panic into an error.
func (r *Runner) reconcile(ctx context.Context, key Key) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("reconciler panicked", logKeyKey, key.String(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res, err = Result{}, &panicError{value: p}
		}
	}()
	return r.rec.Reconcile(withLogger(ctx, r.log.With(logKeyKey, key.String())), key)
}

// handle maps a reconcile's outcome to the key's future: the one place where
// errors decide requeueing.
func (r *Runner) handle(key Key, res Result, err error) {
	if err == nil {
		r.queue.Forget(key)
		if res.RequeueAfter > 0 {
			r.queue.AddAfter(key, res.RequeueAfter)
		}
		return
	}
	log := r.log.With(logKeyKey, key.String(), logKeyError, err.Error())
	if retry.IsTerminal(err) {
		log.Info("reconcile stopped until the object changes")
		r.queue.Forget(key)
		return
	}
	if delay, ok := retry.Delay(err); ok {
		log.Info("reconcile failed; retrying", logKeyRetryIn, delay.String())
		r.queue.Forget(key)
		r.queue.AddAfter(key, delay)
		return
	}
	if apierrors.IsConflict(err) {
		log.Debug("reconcile met a newer version of the object; retrying now")
		r.queue.Add(key)
		return
	}
	delay := r.limiter.When(key)
	if res.RequeueAfter > 0 && delay > res.RequeueAfter {
		delay = res.RequeueAfter
	}
	log.Warn("reconcile failed; retrying", logKeyRetryIn, delay.String())
	r.queue.AddAfter(key, delay)
}

type loggerKey struct{}

func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// LoggerFrom returns the logger a Runner put in the context of Reconcile
// (carrying the controller and key), or slog.Default().
func LoggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
