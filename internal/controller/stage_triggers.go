package controller

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/store"
)

// This file holds what wakes the Stage reconciler (its runner and the
// index its triggers consult) and the Events it emits.

// NewStageRunner returns the runner of rec over every Stage in s, with the
// triggers described on StageReconciler. A Stage's own status writes wake it
// only when a Promotion's bookkeeping changed its current Freight or its
// current or last Promotion.
func NewStageRunner(s store.Store, rec *StageReconciler, opts RunnerOptions) (*Runner, error) {
	opts.Kind = "Stage"
	opts.Reconciler = rec
	if opts.Name == "" {
		opts.Name = "stage"
	}
	opts.UpdatePredicate = func(old, updated *unstructured.Unstructured) bool {
		return DesiredStateChanged(old, updated) || promotionMarks(old) != promotionMarks(updated)
	}
	r, err := NewRunner(s, opts)
	if err != nil {
		return nil, err
	}
	ix := rec.index
	projectKeys := func(obj *unstructured.Unstructured) []Key { return r.Keys(obj.GetNamespace()) }
	watches := []struct {
		kind      string
		transform cache.TransformFunc
		fn        ObjectMapFunc
	}{
		{"Stage", trimStage, unstructuredMap(ix.observeStage)},
		{"Freight", freightFromObject, ix.observeFreight},
		{"Promotion", trimPromotion, unstructuredMap(ix.observePromotion)},
		{"ProjectConfig", trimToMetadata, unstructuredMap(projectKeys)},
		{"AnalysisRun", trimToMetadata, unstructuredMap(StageKeysOfAnalysisRun)},
	}
	for _, w := range watches {
		inf, err := r.WatchTransformed(s, w.kind, "", nil, w.transform, w.fn)
		if err != nil {
			return nil, err
		}
		if w.kind == "Freight" {
			// Passes read Freight from this informer instead of the store:
			// see freightCache.
			if err := inf.AddIndexers(cache.Indexers{freightOriginIndex: freightOriginKey}); err != nil {
				return nil, fmt.Errorf("create stage runner: %w", err)
			}
			rec.freight = &freightCache{informer: inf}
		}
	}
	return r, nil
}

// unstructuredMap adapts a MapFunc to the objects of a trimming transform.
func unstructuredMap(fn MapFunc) ObjectMapFunc {
	return func(obj any) []Key {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return nil
		}
		return fn(u)
	}
}

// The Stage runner's triggers cache only what they read: each Freight once,
// decoded (passes read it through freightCache), and of Stages, Promotions,
// ProjectConfigs and AnalysisRuns a skeleton of identity, labels,
// annotations and the few fields the mapping functions consult.

// freightFromObject caches a Freight decoded. A Freight that does not
// decode stays as stored, for freightCache.list to report.
func freightFromObject(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil // already decoded
	}
	f := &kargoapi.Freight{}
	if err := decodeObject(u, f); err != nil {
		return obj, nil
	}
	f.ManagedFields = nil
	return f, nil
}

// trimToMetadata keeps an object's identity, labels and annotations.
func trimToMetadata(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	return trimObject(u), nil
}

// trimStage keeps what observeStage reads: the requests and the id of the
// current collection.
func trimStage(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	t := trimObject(u)
	if req, ok, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "requestedFreight"); ok {
		t.Object["spec"] = map[string]any{"requestedFreight": req}
	}
	if id := currentCollectionID(u); id != "" {
		t.Object["status"] = map[string]any{"freightHistory": []any{map[string]any{"id": id}}}
	}
	return t, nil
}

// trimPromotion keeps what observePromotion reads: the Stage and phase.
func trimPromotion(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil
	}
	t := trimObject(u)
	if stage, ok, _ := unstructured.NestedString(u.Object, "spec", "stage"); ok {
		t.Object["spec"] = map[string]any{"stage": stage}
	}
	if phase, ok, _ := unstructured.NestedString(u.Object, "status", "phase"); ok {
		t.Object["status"] = map[string]any{"phase": phase}
	}
	return t, nil
}

// trimObject returns a new object with u's kind, identity, labels,
// annotations and deletion timestamp.
func trimObject(u *unstructured.Unstructured) *unstructured.Unstructured {
	md, _ := u.Object["metadata"].(map[string]any)
	kept := make(map[string]any, 8)
	for _, k := range []string{"name", "namespace", "uid", "resourceVersion", "generation", "labels", "annotations", "deletionTimestamp"} {
		if v, ok := md[k]; ok {
			kept[k] = v
		}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": u.Object["apiVersion"],
		"kind":       u.Object["kind"],
		"metadata":   kept,
	}}
}

// freightCache serves a Stage pass the Freight of an origin from the Stage
// runner's Freight informer, which holds each Freight decoded (see
// freightFromObject) rather than decoding every Freight on every pass (with
// thousands of Freight, decoding them was most of a pass's cost). The
// informer may lag the store by a change; every decision the cache feeds is
// either re-checked against the store (admission checks a Promotion's
// Freight; Freight status changes are applied to the stored Freight) or
// followed by the event that brings the newer version, as with
// controller-runtime's cached clients.
type freightCache struct {
	informer cache.SharedIndexInformer
}

// freightOriginIndex indexes cached Freight by namespace and origin.
const freightOriginIndex = "origin"

func freightOriginKey(obj any) ([]string, error) {
	switch f := obj.(type) {
	case *kargoapi.Freight:
		return []string{f.Namespace + "/" + string(f.Origin.Kind) + "/" + f.Origin.Name}, nil
	case *unstructured.Unstructured:
		kind, _, _ := unstructured.NestedString(f.Object, "origin", "kind")
		name, _, _ := unstructured.NestedString(f.Object, "origin", "name")
		return []string{f.GetNamespace() + "/" + kind + "/" + name}, nil
	}
	return nil, nil
}

// list returns the Freight of origin in ns. Each is a copy whose status
// the caller may change; the cached objects are never changed.
func (c *freightCache) list(ns string, origin kargoapi.FreightOrigin) ([]kargoapi.Freight, error) {
	objs, err := c.informer.GetIndexer().ByIndex(freightOriginIndex, ns+"/"+string(origin.Kind)+"/"+origin.Name)
	if err != nil {
		return nil, fmt.Errorf("list cached freight of %s: %w", ns, err)
	}
	out := make([]kargoapi.Freight, 0, len(objs))
	for _, o := range objs {
		var cached *kargoapi.Freight
		switch f := o.(type) {
		case *kargoapi.Freight:
			cached = f
		case *unstructured.Unstructured:
			cached = &kargoapi.Freight{}
			if err := decodeObject(f, cached); err != nil {
				return nil, fmt.Errorf("decode freight %s/%s: %w", ns, f.GetName(), err)
			}
		default:
			continue
		}
		if cached.DeletionTimestamp != nil {
			continue
		}
		f := *cached
		f.Status = *cached.Status.DeepCopy()
		out = append(out, f)
	}
	return out, nil
}

// promotionMarks sums up what a Promotion's bookkeeping changes on a Stage.
func promotionMarks(u *unstructured.Unstructured) string {
	cur, _, _ := unstructured.NestedString(u.Object, "status", "currentPromotion", "name")
	last, _, _ := unstructured.NestedString(u.Object, "status", "lastPromotion", "name")
	phase, _, _ := unstructured.NestedString(u.Object, "status", "lastPromotion", "status", "phase")
	return cur + "|" + last + "|" + phase + "|" + currentCollectionID(u)
}

// currentCollectionID is status.freightHistory[0].id, or "".
func currentCollectionID(u *unstructured.Unstructured) string {
	h, _, _ := unstructured.NestedSlice(u.Object, "status", "freightHistory")
	if len(h) == 0 {
		return ""
	}
	if m, ok := h[0].(map[string]any); ok {
		id, _ := m["id"].(string)
		return id
	}
	return ""
}

// pipelineIndex is what the Stage runner's triggers remember, to wake only
// the Stages a change concerns: each Stage's requests and current
// collection, and what each Freight (by uid) was last seen verified in and
// approved for, and each Promotion's last phase.
type pipelineIndex struct {
	mu      sync.Mutex
	stages  map[string]map[string]*stageLinks // namespace → name →
	freight map[types.UID]freightMarks
	promos  map[types.UID]string
}

type stageLinks struct {
	requests []kargoapi.FreightRequest
	current  string
}

type freightMarks struct {
	verified, approved []string
}

func newPipelineIndex() *pipelineIndex {
	return &pipelineIndex{
		stages:  map[string]map[string]*stageLinks{},
		freight: map[types.UID]freightMarks{},
		promos:  map[types.UID]string{},
	}
}

func (ix *pipelineIndex) forgetStage(key Key) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	delete(ix.stages[key.Namespace], key.Name)
}

// observeStage records a Stage's links; when its current Freight changed,
// the Stages downstream of it are woken (MatchUpstream follows it).
func (ix *pipelineIndex) observeStage(obj *unstructured.Unstructured) []Key {
	var st struct {
		Spec struct {
			RequestedFreight []kargoapi.FreightRequest `json:"requestedFreight"`
		} `json:"spec"`
	}
	if err := decodeObject(obj, &st); err != nil {
		return nil
	}
	ns, name, cur := obj.GetNamespace(), obj.GetName(), currentCollectionID(obj)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.stages[ns] == nil {
		ix.stages[ns] = map[string]*stageLinks{}
	}
	prev := ix.stages[ns][name]
	ix.stages[ns][name] = &stageLinks{requests: st.Spec.RequestedFreight, current: cur}
	if prev != nil && prev.current == cur {
		return nil
	}
	return ix.matching(ns, func(req kargoapi.FreightRequest) bool { return slices.Contains(req.Sources.Stages, name) })
}

// observeFreight wakes the Stages a Freight may now flow into: those that
// take its origin directly when it is new, those downstream of a Stage it
// was newly verified in, and the Stages it was newly approved for.
func (ix *pipelineIndex) observeFreight(obj any) []Key {
	var f kargoapi.Freight
	switch o := obj.(type) {
	case *kargoapi.Freight:
		f = *o
	case *unstructured.Unstructured:
		if err := decodeObject(o, &f); err != nil {
			return nil
		}
	default:
		return nil
	}
	now := freightMarks{verified: sortedKeys(f.Status.VerifiedIn), approved: sortedKeys(f.Status.ApprovedFor)}
	ns := f.Namespace
	ix.mu.Lock()
	defer ix.mu.Unlock()
	prev, seen := ix.freight[f.UID]
	ix.freight[f.UID] = now
	newly := func(cur, old []string) []string {
		var out []string
		for _, s := range cur {
			if !slices.Contains(old, s) {
				out = append(out, s)
			}
		}
		return out
	}
	verified := newly(now.verified, prev.verified)
	keys := ix.matching(ns, func(req kargoapi.FreightRequest) bool {
		if req.Origin != f.Origin {
			return false
		}
		if !seen && req.Sources.Direct {
			return true
		}
		for _, up := range req.Sources.Stages {
			if slices.Contains(verified, up) {
				return true
			}
		}
		return false
	})
	for _, s := range newly(now.approved, prev.approved) {
		keys = append(keys, Key{Namespace: ns, Name: s})
	}
	return keys
}

// observePromotion wakes a Promotion's Stage when its phase changes.
func (ix *pipelineIndex) observePromotion(obj *unstructured.Unstructured) []Key {
	stage, _, _ := unstructured.NestedString(obj.Object, "spec", "stage")
	phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
	ix.mu.Lock()
	defer ix.mu.Unlock()
	prev, seen := ix.promos[obj.GetUID()]
	ix.promos[obj.GetUID()] = phase
	if stage == "" || (seen && prev == phase) {
		return nil
	}
	return []Key{{Namespace: obj.GetNamespace(), Name: stage}}
}

// matching returns the Stages of ns with a request that match accepts.
// The caller holds ix.mu.
func (ix *pipelineIndex) matching(ns string, match func(kargoapi.FreightRequest) bool) []Key {
	var keys []Key
	for name, l := range ix.stages[ns] {
		if slices.ContainsFunc(l.requests, match) {
			keys = append(keys, Key{Namespace: ns, Name: name})
		}
	}
	return keys
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// freightEventAnnotations are the Event annotations Kargo puts on Events
// about a Freight in a Stage.
func freightEventAnnotations(f *kargoapi.Freight, stage string) map[string]string {
	return map[string]string{
		kargoapi.AnnotationKeyEventActor:             stageControllerActorPrefix + StageControllerName,
		kargoapi.AnnotationKeyEventProject:           f.Namespace,
		kargoapi.AnnotationKeyEventStageName:         stage,
		kargoapi.AnnotationKeyEventFreightName:       f.Name,
		kargoapi.AnnotationKeyEventFreightAlias:      f.Alias,
		kargoapi.AnnotationKeyEventFreightCreateTime: f.CreationTimestamp.UTC().Format(time.RFC3339),
	}
}

// eventObjectRef is the involvedObject of an Event.
type eventObjectRef struct {
	kind, name, namespace, uid, resourceVersion string
}

func freightRef(f *kargoapi.Freight) eventObjectRef {
	return eventObjectRef{kind: "Freight", name: f.Name, namespace: f.Namespace, uid: string(f.UID), resourceVersion: f.ResourceVersion}
}

// emit creates a v1 Event about obj. Its name is derived from what it
// reports, so that a pass repeated after a failure does not emit it twice.
func (r *StageReconciler) emit(ctx context.Context, obj eventObjectRef, name, reason, message string, ann map[string]string) error {
	now := r.clock.Now().UTC().Format(time.RFC3339)
	annotations := make(map[string]any, len(ann))
	for k, v := range ann {
		annotations[k] = v
	}
	ev := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Event",
		"metadata":   map[string]any{"name": name, "namespace": obj.namespace, "annotations": annotations},
		"involvedObject": map[string]any{
			"apiVersion": kargoapi.GroupVersion.String(), "kind": obj.kind, "namespace": obj.namespace,
			"name": obj.name, "uid": obj.uid, "resourceVersion": obj.resourceVersion,
		},
		"reason":             reason,
		"message":            message,
		"type":               "Normal",
		"source":             map[string]any{"component": StageControllerName},
		"reportingComponent": StageControllerName,
		"reportingInstance":  "caravan",
		"firstTimestamp":     now,
		"lastTimestamp":      now,
		"count":              int64(1),
	}}
	if _, err := r.store.Create(ctx, ev); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create event %s/%s: %w", obj.namespace, name, err)
	}
	return nil
}
