// Package apply implements declarative apply: each manifest either creates
// its object or brings the stored object's desired state to the manifest's,
// the way `kubectl apply` does, with Kargo's special cases for Freight
// (named by content) and Promotions (always new).
//
// Labels and annotations merge like kubectl's client-side apply: keys the
// manifest sets are set; a key is removed only when an earlier apply set it
// and the current manifest dropped it, so labels and annotations written by
// others (controllers, actions such as kargo.akuity.io/refresh) survive. The
// keys each apply set are recorded on the object in the annotation
// LastAppliedKeysAnnotation.
package apply

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/store"
)

// LastAppliedKeysAnnotation records which label and annotation keys the last
// apply set, as JSON: {"labels":["a","b"],"annotations":["c"]} (sorted, each
// list omitted when empty). The next apply removes a recorded key its
// manifest no longer sets. It is absent when the last apply set none. It is
// ignored when deciding whether an object is unchanged.
const LastAppliedKeysAnnotation = "caravan.akuity.io/last-applied-keys"

// Action says what applying a document did.
type Action string

// Actions reported per document.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
)

// Result is the outcome of one document. Status is set, and Action empty,
// when the document failed; a failed document changed nothing.
type Result struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Namespace  string         `json:"namespace,omitempty"`
	Name       string         `json:"name"`
	Action     Action         `json:"action,omitempty"`
	Status     *metav1.Status `json:"status,omitempty"`
}

// Applier applies documents to a store. The store is expected to run
// admission, so each write is defaulted and validated.
type Applier struct {
	// Store receives the writes.
	Store store.Store
	// FreightID computes a Freight's content ID (its name). A Freight
	// document fails when it is nil.
	FreightID func(obj *unstructured.Unstructured) (string, error)
	// Logger receives errors that are not API errors (their text is not
	// returned to the caller). Nil means slog.Default().
	Logger *slog.Logger
}

// maxAttempts bounds the read-modify-write retries when a concurrent writer
// causes a Conflict.
const maxAttempts = 5

// Apply applies docs and returns one result per document, in document order.
// Projects are applied first (so the rest may live in their namespaces), the
// others in document order. Each document is written on its own.
func (a *Applier) Apply(ctx context.Context, docs []Document) []Result {
	results := make([]Result, len(docs))
	order := make([]int, 0, len(docs))
	for i, d := range docs {
		if d.Object != nil && d.Object.GetKind() == "Project" {
			order = append(order, i)
		}
	}
	for i, d := range docs {
		if d.Object == nil || d.Object.GetKind() != "Project" {
			order = append(order, i)
		}
	}
	for _, i := range order {
		if docs[i].Object == nil {
			results[i] = Result{Status: a.status(ctx, docs[i].Err)}
			continue
		}
		results[i] = a.One(ctx, docs[i].Object)
	}
	return results
}

// One applies a single document. obj is not modified.
func (a *Applier) One(ctx context.Context, obj *unstructured.Unstructured) Result {
	doc := obj.DeepCopy()
	res := Result{APIVersion: doc.GetAPIVersion(), Kind: doc.GetKind(), Namespace: doc.GetNamespace(), Name: doc.GetName()}
	info, err := Resolve(doc)
	if err != nil {
		res.Status = a.status(ctx, err)
		return res
	}
	res.APIVersion, res.Namespace = doc.GetAPIVersion(), doc.GetNamespace()
	if err := CheckMetadata(doc); err != nil {
		res.Status = a.status(ctx, err)
		return res
	}
	stripServerFields(doc)

	var out *unstructured.Unstructured
	var action Action
	switch {
	case info.Kind == "Promotion":
		out, err = Create(ctx, a.Store, info, doc)
		action = Created
	case info.Kind == "Freight":
		out, action, err = a.freight(ctx, info, doc)
	case doc.GetName() == "" && doc.GetGenerateName() != "":
		setAppliedKeys(doc, appliedKeysOf(doc))
		out, err = Create(ctx, a.Store, info, doc)
		action = Created
	case doc.GetName() == "":
		err = nameRequired(info, doc)
	default:
		out, action, err = a.named(ctx, info, doc)
	}
	if err != nil {
		res.Status = a.status(ctx, err)
		return res
	}
	res.Namespace, res.Name, res.Action = out.GetNamespace(), out.GetName(), action
	return res
}

// Resolve checks obj's kind and apiVersion against the catalogue, fills an
// absent apiVersion, clears metadata.namespace for cluster-scoped kinds and
// requires it for namespaced ones.
func Resolve(obj *unstructured.Unstructured) (*kinds.Info, error) {
	kind, apiVersion := obj.GetKind(), obj.GetAPIVersion()
	if kind == "" {
		return nil, apierrors.NewBadRequest("kind is required: set kind (e.g. Stage) and apiVersion (e.g. kargo.akuity.io/v1alpha1)")
	}
	info := kinds.ByKind(kind)
	if info == nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("no kind %q is served: use one of the kinds of kargo.akuity.io/v1alpha1, argoproj.io/v1alpha1 analysis kinds, or v1 Secret, ConfigMap or Event", kind))
	}
	switch apiVersion {
	case "":
		obj.SetAPIVersion(info.APIVersion())
	case info.APIVersion():
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("no kind %q in version %q: use apiVersion %s", kind, apiVersion, info.APIVersion()))
	}
	if !info.Namespaced {
		if obj.GetNamespace() != "" {
			obj.SetNamespace("")
		}
	} else if obj.GetNamespace() == "" {
		return nil, apierrors.NewInvalid(info.GroupVersionKind().GroupKind(), obj.GetName(), field.ErrorList{
			field.Required(field.NewPath("metadata", "namespace"), "set it to the name of the project the "+kind+" belongs to"),
		})
	}
	return info, nil
}

// CheckMetadata is a BadRequest when metadata is not an object or its labels
// or annotations hold a value that is not a string (in YAML, an unquoted
// true, yes, y, 1 or null), which the accessors of unstructured objects would
// otherwise silently treat as no labels or annotations at all.
func CheckMetadata(obj *unstructured.Unstructured) error {
	md, ok := obj.Object["metadata"]
	if !ok {
		return nil
	}
	m, ok := md.(map[string]any)
	if !ok {
		return apierrors.NewBadRequest(fmt.Sprintf("%s: metadata must be an object", obj.GetKind()))
	}
	for _, f := range []string{"labels", "annotations"} {
		v, ok := m[f]
		if !ok || v == nil {
			continue
		}
		mm, ok := v.(map[string]any)
		if !ok {
			return apierrors.NewBadRequest(fmt.Sprintf("%s %q: metadata.%s must be a map of strings", obj.GetKind(), obj.GetName(), f))
		}
		keys := make([]string, 0, len(mm))
		for k := range mm {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if _, ok := mm[k].(string); !ok {
				return apierrors.NewBadRequest(fmt.Sprintf("%s %q: metadata.%s.%s: must be a string, not %v (quote the value)",
					obj.GetKind(), obj.GetName(), f, k, mm[k]))
			}
		}
	}
	return nil
}

// Create creates obj, naming it first when it has no name: a kind whose
// names the server computes (ServerNamed) is passed to the store unnamed; one
// with metadata.generateName gets that prefix plus a random suffix (retrying
// on a name clash); otherwise it is Invalid.
func Create(ctx context.Context, st store.Store, info *kinds.Info, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if obj.GetName() != "" || info.ServerNamed {
		return st.Create(ctx, obj)
	}
	prefix := obj.GetGenerateName()
	if prefix == "" {
		return nil, nameRequired(info, obj)
	}
	var err error
	for range maxAttempts {
		obj.SetName(generatedName(prefix))
		var out *unstructured.Unstructured
		out, err = st.Create(ctx, obj)
		if !apierrors.IsAlreadyExists(err) {
			return out, err
		}
	}
	obj.SetName("")
	return nil, err
}

// generatedName is kube-apiserver's scheme: prefix (cut to leave room) plus
// five random characters.
func generatedName(prefix string) string {
	const maxName, suffix = 63, 5
	if len(prefix) > maxName-suffix {
		prefix = prefix[:maxName-suffix]
	}
	return prefix + utilrand.String(suffix)
}

func nameRequired(info *kinds.Info, obj *unstructured.Unstructured) error {
	return apierrors.NewInvalid(info.GroupVersionKind().GroupKind(), "", field.ErrorList{
		field.Required(field.NewPath("metadata", "name"), "set metadata.name (or metadata.generateName)"),
	})
}

// freight applies a Freight document: one named by its content ID is applied
// like any object; one named otherwise (or unnamed) creates the computed ID.
func (a *Applier) freight(ctx context.Context, info *kinds.Info, doc *unstructured.Unstructured) (*unstructured.Unstructured, Action, error) {
	if a.FreightID == nil {
		return nil, "", errors.New("apply freight: no Freight ID function configured")
	}
	id, err := a.FreightID(doc)
	if err != nil {
		if _, ok := err.(apierrors.APIStatus); ok {
			return nil, "", err
		}
		return nil, "", apierrors.NewBadRequest(fmt.Sprintf("Freight %q: compute its ID: %v", doc.GetName(), err))
	}
	if doc.GetName() == id {
		return a.named(ctx, info, doc)
	}
	doc.SetName(id)
	setAppliedKeys(doc, appliedKeysOf(doc))
	out, err := a.Store.Create(ctx, doc)
	if apierrors.IsAlreadyExists(err) {
		return nil, "", apierrors.NewAlreadyExists(schema.GroupResource{Group: info.Group, Resource: info.Resource}, id)
	}
	return out, Created, err
}

// named applies a document that names its object.
func (a *Applier) named(ctx context.Context, info *kinds.Info, doc *unstructured.Unstructured) (*unstructured.Unstructured, Action, error) {
	keys := appliedKeysOf(doc)
	for attempt := 1; ; attempt++ {
		cur, err := a.Store.Get(ctx, info.Kind, doc.GetNamespace(), doc.GetName())
		if apierrors.IsNotFound(err) {
			obj := doc.DeepCopy()
			setAppliedKeys(obj, keys)
			out, err := a.Store.Create(ctx, obj)
			if apierrors.IsAlreadyExists(err) && attempt < maxAttempts {
				continue
			}
			return out, Created, err
		}
		if err != nil {
			return nil, "", err
		}
		want := merged(info, cur, doc, keys)
		if equalDesired(cur, want) {
			if cur.GetAnnotations()[LastAppliedKeysAnnotation] == want.GetAnnotations()[LastAppliedKeysAnnotation] {
				return cur, Unchanged, nil
			}
			// Only the record of applied keys differs: keep it current.
		}
		out, err := a.Store.Update(ctx, want)
		if apierrors.IsConflict(err) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		// Admission may have defaulted what the manifest left out; what
		// matters is whether the stored object changed.
		if equalDesired(cur, out) {
			return out, Unchanged, nil
		}
		return out, Configured, nil
	}
}

// merged returns cur with doc's desired state, labels and annotations
// applied. Status and server-set metadata are cur's.
func merged(info *kinds.Info, cur, doc *unstructured.Unstructured, keys appliedKeys) *unstructured.Unstructured {
	out := cur.DeepCopy()
	for k := range out.Object {
		if !reservedTopLevel(k) {
			delete(out.Object, k)
		}
	}
	for k, v := range doc.Object {
		if !reservedTopLevel(k) {
			out.Object[k] = runtime.DeepCopyJSONValue(v)
		}
	}
	if info.Kind == "Freight" {
		if _, set := doc.Object["alias"]; !set {
			if alias, ok := cur.Object["alias"]; ok {
				out.Object["alias"] = alias
			}
		}
	}
	prev := lastAppliedKeys(cur)
	out.SetLabels(mergeKeys(cur.GetLabels(), doc.GetLabels(), prev.Labels))
	out.SetAnnotations(mergeKeys(cur.GetAnnotations(), doc.GetAnnotations(), prev.Annotations))
	setAppliedKeys(out, keys)
	if v, ok, _ := unstructured.NestedFieldNoCopy(doc.Object, "metadata", "finalizers"); ok {
		_ = unstructured.SetNestedField(out.Object, runtime.DeepCopyJSONValue(v), "metadata", "finalizers")
	}
	if v, ok, _ := unstructured.NestedFieldNoCopy(doc.Object, "metadata", "ownerReferences"); ok {
		_ = unstructured.SetNestedField(out.Object, runtime.DeepCopyJSONValue(v), "metadata", "ownerReferences")
	}
	return out
}

func reservedTopLevel(k string) bool {
	return k == "apiVersion" || k == "kind" || k == "metadata" || k == "status"
}

// mergeKeys sets every key of want over cur and removes the keys of prev
// that want no longer has.
func mergeKeys(cur, want map[string]string, prev []string) map[string]string {
	out := make(map[string]string, len(cur)+len(want))
	for k, v := range cur {
		out[k] = v
	}
	for _, k := range prev {
		if _, ok := want[k]; !ok {
			delete(out, k)
		}
	}
	for k, v := range want {
		out[k] = v
	}
	return out
}

// appliedKeys is the value of LastAppliedKeysAnnotation.
type appliedKeys struct {
	Labels      []string `json:"labels,omitempty"`
	Annotations []string `json:"annotations,omitempty"`
}

func appliedKeysOf(doc *unstructured.Unstructured) appliedKeys {
	var k appliedKeys
	for l := range doc.GetLabels() {
		k.Labels = append(k.Labels, l)
	}
	for a := range doc.GetAnnotations() {
		if a != LastAppliedKeysAnnotation {
			k.Annotations = append(k.Annotations, a)
		}
	}
	slices.Sort(k.Labels)
	slices.Sort(k.Annotations)
	return k
}

func lastAppliedKeys(obj *unstructured.Unstructured) appliedKeys {
	var k appliedKeys
	if v := obj.GetAnnotations()[LastAppliedKeysAnnotation]; v != "" {
		_ = json.Unmarshal([]byte(v), &k) // a damaged record means "none"
	}
	return k
}

func setAppliedKeys(obj *unstructured.Unstructured, k appliedKeys) {
	ann := obj.GetAnnotations()
	if len(k.Labels) == 0 && len(k.Annotations) == 0 {
		if _, ok := ann[LastAppliedKeysAnnotation]; ok {
			delete(ann, LastAppliedKeysAnnotation)
			obj.SetAnnotations(ann)
		}
		return
	}
	b, _ := json.Marshal(k)
	if ann == nil {
		ann = map[string]string{}
	}
	ann[LastAppliedKeysAnnotation] = string(b)
	obj.SetAnnotations(ann)
}

// serverMetadata are the metadata fields the server sets; a manifest's
// values for them are ignored and they are left out of comparisons.
var serverMetadata = []string{
	"uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
	"deletionGracePeriodSeconds", "managedFields", "selfLink",
}

// stripServerFields removes status, server-set metadata and the record of
// applied keys from a manifest.
func stripServerFields(doc *unstructured.Unstructured) {
	delete(doc.Object, "status")
	if md, ok := doc.Object["metadata"].(map[string]any); ok {
		for _, f := range serverMetadata {
			delete(md, f)
		}
	}
	if ann := doc.GetAnnotations(); ann != nil {
		if _, ok := ann[LastAppliedKeysAnnotation]; ok {
			delete(ann, LastAppliedKeysAnnotation)
			doc.SetAnnotations(ann)
		}
	}
}

// equalDesired compares two versions of an object ignoring status,
// server-set metadata and the record of applied keys.
func equalDesired(a, b *unstructured.Unstructured) bool {
	return bytes.Equal(comparable(a), comparable(b))
}

func comparable(obj *unstructured.Unstructured) []byte {
	c := obj.DeepCopy()
	stripServerFields(c)
	if len(c.GetLabels()) == 0 {
		unstructured.RemoveNestedField(c.Object, "metadata", "labels")
	}
	if len(c.GetAnnotations()) == 0 {
		unstructured.RemoveNestedField(c.Object, "metadata", "annotations")
	}
	b, err := json.Marshal(c.Object) // sorts map keys: a canonical form
	if err != nil {
		return nil
	}
	return b
}

// status converts err to the Status reported for a failed document. Errors
// that are not API errors are logged and reported without their text.
func (a *Applier) status(ctx context.Context, err error) *metav1.Status {
	var s metav1.Status
	if as, ok := err.(apierrors.APIStatus); ok || errors.As(err, &as) {
		s = as.Status()
	} else {
		log := a.Logger
		if log == nil {
			log = slog.Default()
		}
		log.ErrorContext(ctx, "apply document", "error", err)
		s = apierrors.NewInternalError(errors.New("the server could not apply the document; see its log")).Status()
	}
	s.Kind, s.APIVersion = "Status", "v1"
	if s.Status == "" {
		s.Status = metav1.StatusFailure
	}
	return &s
}
