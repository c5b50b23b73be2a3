package analysis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	rolloutsapi "github.com/caravan-dev/caravan/api/rollouts/v1alpha1"
)

// Placeholders are written {{args.NAME}}, with optional spaces inside the
// braces ({{ args.NAME }}), as in Argo Rollouts.
const (
	placeholderOpen  = "{{"
	placeholderClose = "}}"
	argsPrefix       = "args."
)

// masked replaces secret values wherever they would be shown.
const masked = "*****"

// argValue is how one argument takes part in a substitution.
type argValue struct {
	value string
	// keep leaves the placeholder as written: a Secret's value that is read
	// only when a measurement is taken.
	keep bool
}

// substitute replaces every {{args.NAME}} placeholder of s by its
// argument's value. A placeholder that names no argument, or that is not an
// args placeholder, is an error, as in Argo Rollouts.
func substitute(s string, args map[string]argValue) (string, error) {
	if !strings.Contains(s, placeholderOpen) {
		return s, nil
	}
	var out strings.Builder
	rest := s
	for {
		i := strings.Index(rest, placeholderOpen)
		if i < 0 {
			out.WriteString(rest)
			return out.String(), nil
		}
		out.WriteString(rest[:i])
		j := strings.Index(rest[i+len(placeholderOpen):], placeholderClose)
		if j < 0 {
			return "", fmt.Errorf("placeholder %q has no closing %q: write {{args.NAME}}",
				abbreviate(rest[i:]), placeholderClose)
		}
		raw := rest[i : i+len(placeholderOpen)+j+len(placeholderClose)]
		tag := strings.TrimSpace(rest[i+len(placeholderOpen) : i+len(placeholderOpen)+j])
		rest = rest[i+len(raw):]
		name, ok := strings.CutPrefix(tag, argsPrefix)
		if !ok {
			return "", fmt.Errorf("placeholder %s is not an argument: only {{args.NAME}} placeholders are supported", raw)
		}
		v, ok := args[name]
		if !ok {
			return "", fmt.Errorf("placeholder %s names no argument: declare %q under the template's args, or correct the name",
				raw, name)
		}
		if v.keep {
			out.WriteString(raw)
			continue
		}
		out.WriteString(v.value)
	}
}

// abbreviate shortens s for a message.
func abbreviate(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// resolveMetric returns metric with its placeholders substituted in every
// string value of its JSON form, so every string of the metric is covered:
// provider fields, jsonBody's strings, conditions, and int-or-string fields
// such as count. Object keys are left alone, and the order of jsonBody's
// keys is kept.
func resolveMetric(metric *rolloutsapi.Metric, args map[string]argValue) (*rolloutsapi.Metric, error) {
	text, err := json.Marshal(metric)
	if err != nil {
		return nil, fmt.Errorf("encode metric %q: %w", metric.Name, err)
	}
	if !bytes.Contains(text, []byte(placeholderOpen)) {
		return metric.DeepCopy(), nil
	}
	resolved, err := substituteJSON(text, args)
	if err != nil {
		return nil, fmt.Errorf("metric %q: %w", metric.Name, err)
	}
	var out rolloutsapi.Metric
	if err := json.Unmarshal(resolved, &out); err != nil {
		return nil, fmt.Errorf("metric %q: read it back after substituting its arguments: %w", metric.Name, err)
	}
	return &out, nil
}

// substituteJSON rewrites a JSON document token by token, substituting the
// placeholders of its string values.
func substituteJSON(doc []byte, args map[string]argValue) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	type container struct {
		object bool
		n      int // tokens written in it
	}
	var stack []container
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out.Bytes(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("read the metric's JSON form: %w", err)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			out.WriteByte(byte(d))
			continue
		}
		isKey := false
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			switch {
			case top.object && top.n%2 == 0:
				isKey = true
				if top.n > 0 {
					out.WriteByte(',')
				}
			case top.object:
				out.WriteByte(':')
			case top.n > 0:
				out.WriteByte(',')
			}
			top.n++
		}
		switch v := tok.(type) {
		case json.Delim:
			out.WriteByte(byte(v))
			stack = append(stack, container{object: v == '{'})
		case string:
			if !isKey {
				if v, err = substitute(v, args); err != nil {
					return nil, err
				}
			}
			if err := enc.Encode(v); err != nil {
				return nil, fmt.Errorf("encode a string: %w", err)
			}
			out.Truncate(out.Len() - 1) // Encode's newline
		case json.Number:
			out.WriteString(v.String())
		case bool:
			out.WriteString(strconv.FormatBool(v))
		case nil:
			out.WriteString("null")
		}
	}
}

// masker hides secret values in text.
type masker []string

// mask replaces every secret value in s with "*****".
func (m masker) mask(s string) string {
	for _, secret := range m {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, masked)
		}
	}
	return s
}

// maskMap masks every value of md in place.
func (m masker) maskMap(md map[string]string) map[string]string {
	for k, v := range md {
		md[k] = m.mask(v)
	}
	return md
}
