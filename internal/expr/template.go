package expr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// delimiter is a pair of expression delimiters. Kargo accepts two pairs,
// interchangeably: the closing delimiter is the first occurrence of its
// sequence, so ${% %} lets an expression contain "}}" and ${{ }} lets it
// contain "%}".
type delimiter struct{ open, close string }

var delimiters = [...]delimiter{{"${{", "}}"}, {"${%", "%}"}}

// HasExpression reports whether s contains an expression, i.e. whether
// EvaluateTemplate would do anything but return it.
func HasExpression(s string) bool {
	i := strings.Index(s, "${")
	return i >= 0 && (strings.Contains(s[i:], "${{") || strings.Contains(s[i:], "${%"))
}

// EvaluateTemplate evaluates the ${{ }} and ${% %} expressions of template
// over env and returns the result under Kargo's rules (see the package
// documentation): the string itself when it holds no expression, otherwise
// the text with each expression's result in place, converted to a JSON value
// (string, float64, bool, nil, map[string]any or []any; integers beyond
// float64's exact range are int64 or uint64). Errors are *Error, except a
// variable in env that shadows a function.
func EvaluateTemplate(template string, env map[string]any, opts ...Option) (any, error) {
	if !HasExpression(template) {
		return template, nil
	}
	ev, err := newEvaluator(env, opts)
	if err != nil {
		return nil, err
	}
	return ev.template(template)
}

// EvaluateJSONTemplate evaluates every string value of the JSON document raw
// (a step's config, for instance) with EvaluateTemplate and returns the new
// document. Keys are left as written, and so are numbers that no expression
// produced. An error names the JSON path of the value that failed, e.g.
// `images[0].tag: evaluate expression …`.
func EvaluateJSONTemplate(raw []byte, env map[string]any, opts ...Option) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	err := dec.Decode(&doc)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = fmt.Errorf("unexpected data after the top-level value")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("parse JSON template: %w (an expression must sit inside a JSON string, e.g. \"${{ vars.x }}\")", err)
	}
	ev, err := newEvaluator(env, opts)
	if err != nil {
		return nil, err
	}
	if doc, err = ev.walk(doc); err != nil {
		if pe, ok := err.(*pathError); ok {
			return nil, fmt.Errorf("%s: %w", pe.path(), pe.err)
		}
		return nil, err
	}
	out, err := marshalJSON(doc)
	if err != nil {
		return nil, fmt.Errorf("encode evaluated JSON template: %w", err)
	}
	return out, nil
}

// pathError is an error at a JSON path, built from the leaf up.
type pathError struct {
	segments []string // innermost first
	err      error
}

func (e *pathError) Error() string { return e.path() + ": " + e.err.Error() }

func (e *pathError) path() string {
	var b strings.Builder
	for i := len(e.segments) - 1; i >= 0; i-- {
		s := e.segments[i]
		if b.Len() > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func atPath(err error, segment string) error {
	if pe, ok := err.(*pathError); ok {
		pe.segments = append(pe.segments, segment)
		return pe
	}
	return &pathError{segments: []string{segment}, err: err}
}

// walk evaluates the strings of a decoded JSON value in place. Map keys are
// visited in sorted order so that the first error is always the same one.
func (ev *evaluator) walk(v any) (any, error) {
	switch x := v.(type) {
	case string:
		if !HasExpression(x) {
			return x, nil
		}
		return ev.template(x)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			nv, err := ev.walk(x[k])
			if err != nil {
				return nil, atPath(err, k)
			}
			x[k] = nv
		}
	case []any:
		for i, e := range x {
			nv, err := ev.walk(e)
			if err != nil {
				return nil, atPath(err, "["+strconv.Itoa(i)+"]")
			}
			x[i] = nv
		}
	}
	return v, nil
}

// template evaluates one template string that holds expressions.
func (ev *evaluator) template(t string) (any, error) {
	var b strings.Builder
	err := scanTemplate(t, func(text string) { b.WriteString(text) }, func(src string) error {
		out, err := ev.eval(src, compileExpr(src))
		if err != nil {
			return err
		}
		if s, ok := out.(string); ok {
			b.WriteString(s)
			return nil
		}
		j, err := marshalJSON(out)
		if err != nil {
			return &Error{Expression: src, Err: err,
				Message: fmt.Sprintf("its result (%s) cannot be written as JSON: %v", describe(out), err)}
		}
		b.Write(j)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return textToValue(b.String()), nil
}

// scanTemplate splits t into literal text and expression sources, calling
// text and expr for each in order.
func scanTemplate(t string, text func(string), expr func(src string) error) error {
	rest := t
	for {
		i, d := nextDelimiter(rest)
		if i < 0 {
			text(rest)
			return nil
		}
		text(rest[:i])
		body := rest[i+len(d.open):]
		j := strings.Index(body, d.close)
		if j < 0 {
			return &Error{Expression: body, Compile: true, Message: fmt.Sprintf(
				"%s is never closed: add %q after the expression (or, if the expression itself contains %q, write it between ${%% and %%} instead)",
				d.open, d.close, d.close)}
		}
		rest = body[j+len(d.close):]
		if err := expr(body[:j]); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Compile && strings.Contains(rest, d.close) {
				hinted := *e // e may be cached: change a copy
				hinted.Message += fmt.Sprintf(" (the expression ends at the first %q; if it contains %q, write it between %s and %s instead)",
					d.close, d.close, other(d).open, other(d).close)
				return &hinted
			}
			return err
		}
	}
}

// other returns the delimiter pair that is not d.
func other(d delimiter) delimiter {
	if d == delimiters[0] {
		return delimiters[1]
	}
	return delimiters[0]
}

// nextDelimiter finds the first opening delimiter in s.
func nextDelimiter(s string) (int, delimiter) {
	at, which := -1, delimiter{}
	for _, d := range delimiters {
		if i := strings.Index(s, d.open); i >= 0 && (at < 0 || i < at) {
			at, which = i, d
		}
	}
	return at, which
}

// textToValue converts the text of an evaluated template to a JSON value,
// as Kargo does:
//
//  1. one trailing newline is set aside;
//  2. text wrapped in double quotes is the string between them (plus the
//     newline), not read further: this is how quote() keeps a result a
//     string;
//  3. text that parses as a number is a number;
//  4. true/True/TRUE and false/False/FALSE are bools;
//  5. a JSON object, array, string or null is that value;
//  6. anything else is the text itself, newline included.
//
// Differences from Kargo, which uses strconv.ParseFloat and ParseBool: "inf"
// and "nan" stay strings (Kargo produces a float its JSON encoder rejects),
// integers that float64 cannot hold exactly keep their value, and "t", "f",
// "T" and "F" stay strings, as in YAML.
func textToValue(s string) any {
	body, nl := strings.CutSuffix(s, "\n")
	if len(body) > 1 && body[0] == '"' && body[len(body)-1] == '"' {
		if nl {
			return body[1:len(body)-1] + "\n"
		}
		return body[1 : len(body)-1]
	}
	if n, ok := parseNumber(body); ok {
		return n
	}
	switch body {
	case "true", "True", "TRUE":
		return true
	case "false", "False", "FALSE":
		return false
	}
	if v, ok := parseJSON(body); ok {
		return v
	}
	return s
}

// parseNumber parses s as a number: float64, or int64/uint64 for integers
// that float64 cannot represent exactly.
func parseNumber(s string) (any, bool) {
	if s == "" || strings.IndexFunc(s[:1], func(r rune) bool {
		return (r < '0' || r > '9') && r != '-' && r != '+' && r != '.'
	}) == 0 {
		return nil, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, false
	}
	const exact = 1 << 53
	if (f >= exact || f <= -exact) && isInteger(s) {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, true
		}
		if u, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 64); err == nil {
			return u, true
		}
	}
	return f, true
}

// isInteger reports whether s is an optionally signed run of digits.
func isInteger(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseJSON decodes s when it is a JSON value, with numbers converted by
// parseNumber.
func parseJSON(s string) (any, bool) {
	t := strings.TrimLeft(s, " \t\r\n")
	if t == "" || !strings.ContainsRune(`{["n-0123456789tf`, rune(t[0])) {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return convertNumbers(v), true
}

// convertNumbers replaces the json.Numbers of a decoded value.
func convertNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, ok := parseNumber(string(x)); ok {
			return n
		}
		return string(x)
	case map[string]any:
		for k, e := range x {
			x[k] = convertNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = convertNumbers(e)
		}
	}
	return v
}
