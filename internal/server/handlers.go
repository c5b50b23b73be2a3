package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/caravan-dev/caravan/internal/apply"
	"github.com/caravan-dev/caravan/internal/store"
)

// maxPatchAttempts bounds the read-patch-write retries of a PATCH that does
// not name a resourceVersion when concurrent writers cause Conflicts.
const maxPatchAttempts = 5

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, t *target) {
	obj, err := s.store.Get(r.Context(), t.info.Kind, t.namespace, t.name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusOK, obj)
}

func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, obj *unstructured.Unstructured) {
	b, err := json.Marshal(obj.Object)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encode %s: %w", obj.GetKind(), err))
		return
	}
	writeBytes(w, code, b)
}

// listOptions parses labelSelector and fieldSelector.
func listOptions(q url.Values) (store.ListOptions, error) {
	var opts store.ListOptions
	if v := q.Get("labelSelector"); v != "" {
		sel, err := labels.Parse(v)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("labelSelector: %v", err))
		}
		opts.LabelSelector = sel
	}
	if v := q.Get("fieldSelector"); v != "" {
		sel, err := fields.ParseSelector(v)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("fieldSelector: %v", err))
		}
		opts.FieldSelector = sel
	}
	return opts, nil
}

// serveListOrWatch answers a collection GET: a watch stream with watch=true,
// else a list. A list is assembled from the stored JSON of each item, without
// decoding it. limit and continue are ignored: the list is always whole,
// which Kubernetes clients accept.
func (s *Server) serveListOrWatch(w http.ResponseWriter, r *http.Request, t *target) {
	q := r.URL.Query()
	opts, err := listOptions(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if watching, err := boolParam(q, "watch"); err != nil {
		s.writeError(w, r, err)
		return
	} else if watching {
		s.serveWatch(w, r, t, opts)
		return
	}
	items, rv, err := s.store.ListRaw(r.Context(), t.info.Kind, t.namespace, opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	head, err := json.Marshal(struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}{APIVersion: t.info.APIVersion(), Kind: t.info.ListKind(), Metadata: struct {
		ResourceVersion string `json:"resourceVersion"`
	}{rv}})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	const open, end = `,"items":[`, "]}\n"
	size := len(head) - 1 + len(open) + len(end)
	for _, it := range items {
		size += len(it)
	}
	if len(items) > 1 {
		size += len(items) - 1 // commas
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(size))
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	_, _ = bw.Write(head[:len(head)-1]) // without its closing brace
	_, _ = bw.WriteString(open)
	for i, it := range items {
		if i > 0 {
			_ = bw.WriteByte(',')
		}
		_, _ = bw.Write(it)
	}
	_, _ = bw.WriteString(end)
	_ = bw.Flush()
}

// dryRunRefused refuses dryRun, which is not supported yet: performing the
// write a client asked only to try would be worse than an error.
func dryRunRefused(q url.Values) error {
	if _, ok := q["dryRun"]; ok {
		return apierrors.NewBadRequest("dryRun is not supported yet")
	}
	return nil
}

func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request, t *target) {
	if err := dryRunRefused(r.URL.Query()); err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, err := s.readObject(w, r)
	if err == nil {
		err = checkObject(t, obj)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := apply.Create(r.Context(), s.store, t.info, obj)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusCreated, out)
}

func (s *Server) serveUpdate(w http.ResponseWriter, r *http.Request, t *target) {
	if err := dryRunRefused(r.URL.Query()); err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, err := s.readObject(w, r)
	if err == nil {
		err = checkObject(t, obj)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var out *unstructured.Unstructured
	if t.subresource == "status" {
		out, err = s.store.UpdateStatus(r.Context(), obj)
	} else {
		out, err = s.store.Update(r.Context(), obj)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusOK, out)
}

// servePatch applies a JSON merge patch to the stored object. Unless the
// patch names a resourceVersion (a precondition), a Conflict from a
// concurrent writer is retried on the new version.
func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, t *target) {
	if err := dryRunRefused(r.URL.Query()); err != nil {
		s.writeError(w, r, err)
		return
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/merge-patch+json" {
		s.writeError(w, r, errUnsupportedMediaType(ct))
		return
	}
	b, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	patch, err := decodeValue(b)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pm, ok := patch.(map[string]any)
	if !ok {
		s.writeError(w, r, apierrors.NewBadRequest("a merge patch must be a JSON object"))
		return
	}
	md, _ := pm["metadata"].(map[string]any)
	_, precondition := md["resourceVersion"]
	for attempt := 1; ; attempt++ {
		cur, err := s.store.Get(r.Context(), t.info.Kind, t.namespace, t.name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		patched, ok := mergePatch(cur.Object, pm).(map[string]any)
		if !ok {
			s.writeError(w, r, apierrors.NewBadRequest("the patched object is not an object"))
			return
		}
		obj := &unstructured.Unstructured{Object: patched}
		if err := checkObject(t, obj); err != nil {
			s.writeError(w, r, err)
			return
		}
		var out *unstructured.Unstructured
		if t.subresource == "status" {
			out, err = s.store.UpdateStatus(r.Context(), obj)
		} else {
			out, err = s.store.Update(r.Context(), obj)
		}
		if apierrors.IsConflict(err) && !precondition && attempt < maxPatchAttempts {
			continue
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeObject(w, r, http.StatusOK, out)
		return
	}
}

// serveDelete deletes an object, with the preconditions of an optional
// DeleteOptions body. Like kube-apiserver, it answers with the object for
// custom kinds (the deleted one, or the one now marked for deletion when
// finalizers hold it) and with a Success Status for core kinds.
func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, t *target) {
	q := r.URL.Query()
	if err := dryRunRefused(q); err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := s.readBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var opts store.DeleteOptions
	if len(b) > 0 {
		v, err := decodeValue(b)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		raw, _ := json.Marshal(v)
		var do metav1.DeleteOptions
		if err := json.Unmarshal(raw, &do); err != nil {
			s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the request body is not DeleteOptions: %v", err)))
			return
		}
		if len(do.DryRun) > 0 {
			s.writeError(w, r, apierrors.NewBadRequest("dryRun is not supported yet"))
			return
		}
		if p := do.Preconditions; p != nil {
			if p.UID != nil {
				opts.UID = string(*p.UID)
			}
			if p.ResourceVersion != nil {
				opts.ResourceVersion = *p.ResourceVersion
			}
		}
	}
	before, err := s.store.Get(r.Context(), t.info.Kind, t.namespace, t.name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.store.Delete(r.Context(), t.info.Kind, t.namespace, t.name, opts); err != nil {
		s.writeError(w, r, err)
		return
	}
	if t.info.Group != "" {
		if after, err := s.store.Get(r.Context(), t.info.Kind, t.namespace, t.name); err == nil && after.GetUID() == before.GetUID() {
			s.writeObject(w, r, http.StatusOK, after)
			return
		}
		s.writeObject(w, r, http.StatusOK, before)
		return
	}
	writeJSON(w, http.StatusOK, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details: &metav1.StatusDetails{
			Name: t.name, Group: t.info.Group, Kind: t.info.Resource, UID: before.GetUID(),
		},
	})
}
