package admission

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	sigsjson "sigs.k8s.io/json"

	kargoapi "github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/kinds"
)

// reservedTopLevel are the top-level keys that are not desired state: they
// are kept from the written object, never re-encoded from the typed one.
var reservedTopLevel = map[string]bool{"apiVersion": true, "kind": true, "metadata": true, "status": true}

// withoutStatus returns the object's top-level map minus status, which is
// free-form and written only by the server.
func withoutStatus(u *unstructured.Unstructured) map[string]any {
	m := make(map[string]any, len(u.Object))
	for k, v := range u.Object {
		if k != "status" {
			m[k] = v
		}
	}
	return m
}

// decodeStrict decodes u into out, a pointer to the kind's typed struct,
// except the status of kinds that have one (status is free-form; a kind
// without status has no such field). An unknown or duplicated field is a 400
// naming its path and, when a known field is spelled alike, suggesting it; a
// value of the wrong JSON type is a 400 naming the field.
func decodeStrict(info *kinds.Info, u *unstructured.Unstructured, out any) error {
	m := u.Object
	if info.HasStatus {
		m = withoutStatus(u)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return badRequest(fmt.Sprintf("%s could not be encoded: %v", objectName(info, u.GetName()), err), nil)
	}
	err = kargoapi.UnmarshalStrict(raw, out)
	if err == nil {
		return nil
	}
	var sde *kargoapi.StrictDecodingError
	if !errors.As(err, &sde) {
		return badRequest(describeDecodeError(info, u, err), nil)
	}
	strictErrs := sde.Errors
	t := reflect.TypeOf(out)
	msgs := make([]string, 0, len(strictErrs))
	causes := make([]metav1.StatusCause, 0, len(strictErrs))
	for _, se := range strictErrs {
		var fe sigsjson.FieldError
		if !errors.As(se, &fe) {
			msgs = append(msgs, se.Error())
			continue
		}
		p := fe.FieldPath()
		msg := se.Error()
		if strings.HasPrefix(msg, "unknown field") {
			msg = fmt.Sprintf("unknown field %q", p)
			if s := suggestField(t, p); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			causes = append(causes, metav1.StatusCause{Type: CauseTypeUnknownField, Field: p, Message: msg})
		} else {
			causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueDuplicate, Field: p, Message: msg})
		}
		msgs = append(msgs, msg)
	}
	message := fmt.Sprintf("%s: strict decoding error: %s: remove each unknown field or correct its name "+
		"(the accepted fields are those of %s %s schema)",
		objectName(info, u.GetName()), strings.Join(msgs, ", "), schemaOwner(info), info.Kind)
	return badRequest(message, causes)
}

// schemaOwner names whose schema of the kind Caravan follows.
func schemaOwner(info *kinds.Info) string {
	switch info.Group {
	case kinds.KargoGroup:
		return "Kargo v1.11's"
	case kinds.RolloutsGroup:
		return "Argo Rollouts'"
	default:
		return "Kubernetes'"
	}
}

func qualifiedKind(info *kinds.Info) string {
	if info.Group == "" {
		return info.Kind
	}
	return info.Kind + "." + info.Group
}

// typeErrRE matches encoding/json's type errors, e.g. "json: cannot unmarshal
// string into Go struct field WarehouseSpec.spec.interval of type int64",
// possibly prefixed by the path of a nested decoder ("spec.subscriptions[0].image: ").
var typeErrRE = regexp.MustCompile(`^(?:(\S+): )?json: cannot unmarshal (\w+) into Go struct field (\S+) of type (\S+)`)

// quotedRE finds the first quoted value in an error message.
var quotedRE = regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)

// describeDecodeError turns a JSON decoding error into a message that names
// the field and says what was expected. It never quotes a Secret's values.
func describeDecodeError(info *kinds.Info, u *unstructured.Unstructured, err error) string {
	what := objectName(info, u.GetName())
	msg := err.Error()
	if m := typeErrRE.FindStringSubmatch(msg); m != nil {
		// encoding/json prefixes the field's path with its Go struct's name.
		_, fieldPath, _ := strings.Cut(m[3], ".")
		if m[1] != "" {
			fieldPath = m[1] + "." + fieldPath
		}
		return fmt.Sprintf("%s could not be decoded: field %q is a JSON %s, but it must be %s: fix its value",
			what, fieldPath, m[2], describeGoType(m[4]))
	}
	if info.Kind == "Secret" {
		if key := badBase64Key(u); key != "" {
			return fmt.Sprintf("%s could not be decoded: data.%s is not base64-encoded: encode the value, or put it in stringData as plain text",
				what, key)
		}
		return fmt.Sprintf("%s could not be decoded: check that every data value is base64-encoded", what)
	}
	detail := strings.TrimPrefix(msg, "json: ")
	// Custom decoders (durations, times) do not say where the value was:
	// find it.
	if q := quotedRE.FindStringSubmatch(msg); q != nil {
		if paths := findString(withoutStatus(u), q[1], ""); len(paths) > 0 {
			detail = fmt.Sprintf("%s: %s", strings.Join(paths, ", "), detail)
			if strings.Contains(msg, "duration") {
				detail += ": write a Go duration such as \"30s\", \"5m\" or \"1h30m\""
			}
		}
	}
	return fmt.Sprintf("%s could not be decoded: %s", what, detail)
}

// objectName is `Kind.group "name"`, or `Kind.group` for an unnamed object.
func objectName(info *kinds.Info, name string) string {
	if name == "" {
		return qualifiedKind(info)
	}
	return fmt.Sprintf("%s %q", qualifiedKind(info), name)
}

// findString returns the paths of the string leaves of v equal to want.
func findString(v any, want, at string) []string {
	var out []string
	switch t := v.(type) {
	case string:
		if t == want {
			out = append(out, at)
		}
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if at != "" {
				p = at + "." + k
			}
			out = append(out, findString(t[k], want, p)...)
		}
	case []any:
		for i, e := range t {
			out = append(out, findString(e, want, fmt.Sprintf("%s[%d]", at, i))...)
		}
	}
	return out
}

// badBase64Key returns the first key of a Secret's data whose value is not
// base64, or "".
func badBase64Key(u *unstructured.Unstructured) string {
	data, _, _ := unstructured.NestedMap(u.Object, "data")
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := data[k].(string)
		if !ok {
			return k
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return k
		}
	}
	return ""
}

func describeGoType(t string) string {
	t = strings.TrimLeft(t, "*")
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "an object"
	case t == "string":
		return "a string"
	case t == "bool":
		return "a boolean (true or false)"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case strings.Contains(t, "Duration"):
		return "a duration string such as \"5m0s\""
	case strings.Contains(t, "Time"):
		return "an RFC 3339 time string"
	default:
		return "an object"
	}
}

// suggestField returns the known field, at the parent of the dotted path p,
// that is spelled most like p's last element, or "" when none is close.
func suggestField(t reflect.Type, p string) string {
	segs := splitFieldPath(p)
	if len(segs) == 0 {
		return ""
	}
	for _, seg := range segs[:len(segs)-1] {
		t = childType(t, seg)
		if t == nil {
			return ""
		}
	}
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return ""
	}
	want := segs[len(segs)-1]
	best, bestDist := "", -1
	for _, name := range jsonFieldNames(t) {
		d := editDistance(strings.ToLower(want), strings.ToLower(name))
		limit := 2
		if len(want) > 8 {
			limit = 3
		}
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = name, d
		}
	}
	return best
}

// splitFieldPath splits "spec.subscriptions[0].git.branchh" into
// ["spec", "subscriptions", "git", "branchh"].
func splitFieldPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, ".") {
		if i := strings.IndexByte(s, '['); i >= 0 {
			s = s[:i]
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// childType follows one path element from t: a struct field by JSON name,
// a map's values, or a slice's elements then the field.
func childType(t reflect.Type, seg string) reflect.Type {
	t = deref(t)
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = deref(t.Elem())
	}
	switch t.Kind() {
	case reflect.Map:
		return t.Elem()
	case reflect.Struct:
		if f, ok := structFieldByJSON(t, seg); ok {
			ft := deref(f.Type)
			for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Array {
				ft = deref(ft.Elem())
			}
			return ft
		}
	}
	return nil
}

func jsonName(f reflect.StructField) (name string, inline bool) {
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if f.Anonymous && name == "" {
		return "", true
	}
	if strings.Contains(","+opts+",", ",inline,") {
		return "", true
	}
	if name == "" {
		name = f.Name
	}
	return name, false
}

func structFieldByJSON(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		n, inline := jsonName(f)
		if inline {
			if sf, ok := structFieldByJSON(deref(f.Type), name); ok {
				return sf, true
			}
			continue
		}
		if n == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func jsonFieldNames(t reflect.Type) []string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		n, inline := jsonName(f)
		if inline {
			if ft := deref(f.Type); ft.Kind() == reflect.Struct {
				names = append(names, jsonFieldNames(ft)...)
			}
			continue
		}
		if n != "" && f.IsExported() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// decodeLenient decodes u (including status) into out, ignoring unknown
// fields: for objects read from the store and for ratcheted updates.
func decodeLenient(u *unstructured.Unstructured, out any) error {
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// encode writes the typed object back over the object as written: every
// desired-state key (all top-level keys but apiVersion, kind, metadata and
// status) comes from typed, status is kept exactly as written, and of
// metadata only the fields admission may set — name, labels, annotations and
// ownerReferences — are taken from typed; every other metadata field is kept
// as written.
func encode(written *unstructured.Unstructured, typed any) (*unstructured.Unstructured, error) {
	raw, err := json.Marshal(typed)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", written.GetKind(), err)
	}
	var m map[string]any
	if err := utiljson.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("encode %s: %w", written.GetKind(), err)
	}
	out := written.DeepCopy()
	for k := range out.Object {
		if !reservedTopLevel[k] {
			delete(out.Object, k)
		}
	}
	for k, v := range m {
		if !reservedTopLevel[k] && v != nil {
			out.Object[k] = v
		}
	}
	acc, err := meta.Accessor(typed)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", written.GetKind(), err)
	}
	out.SetName(acc.GetName())
	out.SetLabels(acc.GetLabels())
	out.SetAnnotations(acc.GetAnnotations())
	if refs := acc.GetOwnerReferences(); len(refs) > 0 {
		out.SetOwnerReferences(refs)
	} else {
		unstructured.RemoveNestedField(out.Object, "metadata", "ownerReferences")
	}
	return out, nil
}

// desiredState returns the object's desired-state keys: everything but
// apiVersion, kind, metadata and status.
func desiredState(u *unstructured.Unstructured) map[string]any {
	m := map[string]any{}
	if u == nil {
		return m
	}
	for k, v := range u.Object {
		if !reservedTopLevel[k] {
			m[k] = v
		}
	}
	return m
}
