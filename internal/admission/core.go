package admission

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Secret data never appears in an error message: errors name keys, never
// values.

// admitSecret folds stringData into data (as kube-apiserver does), checks
// key names, and keeps an immutable Secret's data and every Secret's type.
func admitSecret(_ context.Context, r *request, old, s *corev1.Secret) (field.ErrorList, error) {
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
		s.StringData = nil
	}
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	var errs field.ErrorList
	if !r.ratchet {
		errs = append(errs, validateDataKeys(field.NewPath("data"), keysOf(s.Data))...)
	}
	if old != nil {
		if old.Type != s.Type {
			errs = append(errs, field.Forbidden(field.NewPath("type"),
				"a Secret's type cannot change: delete the Secret and create it again"))
		}
		errs = append(errs, immutableData(old.Immutable, s.Immutable,
			!apiequality.Semantic.DeepEqual(old.Data, s.Data), "Secret")...)
	}
	return errs, nil
}

// admitConfigMap checks key names and keeps an immutable ConfigMap's data.
func admitConfigMap(_ context.Context, r *request, old, cm *corev1.ConfigMap) (field.ErrorList, error) {
	var errs field.ErrorList
	if !r.ratchet {
		keys := keysOf(cm.BinaryData)
		errs = append(errs, validateDataKeys(field.NewPath("binaryData"), keys)...)
		for k := range cm.Data {
			if _, dup := cm.BinaryData[k]; dup {
				errs = append(errs, field.Invalid(field.NewPath("data").Key(k), k,
					"the key is also in binaryData: keep it in one of them"))
			}
		}
		errs = append(errs, validateDataKeys(field.NewPath("data"), keysOfStrings(cm.Data))...)
	}
	if old != nil {
		changed := !apiequality.Semantic.DeepEqual(old.Data, cm.Data) ||
			!apiequality.Semantic.DeepEqual(old.BinaryData, cm.BinaryData)
		errs = append(errs, immutableData(old.Immutable, cm.Immutable, changed, "ConfigMap")...)
	}
	return errs, nil
}

// admitEvent has no rules beyond metadata.
func admitEvent(_ context.Context, _ *request, _, _ *corev1.Event) (field.ErrorList, error) {
	return nil, nil
}

// immutableData applies Kubernetes' rules for immutable Secrets and
// ConfigMaps: once immutable, data does not change and immutable stays set.
func immutableData(oldImm, newImm *bool, dataChanged bool, kind string) field.ErrorList {
	if oldImm == nil || !*oldImm {
		return nil
	}
	var errs field.ErrorList
	if newImm == nil || !*newImm {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"),
			fmt.Sprintf("an immutable %s stays immutable: delete it and create it again to change it", kind)))
	}
	if dataChanged {
		errs = append(errs, field.Forbidden(field.NewPath("data"),
			fmt.Sprintf("the %s is immutable: delete it and create it again to change its data", kind)))
	}
	return errs
}

func validateDataKeys(p *field.Path, keys []string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range keys {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(p.Key(k), k, msg))
		}
	}
	return errs
}

func keysOf(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func keysOfStrings(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
