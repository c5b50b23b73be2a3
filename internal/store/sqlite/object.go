package sqlite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/caravan-dev/caravan/internal/kinds"
	"github.com/caravan-dev/caravan/internal/store"
)

// obj is an object decoded for the write path: numbers stay json.Number so
// that re-encoding reproduces them exactly.
type obj map[string]any

// decodeObj decodes stored or caller JSON into an obj (a private deep copy).
func decodeObj(data []byte) (obj, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, fmt.Errorf("object is null")
	}
	return m, nil
}

// meta returns the metadata map, creating it if absent.
func (o obj) meta() map[string]any {
	m, ok := o["metadata"].(map[string]any)
	if !ok {
		m = map[string]any{}
		o["metadata"] = m
	}
	return m
}

func (o obj) metaString(key string) string {
	s, _ := o.meta()[key].(string)
	return s
}

// stringMap returns metadata[key] (labels, annotations) as strings.
func (o obj) stringMap(key string) map[string]string {
	in, _ := o.meta()[key].(map[string]any)
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		s, _ := v.(string)
		out[k] = s
	}
	return out
}

func (o obj) finalizers() []string {
	in, _ := o.meta()["finalizers"].([]any)
	out := make([]string, 0, len(in))
	for _, v := range in {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// ownerUIDs returns the uids of metadata.ownerReferences.
func (o obj) ownerUIDs() []string {
	in, _ := o.meta()["ownerReferences"].([]any)
	var out []string
	for _, v := range in {
		ref, _ := v.(map[string]any)
		if uid, _ := ref["uid"].(string); uid != "" {
			out = append(out, uid)
		}
	}
	return out
}

func (o obj) generation() int64 {
	switch g := o.meta()["generation"].(type) {
	case json.Number:
		n, _ := g.Int64()
		return n
	case int64:
		return g
	}
	return 0
}

// desiredState returns the JSON of what a generation tracks: spec, or for
// TopLevelSpec kinds every top-level field but apiVersion, kind, metadata
// and status.
func (o obj) desiredState(info *kinds.Info) []byte {
	var v any = o["spec"]
	if info.TopLevelSpec {
		m := make(map[string]any, len(o))
		for k, x := range o {
			switch k {
			case "apiVersion", "kind", "metadata", "status":
			default:
				m[k] = x
			}
		}
		v = m
	}
	b, _ := json.Marshal(v)
	return b
}

// field returns the string at a dotted path such as "spec.stage", or "".
func (o obj) field(path string) string {
	var cur any = map[string]any(o)
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	switch v := cur.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// indexedFields returns the values of the store.IndexedFields of the
// object's kind, or nil for a kind without any.
func (o obj) indexedFields(info *kinds.Info) map[string]string {
	fs := store.IndexedFields[info.Kind]
	if len(fs) == 0 {
		return nil
	}
	out := make(map[string]string, len(fs))
	for _, f := range fs {
		out[f] = o.field(f)
	}
	return out
}

// kindInfo resolves a store kind name.
func kindInfo(kind string) (*kinds.Info, error) {
	info := kinds.ByKind(kind)
	if info == nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unknown kind %q", kind))
	}
	return info, nil
}

// checkNamespace checks that namespace suits the kind's scope.
func checkNamespace(info *kinds.Info, namespace string) error {
	if info.Namespaced && namespace == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("%s is namespaced: a namespace is required", info.Kind))
	}
	if !info.Namespaced && namespace != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("%s is cluster-scoped: namespace must be empty, not %q", info.Kind, namespace))
	}
	return nil
}

func groupResource(info *kinds.Info) schema.GroupResource {
	return schema.GroupResource{Group: info.Group, Resource: info.Resource}
}

func notFound(info *kinds.Info, name string) error {
	return apierrors.NewNotFound(groupResource(info), name)
}

func conflict(info *kinds.Info, name, why string) error {
	return apierrors.NewConflict(groupResource(info), name, fmt.Errorf("%s", why))
}

const modifiedMsg = "the object has been modified; please apply your changes to the latest version and try again"

// internalErr reports a database failure as a 500 Status.
func internalErr(verb string, info *kinds.Info, namespace, name string, err error) error {
	return apierrors.NewInternalError(fmt.Errorf("%s %s %s: %w", verb, strings.ToLower(info.Kind), key(namespace, name), err))
}

func key(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

func formatRV(rv int64) string { return strconv.FormatInt(rv, 10) }

func parseRV(s string) (int64, error) {
	rv, err := strconv.ParseInt(s, 10, 64)
	if err != nil || rv < 0 {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version %q", s))
	}
	return rv, nil
}

// decodeOut decodes stored JSON into a fresh Unstructured for a caller.
func decodeOut(data []byte) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("decode stored object: %w", err)
	}
	return u, nil
}

// encodeStrings renders labels or field values as a JSON object (sorted
// keys, "{}" if none).
func encodeStrings(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func decodeStrings(s string) (map[string]string, error) {
	if s == "{}" || s == "" {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
