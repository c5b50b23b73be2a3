package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/caravan-dev/caravan/internal/kinds"
)

// WatchOptions start a watch; they mirror the Kubernetes watch parameters.
type WatchOptions struct {
	ListOptions
	// ResourceVersion: changes strictly after it are delivered; empty means
	// "now", preceded by an ADDED event for every existing object.
	ResourceVersion string
	// SendInitialEvents asks for the initial ADDED events to end with a
	// BOOKMARK annotated k8s.io/initial-events-end.
	SendInitialEvents bool
	// AllowBookmarks lets the server send BOOKMARK events while idle.
	AllowBookmarks bool
}

// Watch streams changes of a kind in namespace ("" for every namespace).
// Objects of ADDED, MODIFIED, DELETED and BOOKMARK events are
// *unstructured.Unstructured; those of ERROR events are *metav1.Status. The
// result channel closes when the stream ends, ctx is done or Stop is called.
func (c *Client) Watch(ctx context.Context, info *kinds.Info, namespace string, opts WatchOptions) (watch.Interface, error) {
	q := opts.query()
	q.Set("watch", "true")
	if opts.ResourceVersion != "" {
		q.Set("resourceVersion", opts.ResourceVersion)
	}
	if opts.SendInitialEvents {
		q.Set("sendInitialEvents", "true")
		q.Set("resourceVersionMatch", "NotOlderThan")
	}
	if opts.AllowBookmarks {
		q.Set("allowWatchBookmarks", strconv.FormatBool(true))
	}
	ctx, cancel := context.WithCancel(ctx)
	resp, err := c.send(ctx, http.MethodGet, Path(info, namespace, ""), q, "", nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer cancel()
		defer resp.Body.Close()
		return nil, c.errorFrom(resp)
	}
	w := &streamWatcher{cancel: cancel, body: resp.Body, result: make(chan watch.Event)}
	go w.run(ctx)
	return w, nil
}

type streamWatcher struct {
	cancel context.CancelFunc
	body   io.ReadCloser
	result chan watch.Event
	once   sync.Once
}

func (w *streamWatcher) ResultChan() <-chan watch.Event { return w.result }

func (w *streamWatcher) Stop() {
	w.once.Do(func() {
		w.cancel()
		_ = w.body.Close()
	})
}

type wireEvent struct {
	Type   watch.EventType `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (w *streamWatcher) run(ctx context.Context) {
	defer close(w.result)
	defer w.Stop()
	dec := json.NewDecoder(w.body)
	for {
		var we wireEvent
		if err := dec.Decode(&we); err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				w.send(ctx, watch.Event{Type: watch.Error, Object: &metav1.Status{
					Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError,
					Message: "decode watch event: " + err.Error(), Code: http.StatusInternalServerError,
				}})
			}
			return
		}
		ev, err := decodeEvent(we)
		if err != nil {
			w.send(ctx, watch.Event{Type: watch.Error, Object: &metav1.Status{
				Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError,
				Message: err.Error(), Code: http.StatusInternalServerError,
			}})
			return
		}
		if !w.send(ctx, ev) {
			return
		}
	}
}

func (w *streamWatcher) send(ctx context.Context, ev watch.Event) bool {
	select {
	case w.result <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func decodeEvent(we wireEvent) (watch.Event, error) {
	var obj runtime.Object
	if we.Type == watch.Error {
		st := &metav1.Status{}
		if err := json.Unmarshal(we.Object, st); err != nil {
			return watch.Event{}, errors.New("decode watch ERROR event: " + err.Error())
		}
		obj = st
	} else {
		u := &unstructured.Unstructured{}
		if err := json.Unmarshal(we.Object, &u.Object); err != nil {
			return watch.Event{}, errors.New("decode watch " + string(we.Type) + " event: " + err.Error())
		}
		obj = u
	}
	return watch.Event{Type: we.Type, Object: obj}, nil
}
