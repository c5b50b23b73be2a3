package store

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// NewListWatch returns a client-go ListWatch over one kind of s, in one
// namespace ("" for all, or for cluster-scoped kinds), so that reflectors and
// informers (cache.NewSharedIndexInformer with an *unstructured.Unstructured
// example object) run over any backend. base is merged into every request's
// selectors; it may be the zero ListOptions.
func NewListWatch(s Store, kind, namespace string, base ListOptions) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			wo, err := WatchOptionsFromMeta(o)
			if err != nil {
				return nil, err
			}
			return s.List(ctx, kind, namespace, mergeSelectors(base, wo.ListOptions))
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			wo, err := WatchOptionsFromMeta(o)
			if err != nil {
				return nil, err
			}
			wo.ListOptions = mergeSelectors(base, wo.ListOptions)
			cancel := context.CancelFunc(func() {})
			if o.TimeoutSeconds != nil && *o.TimeoutSeconds > 0 {
				ctx, cancel = context.WithTimeout(ctx, time.Duration(*o.TimeoutSeconds)*time.Second)
			}
			w, err := s.Watch(ctx, kind, namespace, wo)
			if err != nil {
				cancel()
				return nil, err
			}
			return &cancelOnStop{Interface: w, cancel: cancel}, nil
		},
		// Backends return whole lists; there is no continue token to follow.
		DisableChunking: true,
	}
}

// WatchOptionsFromMeta translates the query options of a Kubernetes list or
// watch request (labelSelector, fieldSelector, resourceVersion,
// sendInitialEvents, allowWatchBookmarks) into WatchOptions; its ListOptions
// serve a list. A selector that does not parse is a BadRequest.
func WatchOptionsFromMeta(o metav1.ListOptions) (WatchOptions, error) {
	var wo WatchOptions
	if o.LabelSelector != "" {
		sel, err := labels.Parse(o.LabelSelector)
		if err != nil {
			return wo, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
		wo.LabelSelector = sel
	}
	if o.FieldSelector != "" {
		sel, err := fields.ParseSelector(o.FieldSelector)
		if err != nil {
			return wo, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
		wo.FieldSelector = sel
	}
	wo.ResourceVersion = o.ResourceVersion
	wo.SendInitialEvents = o.SendInitialEvents != nil && *o.SendInitialEvents
	wo.AllowBookmarks = o.AllowWatchBookmarks
	return wo, nil
}

// mergeSelectors ANDs the selectors of a and b.
func mergeSelectors(a, b ListOptions) ListOptions {
	out := b
	if a.LabelSelector != nil && !a.LabelSelector.Empty() {
		if out.LabelSelector == nil || out.LabelSelector.Empty() {
			out.LabelSelector = a.LabelSelector
		} else if reqs, ok := a.LabelSelector.Requirements(); ok {
			out.LabelSelector = out.LabelSelector.Add(reqs...)
		}
	}
	if a.FieldSelector != nil && !a.FieldSelector.Empty() {
		if out.FieldSelector == nil || out.FieldSelector.Empty() {
			out.FieldSelector = a.FieldSelector
		} else {
			out.FieldSelector = fields.AndSelectors(a.FieldSelector, out.FieldSelector)
		}
	}
	return out
}

// cancelOnStop releases a watch's timeout context when the watch is stopped.
type cancelOnStop struct {
	watch.Interface
	cancel context.CancelFunc
}

// Stop stops the watch and releases its context.
func (c *cancelOnStop) Stop() {
	c.Interface.Stop()
	c.cancel()
}
