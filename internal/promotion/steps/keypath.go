package steps

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// keyPart is one element of a key path as yaml-update and json-update take
// it (the path syntax of tidwall/sjson, as Kargo documents): parts are
// separated by dots; a backslash makes the next character literal (\. for a
// dot inside a key, \\ for a backslash); a part made of digits addresses a
// sequence element by index (-1: append, where appending is possible) unless
// it is written with a leading colon (:0), which makes it a mapping key.
type keyPart struct {
	name     string
	forceKey bool
}

// index returns the sequence index the part stands for, if it stands for
// one.
func (p keyPart) index() (int, bool) {
	if p.forceKey {
		return 0, false
	}
	i, err := strconv.Atoi(p.name)
	if err != nil || i < -1 || (p.name != "-1" && strings.HasPrefix(p.name, "-")) {
		return 0, false
	}
	return i, true
}

// splitKeyPath splits key into its parts.
func splitKeyPath(key string) ([]keyPart, error) {
	if strings.TrimSpace(key) == "" {
		return nil, fmt.Errorf("the key is empty: give a dot-separated path such as image.tag")
	}
	var (
		parts   []keyPart
		cur     strings.Builder
		force   bool
		escaped bool
	)
	flush := func() error {
		if cur.Len() == 0 {
			return fmt.Errorf("key %q has an empty part: remove the extra dot, or write \\. for a dot inside a key", key)
		}
		parts = append(parts, keyPart{name: cur.String(), forceKey: force})
		cur.Reset()
		force = false
		return nil
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case escaped:
			cur.WriteByte(c)
			escaped = false
		case c == '\\':
			escaped = true
		case c == '.':
			if err := flush(); err != nil {
				return nil, err
			}
		case c == ':' && cur.Len() == 0 && !force:
			force = true
		default:
			cur.WriteByte(c)
		}
	}
	if escaped {
		return nil, fmt.Errorf("key %q ends with a lone backslash: write \\\\ for a literal backslash", key)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return parts, nil
}

// bracketIndex matches parts written as name[0], a form Kargo does not
// accept either; it is detected only to suggest the right one.
var bracketIndex = regexp.MustCompile(`^(.+?)\[(\d+)\]$`)

// bracketHint suggests the dotted form for a part written as name[n].
func bracketHint(p keyPart) string {
	if m := bracketIndex.FindStringSubmatch(p.name); m != nil {
		return fmt.Sprintf("; write sequence indexes as parts of their own: %s.%s", m[1], m[2])
	}
	return ""
}

// joinKeyPath writes parts back as a key path, for messages.
func joinKeyPath(parts []keyPart) string {
	if len(parts) == 0 {
		return "the top level"
	}
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		if p.forceKey {
			b.WriteByte(':')
		}
		b.WriteString(strings.NewReplacer(`\`, `\\`, ".", `\.`).Replace(p.name))
	}
	return strconv.Quote(b.String())
}

// setPlainPath sets the value at parts in doc, a plain decoded document
// (map[string]any, []any), creating missing mapping keys and appending to
// sequences when create is true, and returns the new document. It is the
// reference the in-place editors are checked against.
func setPlainPath(doc any, parts []keyPart, v any, create bool) (any, error) {
	if len(parts) == 0 {
		return v, nil
	}
	p := parts[0]
	switch t := doc.(type) {
	case map[string]any:
		child, ok := t[p.name]
		if !ok && !create {
			return nil, fmt.Errorf("no key %q", p.name)
		}
		if !ok {
			child = newContainerFor(parts[1:])
		}
		nv, err := setPlainPath(child, parts[1:], v, create)
		if err != nil {
			return nil, err
		}
		t[p.name] = nv
		return t, nil
	case []any:
		i, ok := p.index()
		if !ok {
			return nil, fmt.Errorf("%q is not an index", p.name)
		}
		if create && (i == -1 || i == len(t)) {
			nv, err := setPlainPath(newContainerFor(parts[1:]), parts[1:], v, create)
			if err != nil {
				return nil, err
			}
			return append(t, nv), nil
		}
		if i < 0 || i >= len(t) {
			return nil, fmt.Errorf("index %d is out of range", i)
		}
		nv, err := setPlainPath(t[i], parts[1:], v, create)
		if err != nil {
			return nil, err
		}
		t[i] = nv
		return t, nil
	default:
		return nil, fmt.Errorf("cannot go below a value")
	}
}

// newContainerFor returns the empty container that creating the rest of a
// key path starts from: a sequence when the next part appends (0 or -1), a
// mapping otherwise.
func newContainerFor(rest []keyPart) any {
	if len(rest) == 0 {
		return nil
	}
	if i, ok := rest[0].index(); ok && (i == 0 || i == -1) {
		return []any{}
	}
	return map[string]any{}
}

// keyList returns the keys of m, sorted, for messages.
func keyList[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
