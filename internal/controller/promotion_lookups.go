package controller

import (
	"context"
	"encoding/base64"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/store"
)

// PromotionLookups reads, over the store, what promotions read at run time:
// the promotion.Lookups of expression functions (secret, configMap,
// freightMetadata, stageMetadata, warehouse …).
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
