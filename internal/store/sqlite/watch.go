package sqlite

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/store"
)

// watchBatch is how many changes a watcher takes from history at a time.
const watchBatch = 64

// Watch streams the changes of one kind, in one namespace or all ("").
func (s *Store) Watch(ctx context.Context, kind, namespace string, opts store.WatchOptions) (watch.Interface, error) {
	info, err := kindInfo(kind)
	if err != nil {
		return nil, err
	}
	if !info.Namespaced && namespace != "" {
		return nil, checkNamespace(info, namespace)
	}
	sel, err := compileSelector(info, opts.ListOptions)
	if err != nil {
		return nil, err
	}
	w := &watcher{
		s: s, info: info, ns: namespace, sel: sel, ctx: ctx,
		ch: make(chan watch.Event, s.opts.watchBuffer), stopCh: make(chan struct{}),
		bookmarks: opts.AllowBookmarks,
	}
	var pos int64
	var initial [][]byte
	initialEnd := false
	if opts.SendInitialEvents || opts.ResourceVersion == "" || opts.ResourceVersion == "0" {
		if pos, initial, err = s.query(ctx, info, namespace, sel); err != nil {
			return nil, err
		}
		initialEnd = opts.SendInitialEvents
	} else if pos, err = parseRV(opts.ResourceVersion); err != nil {
		return nil, err
	}
	go w.run(pos, initial, initialEnd)
	return w, nil
}

// watcher is one watch: a goroutine that reads history from its position
// and sends matching changes on ch.
type watcher struct {
	s         *Store
	info      *kinds.Info
	ns        string
	sel       *selector
	ctx       context.Context
	ch        chan watch.Event
	stopCh    chan struct{}
	stopOnce  sync.Once
	bookmarks bool
}

// ResultChan returns the events; it is closed when the watch ends.
func (w *watcher) ResultChan() <-chan watch.Event { return w.ch }

// Stop ends the watch.
func (w *watcher) Stop() { w.stopOnce.Do(func() { close(w.stopCh) }) }

// send delivers one event, or reports false when the watch is over.
func (w *watcher) send(ev watch.Event) bool {
	select {
	case w.ch <- ev:
		return true
	case <-w.stopCh:
	case <-w.ctx.Done():
	case <-w.s.stop:
	}
	return false
}

func (w *watcher) run(pos int64, initial [][]byte, initialEnd bool) {
	defer close(w.ch)
	for _, data := range initial {
		u, err := decodeOut(data)
		if err != nil || !w.send(watch.Event{Type: watch.Added, Object: u}) {
			return
		}
	}
	initial = nil
	if initialEnd && !w.send(watch.Event{Type: watch.Bookmark, Object: w.bookmark(pos, true)}) {
		return
	}
	var idle <-chan time.Time
	var timer *time.Timer
	if w.bookmarks && w.s.opts.bookmarkInterval > 0 {
		timer = time.NewTimer(w.s.opts.bookmarkInterval)
		defer timer.Stop()
		idle = timer.C
	}
	for {
		batch, expired, base, notify, closed := w.s.hist.since(pos, watchBatch)
		switch {
		case closed:
			return
		case expired:
			st := apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", pos, base)).ErrStatus
			w.send(watch.Event{Type: watch.Error, Object: &st})
			return
		case len(batch) == 0:
			select {
			case <-notify:
			case <-idle:
				if !w.send(watch.Event{Type: watch.Bookmark, Object: w.bookmark(pos, false)}) {
					return
				}
				timer.Reset(w.s.opts.bookmarkInterval)
			case <-w.stopCh:
				return
			case <-w.ctx.Done():
				return
			case <-w.s.stop:
				return
			}
			continue
		}
		for i := range batch {
			ev := &batch[i]
			pos = ev.rv
			typ, ok := w.filter(ev)
			if !ok {
				continue
			}
			u, err := decodeOut(ev.raw)
			if err != nil {
				st := apierrors.NewInternalError(err).ErrStatus
				w.send(watch.Event{Type: watch.Error, Object: &st})
				return
			}
			if !w.send(watch.Event{Type: typ, Object: u}) {
				return
			}
			if timer != nil {
				timer.Reset(w.s.opts.bookmarkInterval)
			}
		}
	}
}

// filter decides whether a change reaches this watcher and as what: a
// change that makes an object start (stop) matching the selector is
// delivered as ADDED (DELETED), as kube-apiserver does.
func (w *watcher) filter(ev *event) (watch.EventType, bool) {
	if ev.kind != w.info.Kind || (w.ns != "" && ev.ns != w.ns) {
		return "", false
	}
	cur := w.sel.matches(ev.ns, ev.name, ev.labels, ev.fields)
	if ev.typ != watch.Modified || ev.prev == nil {
		return ev.typ, cur
	}
	old := w.sel.matches(ev.ns, ev.name, ev.prev.labels, ev.prev.fields)
	switch {
	case cur && old:
		return watch.Modified, true
	case cur:
		return watch.Added, true
	case old:
		return watch.Deleted, true
	}
	return "", false
}

// bookmark returns a BOOKMARK object at resourceVersion rv.
func (w *watcher) bookmark(rv int64, initialEnd bool) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(w.info.APIVersion())
	u.SetKind(w.info.Kind)
	u.SetResourceVersion(formatRV(rv))
	if initialEnd {
		u.SetAnnotations(map[string]string{store.InitialEventsEndAnnotation: "true"})
	}
	return u
}
