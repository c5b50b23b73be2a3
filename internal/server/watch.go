package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/caravan-dev/caravan/internal/store"
)

// boolParam parses a boolean query parameter ("true", "1", "false", "0"...);
// absent is false.
func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, apierrors.NewBadRequest(fmt.Sprintf("%s: %q is not a boolean", name, v))
	}
	return b, nil
}

// serveWatch streams the store's watch as newline-delimited watch events,
// {"type":"ADDED","object":{...}}, flushing each; the shape client-go's
// watch decoder reads. It ends when the client goes, timeoutSeconds pass,
// the store ends the watch, or the server shuts down.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, t *target, lopts store.ListOptions) {
	q := r.URL.Query()
	opts := store.WatchOptions{ListOptions: lopts, ResourceVersion: q.Get("resourceVersion")}
	var err error
	if opts.SendInitialEvents, err = boolParam(q, "sendInitialEvents"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if opts.AllowBookmarks, err = boolParam(q, "allowWatchBookmarks"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if opts.ResourceVersion == "0" {
		// Kubernetes: "any version"; the store's "now, after the current state".
		opts.ResourceVersion = ""
	}
	ctx := r.Context()
	if v := q.Get("timeoutSeconds"); v != "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs < 0 {
			s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("timeoutSeconds: %q is not a number of seconds", v)))
			return
		}
		if secs > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(secs)*time.Second)
			defer cancel()
		}
	}
	wi, err := s.store.Watch(ctx, t.info.Kind, t.namespace, opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer wi.Stop()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache, private")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stopWatches:
			return
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return
			}
			buf.Reset()
			if err := encodeEvent(&buf, ev); err != nil {
				s.log.ErrorContext(ctx, "encode watch event", attrError, err.Error())
				return
			}
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// encodeEvent writes one watch event and a newline.
func encodeEvent(buf *bytes.Buffer, ev watch.Event) error {
	var obj []byte
	var err error
	switch o := ev.Object.(type) {
	case *unstructured.Unstructured:
		obj, err = json.Marshal(o.Object)
	case *metav1.Status:
		st := *o
		st.Kind, st.APIVersion = "Status", "v1"
		obj, err = json.Marshal(&st)
	default:
		obj, err = json.Marshal(o)
	}
	if err != nil {
		return err
	}
	buf.WriteString(`{"type":`)
	typ, _ := json.Marshal(string(ev.Type))
	buf.Write(typ)
	buf.WriteString(`,"object":`)
	buf.Write(obj)
	buf.WriteString("}\n")
	return nil
}
