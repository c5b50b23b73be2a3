package sqlite

import (
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/watch"
)

// event is one committed change, kept for watchers. Objects are kept as
// their raw JSON; each watcher decodes its own copy.
type event struct {
	typ    watch.EventType
	rv     int64
	kind   string
	ns     string
	name   string
	labels map[string]string
	fields map[string]string // store.IndexedFields values
	// prev holds the labels and indexed fields before a MODIFIED change when
	// they differ from the new ones, so filtered watchers can turn the
	// change into ADDED or DELETED as kube-apiserver does.
	prev *selectable
	raw  []byte
	at   time.Time
}

// selectable is what selectors look at besides namespace and name.
type selectable struct {
	labels map[string]string
	fields map[string]string
}

func sameSelectable(l1, f1, l2, f2 map[string]string) bool {
	return maps.Equal(l1, l2) && maps.Equal(f1, f2)
}

// history is the bounded in-memory ring of recent changes that watches are
// served from. Every change with a resourceVersion greater than base is in
// evs, in order.
type history struct {
	mu       sync.Mutex
	evs      []event
	base     int64
	last     int64
	bytes    int64
	notify   chan struct{} // closed and replaced whenever evs changes
	closed   bool
	min      int
	window   time.Duration
	maxBytes int64
}

func newHistory(rv int64, minEvents int, window time.Duration, maxBytes int64) *history {
	return &history{base: rv, last: rv, notify: make(chan struct{}), min: minEvents, window: window, maxBytes: maxBytes}
}

// append adds committed changes, in order, and trims what is no longer kept.
func (h *history) append(evs []event) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range evs {
		h.bytes += int64(len(evs[i].raw))
	}
	h.evs = append(h.evs, evs...)
	h.last = evs[len(evs)-1].rv
	h.trim(time.Now())
	h.wake()
}

// trim drops the oldest changes beyond the minimum count that are older
// than the window or push the total over the byte bound.
func (h *history) trim(now time.Time) {
	n := 0
	for len(h.evs)-n > h.min {
		e := &h.evs[n]
		if now.Sub(e.at) < h.window && h.bytes <= h.maxBytes {
			break
		}
		h.bytes -= int64(len(e.raw))
		n++
	}
	if n == 0 {
		return
	}
	h.base = h.evs[n-1].rv
	clear(h.evs[:n]) // release the raw JSON of dropped changes
	h.evs = h.evs[n:]
	if cap(h.evs) > 4*len(h.evs)+1024 {
		h.evs = slices.Clone(h.evs)
	}
}

// reset forgets every change: watchers positioned before rv get 410.
func (h *history) reset(rv int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.evs, h.bytes, h.base, h.last = nil, 0, rv, rv
	h.wake()
}

// close ends every watcher.
func (h *history) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.wake()
}

func (h *history) wake() {
	close(h.notify)
	h.notify = make(chan struct{})
}

// since returns up to limit changes after pos. expired means pos is older
// than the kept history (base is then the oldest position still served);
// when no change is available, notify is closed once one is.
func (h *history) since(pos int64, limit int) (batch []event, expired bool, base int64, notify <-chan struct{}, closed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false, h.base, nil, true
	}
	if pos < h.base {
		return nil, true, h.base, nil, false
	}
	i := sort.Search(len(h.evs), func(i int) bool { return h.evs[i].rv > pos })
	j := min(len(h.evs), i+limit)
	return slices.Clone(h.evs[i:j]), false, h.base, h.notify, false
}
