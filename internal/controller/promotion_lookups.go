package controller

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/promotion/steps"
	"github.com/caravan-dev/caravan/internal/store"
)

// This file adapts the store to the promotion engine and steps, and holds
// the read-modify-write of other objects' status the reconcilers share.

// PromotionLookups reads, over the store, what promotions read at run time
// (the promotion.Lookups of the expression functions secret, configMap,
// freightMetadata, stageMetadata, warehouse …) and writes what steps change
// outside the workspace (steps.MetadataWriter, steps.AliasWriter).
type PromotionLookups struct {
	store  store.Store
	shared string
}

var _ promotion.Lookups = (*PromotionLookups)(nil)

// NewPromotionLookups returns lookups over s. sharedNamespace is the
// namespace every project may read (kargo-shared-resources), where only
// generic Secrets are visible to expressions.
func NewPromotionLookups(s store.Store, sharedNamespace string) *PromotionLookups {
	return &PromotionLookups{store: s, shared: sharedNamespace}
}

// get returns an object, or nil when it does not exist.
func (l *PromotionLookups) get(ctx context.Context, kind, ns, name string) (*unstructured.Unstructured, error) {
	obj, err := l.store.Get(ctx, kind, ns, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", kind, ns, name, err)
	}
	return obj, nil
}

// Secret returns a Secret's data, decoded: base64 `data`, overridden by
// plain `stringData`. In the shared namespace only Secrets labelled
// kargo.akuity.io/cred-type: generic are returned.
func (l *PromotionLookups) Secret(ctx context.Context, namespace, name string) (map[string]string, error) {
	obj, err := l.get(ctx, "Secret", namespace, name)
	if obj == nil || err != nil {
		return nil, err
	}
	if namespace == l.shared && obj.GetLabels()[kargoapi.LabelKeyCredentialType] != kargoapi.CredentialTypeGeneric {
		return nil, nil
	}
	out := map[string]string{}
	data, _ := obj.Object["data"].(map[string]any)
	for k, v := range data {
		s, _ := v.(string)
		dec, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			// Never quote the value: it is a secret.
			return nil, fmt.Errorf("decode key %q of secret %s/%s: it is not base64; encode it, or set it under stringData", k, namespace, name)
		}
		out[k] = string(dec)
	}
	plain, _ := obj.Object["stringData"].(map[string]any)
	for k, v := range plain {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out, nil
}

// ConfigMap returns a ConfigMap's data.
func (l *PromotionLookups) ConfigMap(ctx context.Context, namespace, name string) (map[string]string, error) {
	obj, err := l.get(ctx, "ConfigMap", namespace, name)
	if obj == nil || err != nil {
		return nil, err
	}
	out := map[string]string{}
	data, _ := obj.Object["data"].(map[string]any)
	for k, v := range data {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out, nil
}

// FreightMetadata returns a Freight's status.metadata.
func (l *PromotionLookups) FreightMetadata(ctx context.Context, project, freight string) (map[string]any, error) {
	obj, err := l.get(ctx, "Freight", project, freight)
	if obj == nil || err != nil {
		return nil, err
	}
	return jsonMap(obj.Object, "status", "metadata"), nil
}

// FreightStatus returns a Freight's whole status.
func (l *PromotionLookups) FreightStatus(ctx context.Context, project, freight string) (map[string]any, error) {
	obj, err := l.get(ctx, "Freight", project, freight)
	if obj == nil || err != nil {
		return nil, err
	}
	st := jsonMap(obj.Object, "status")
	if st == nil {
		st = map[string]any{}
	}
	return st, nil
}

// StageMetadata returns a Stage's status.metadata.
func (l *PromotionLookups) StageMetadata(ctx context.Context, project, stage string) (map[string]any, error) {
	obj, err := l.get(ctx, "Stage", project, stage)
	if obj == nil || err != nil {
		return nil, err
	}
	return jsonMap(obj.Object, "status", "metadata"), nil
}

// Warehouse returns a Warehouse.
func (l *PromotionLookups) Warehouse(ctx context.Context, project, name string) (*kargoapi.Warehouse, error) {
	obj, err := l.get(ctx, "Warehouse", project, name)
	if obj == nil || err != nil {
		return nil, err
	}
	w := &kargoapi.Warehouse{}
	if err := decodeObject(obj, w); err != nil {
		return nil, fmt.Errorf("decode warehouse %s/%s: %w", project, name, err)
	}
	return w, nil
}

// jsonMap returns a deep copy of the map at path, or nil.
func jsonMap(obj map[string]any, path ...string) map[string]any {
	m, found, err := unstructured.NestedMap(obj, path...)
	if !found || err != nil {
		return nil
	}
	return m
}

// PromotionLookups also writes what the set-metadata and set-freight-alias
// steps change.
var (
	_ steps.MetadataWriter = (*PromotionLookups)(nil)
	_ steps.AliasWriter    = (*PromotionLookups)(nil)
)

// SetStageMetadata sets keys of a Stage's status.metadata (read by
// stageMetadata()), keeping the others.
func (l *PromotionLookups) SetStageMetadata(ctx context.Context, project, stage string, values map[string]any) error {
	return l.setMetadata(ctx, "Stage", project, stage, values)
}

// SetFreightMetadata sets keys of a Freight's status.metadata (read by
// freightMetadata()), keeping the others.
func (l *PromotionLookups) SetFreightMetadata(ctx context.Context, project, freight string, values map[string]any) error {
	return l.setMetadata(ctx, "Freight", project, freight, values)
}

// setMetadata merges values into status.metadata of an object, writing
// only when a value changes. Values are stored as JSON values, so that a
// number set is a number read.
func (l *PromotionLookups) setMetadata(ctx context.Context, kind, ns, name string, values map[string]any) error {
	norm, err := jsonValues(values)
	if err != nil {
		return fmt.Errorf("set metadata of %s %s: %w", strings.ToLower(kind), name, err)
	}
	obj, err := l.get(ctx, kind, ns, name)
	if err != nil {
		return err
	}
	if obj == nil {
		return fmt.Errorf("%s %q does not exist in project %q: %w", kind, name, ns, steps.ErrNotFound)
	}
	return updateStatus(ctx, l.store, kind, ns, name, func(obj *unstructured.Unstructured) (any, bool, error) {
		status, _ := obj.Object["status"].(map[string]any)
		status = runtime.DeepCopyJSON(status)
		if status == nil {
			status = map[string]any{}
		}
		md, _ := status["metadata"].(map[string]any)
		if md == nil {
			md = map[string]any{}
		}
		changed := false
		for k, v := range norm {
			if old, ok := md[k]; !ok || !equality.Semantic.DeepEqual(old, v) {
				md[k] = v
				changed = true
			}
		}
		status["metadata"] = md
		return status, changed, nil
	})
}

// jsonValues returns values as they read back from JSON (numbers as
// float64, structs as maps).
func jsonValues(values map[string]any) (map[string]any, error) {
	raw, err := json.Marshal(values)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// SetFreightAlias gives a Freight a new alias through admission, which
// keeps the kargo.akuity.io/alias label in step and refuses an alias in
// use (steps.ErrAliasInUse).
func (l *PromotionLookups) SetFreightAlias(ctx context.Context, project, freight, alias string) error {
	for attempt := 1; ; attempt++ {
		obj, err := l.get(ctx, "Freight", project, freight)
		if err != nil {
			return err
		}
		if obj == nil {
			return fmt.Errorf("Freight %q does not exist in project %q: %w", freight, project, steps.ErrNotFound)
		}
		if cur, _, _ := unstructured.NestedString(obj.Object, "alias"); cur == alias {
			return nil
		}
		used, err := l.store.List(ctx, "Freight", project, store.ListOptions{FieldSelector: fields.OneTermEqualSelector("alias", alias)})
		if err != nil {
			return fmt.Errorf("list freight by alias %q: %w", alias, err)
		}
		for _, other := range used.Items {
			if other.GetName() != freight {
				return fmt.Errorf("alias %q is already used by Freight %q in project %q: %w", alias, other.GetName(), project, steps.ErrAliasInUse)
			}
		}
		obj.Object["alias"] = alias
		_, err = l.store.Update(ctx, obj)
		switch {
		case err == nil:
			return nil
		case apierrors.IsConflict(err) && attempt < 3:
			continue // changed meanwhile: look again
		case apierrors.IsConflict(err) && strings.Contains(err.Error(), "already used"):
			return fmt.Errorf("set alias of freight %s: %w: %w", freight, steps.ErrAliasInUse, err)
		default:
			return fmt.Errorf("set alias of freight %s: %w", freight, err)
		}
	}
}

// statusUpdateAttempts bounds the conflict retries of a read-modify-write
// of another object's status (several Promotions may move one Freight at
// once).
const statusUpdateAttempts = 10

// updateStatus reads an object, computes its new status and writes it,
// reading again after a conflict.
func updateStatus(ctx context.Context, s store.Store, kind, ns, name string,
	compute func(*unstructured.Unstructured) (status any, changed bool, err error)) error {
	lower := strings.ToLower(kind)
	for attempt := 1; ; attempt++ {
		obj, err := s.Get(ctx, kind, ns, name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %s %s/%s: %w", lower, ns, name, err)
		}
		status, changed, err := compute(obj)
		if err != nil {
			return fmt.Errorf("update status of %s %s/%s: %w", lower, ns, name, err)
		}
		if !changed {
			return nil
		}
		m, err := toMap(status)
		if err != nil {
			return fmt.Errorf("encode status of %s %s/%s: %w", lower, ns, name, err)
		}
		keepUnknown(m, obj.Object["status"], status)
		obj.Object["status"] = m
		_, err = s.UpdateStatus(ctx, obj)
		switch {
		case err == nil || apierrors.IsNotFound(err):
			return nil
		case !apierrors.IsConflict(err) || attempt == statusUpdateAttempts:
			return fmt.Errorf("update status of %s %s/%s: %w", lower, ns, name, err)
		}
	}
}

// keepUnknown copies into m the fields of the stored status old that the
// type of typed does not know (written by a newer server or by another
// writer, e.g. a Stage's status.metadata), so that a read-modify-write
// through the typed status does not drop them.
func keepUnknown(m map[string]any, old any, typed any) {
	prev, ok := old.(map[string]any)
	if !ok {
		return
	}
	known := jsonFieldNames(reflect.TypeOf(typed))
	for k, v := range prev {
		if _, set := m[k]; !set && !known[k] {
			m[k] = v
		}
	}
}

// jsonFieldNames returns the JSON names of a struct type's fields
// (inlined ones included); nil for other types.
func jsonFieldNames(t reflect.Type) map[string]bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	names := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case name == "" && f.Anonymous:
			for n := range jsonFieldNames(f.Type) {
				names[n] = true
			}
		case name == "":
			names[f.Name] = true
		default:
			names[name] = true
		}
	}
	return names
}

// toMap turns a typed value into its JSON object form.
func toMap(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}
