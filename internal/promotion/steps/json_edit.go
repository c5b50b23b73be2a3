package steps

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// This file edits JSON in place for json-update, as tidwall/sjson does for
// Kargo: only the bytes of each addressed value change, and a missing key
// is added to its object (or an element appended to its array) in the
// style of the surrounding document, so formatting and key order elsewhere
// stay as they were. Every edit is checked by decoding the result.

// jsonNode is a value of a scanned JSON document: its byte range and, for
// objects and arrays, its members.
type jsonNode struct {
	kind       byte // '{', '[', or 0 for a scalar
	start, end int
	keys       []string // object member names
	keyStart   []int    // offset of each member's name
	keyEnd     []int    // offset after each member's name
	items      []*jsonNode
}

// jsonStyle is how a document is laid out, for inserted members.
type jsonStyle struct {
	unit  string // one level of indentation; "" for a compact document
	colon string // ":" or ": "
}

// editJSON applies changes to src in order and returns the new bytes and the
// JSON text written for each change's value.
func editJSON(src []byte, changes []keyChange) ([]byte, []string, error) {
	if !json.Valid(src) {
		var v any
		err := json.Unmarshal(src, &v)
		return nil, nil, fmt.Errorf("parse the file as JSON: %v", err)
	}
	out := bytes.Clone(src)
	rendered := make([]string, len(changes))
	for i, c := range changes {
		root, err := scanJSON(out)
		if err != nil {
			return nil, nil, err
		}
		style := documentStyle(out, root)
		var text string
		if out, text, err = setJSON(out, root, c.parts, c.value, style); err != nil {
			return nil, nil, &keyChangeError{index: i, err: err}
		}
		rendered[i] = text
	}
	if err := checkJSONEdit(src, out, changes); err != nil {
		return nil, nil, err
	}
	return out, rendered, nil
}

// setJSON sets the value at parts in src, whose scanned root is root.
func setJSON(src []byte, root *jsonNode, parts []keyPart, v any, style jsonStyle) ([]byte, string, error) {
	n := root
	for i, p := range parts {
		here := joinKeyPath(parts[:i])
		switch n.kind {
		case '{':
			j := -1
			for k := len(n.keys) - 1; k >= 0; k-- {
				if n.keys[k] == p.name {
					j = k
					break
				}
			}
			if j >= 0 {
				n = n.items[j]
				continue
			}
			value, err := buildNested(parts[i+1:], v)
			if err != nil {
				return nil, "", err
			}
			name, _ := jsonText(p.name)
			return insertJSON(src, n, func(indent string) (string, error) {
				text, err := renderJSON(value, indent, style)
				return name + style.colon + text, err
			}, style, v)
		case '[':
			idx, ok := p.index()
			if !ok {
				return nil, "", fmt.Errorf("%s is an array and %q is not an index into it: use 0 to %d, or -1 to append%s", here, p.name, len(n.items)-1, bracketHint(p))
			}
			if idx == -1 || idx == len(n.items) {
				value, err := buildNested(parts[i+1:], v)
				if err != nil {
					return nil, "", err
				}
				return insertJSON(src, n, func(indent string) (string, error) {
					return renderJSON(value, indent, style)
				}, style, v)
			}
			if idx >= len(n.items) {
				return nil, "", fmt.Errorf("%s is an array of %d elements: index %d is past its end: use 0 to %d, or -1 to append", here, len(n.items), idx, len(n.items)-1)
			}
			n = n.items[idx]
		default:
			return nil, "", fmt.Errorf("%s is a single value, so %q cannot be below it", here, p.name)
		}
	}
	text, err := renderJSON(v, lineIndent(src, n.start), style)
	if err != nil {
		return nil, "", err
	}
	return splice(src, n.start, n.end, text), valueText(v), nil
}

// buildNested wraps v in the objects and arrays that the rest of a key path
// creates.
func buildNested(rest []keyPart, v any) (any, error) {
	if len(rest) == 0 {
		return v, nil
	}
	inner, err := buildNested(rest[1:], v)
	if err != nil {
		return nil, err
	}
	if i, ok := rest[0].index(); ok {
		if i != 0 && i != -1 {
			return nil, fmt.Errorf("index %d of an array that does not exist yet: use 0 or -1 to create it", i)
		}
		return []any{inner}, nil
	}
	return map[string]any{rest[0].name: inner}, nil
}

// insertJSON adds a member (to an object) or an element (to an array) at
// the end of container, laid out like its existing members.
func insertJSON(src []byte, container *jsonNode, member func(indent string) (string, error), style jsonStyle, v any) ([]byte, string, error) {
	outer := lineIndent(src, container.start)
	if len(container.items) == 0 {
		indent, gap, closing := outer+style.unit, "", ""
		if style.unit != "" {
			gap, closing = "\n"+indent, "\n"+outer
		}
		text, err := member(indent)
		if err != nil {
			return nil, "", err
		}
		open, end := string(container.kind), "}"
		if container.kind == '[' {
			end = "]"
		}
		return splice(src, container.start, container.end, open+gap+text+closing+end), valueText(v), nil
	}
	// The gap before the last member (after "{" or ",") is the layout to
	// repeat.
	last := len(container.items) - 1
	first := container.items[last].start
	if container.kind == '{' {
		first = container.keyStart[last]
	}
	gapStart := first
	for gapStart > container.start && isJSONSpace(src[gapStart-1]) {
		gapStart--
	}
	gap := string(src[gapStart:first])
	if len(container.items) == 1 && gap == "" && style.colon == ": " {
		gap = " " // [80] in a spaced document: [80, 443]
	}
	indent := gap
	if i := strings.LastIndex(gap, "\n"); i >= 0 {
		indent = gap[i+1:]
	} else {
		indent = outer + style.unit
	}
	text, err := member(indent)
	if err != nil {
		return nil, "", err
	}
	at := container.items[last].end
	return splice(src, at, at, ","+gap+text), valueText(v), nil
}

// valueText is the text a commit message shows for v.
func valueText(v any) string {
	text, _ := jsonText(v)
	return text
}

// renderJSON renders v at indentation indent in the document's style.
func renderJSON(v any, indent string, style jsonStyle) (string, error) {
	switch v.(type) {
	case map[string]any, []any:
		if style.unit != "" {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent(indent, style.unit)
			if err := enc.Encode(v); err != nil {
				return "", fmt.Errorf("render the value: %w", err)
			}
			return strings.TrimSuffix(buf.String(), "\n"), nil
		}
	}
	text, err := jsonText(v)
	if err != nil {
		return "", fmt.Errorf("render the value: %w", err)
	}
	return text, nil
}

// documentStyle reads the indentation unit and the colon spacing of a
// document from its outermost container.
func documentStyle(src []byte, root *jsonNode) jsonStyle {
	style := jsonStyle{colon: ":"}
	if len(root.items) == 0 {
		if bytes.Contains(src, []byte("\n")) {
			style.unit = "  "
		}
		return style
	}
	first := root.items[0].start
	if root.kind == '{' {
		first = root.keyStart[0]
		style.colon = strings.TrimRight(string(src[root.keyEnd[0]:root.items[0].start]), "\n\r\t")
		if strings.TrimSpace(style.colon) != ":" {
			style.colon = ": "
		}
	}
	gap := string(src[root.start+1 : first])
	if i := strings.LastIndex(gap, "\n"); i >= 0 {
		style.unit = strings.TrimPrefix(gap[i+1:], lineIndent(src, root.start))
		if style.unit == "" {
			style.unit = "  "
		}
	}
	return style
}

// lineIndent returns the blanks that start the line holding offset.
func lineIndent(src []byte, offset int) string {
	start := bytes.LastIndexByte(src[:offset], '\n') + 1
	end := start
	for end < len(src) && (src[end] == ' ' || src[end] == '\t') {
		end++
	}
	return string(src[start:end])
}

func splice(src []byte, start, end int, text string) []byte {
	out := make([]byte, 0, len(src)-(end-start)+len(text))
	out = append(out, src[:start]...)
	out = append(out, text...)
	return append(out, src[end:]...)
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// scanJSON scans a valid JSON document into its value tree.
func scanJSON(src []byte) (*jsonNode, error) {
	s := jsonScanner{src: src}
	n, err := s.value()
	if err != nil {
		return nil, fmt.Errorf("parse the file as JSON: %w", err)
	}
	return n, nil
}

type jsonScanner struct {
	src []byte
	pos int
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.src) && isJSONSpace(s.src[s.pos]) {
		s.pos++
	}
}

func (s *jsonScanner) expect(c byte) error {
	s.skipSpace()
	if s.pos >= len(s.src) || s.src[s.pos] != c {
		return fmt.Errorf("expected %q at offset %d", c, s.pos)
	}
	s.pos++
	return nil
}

func (s *jsonScanner) value() (*jsonNode, error) {
	s.skipSpace()
	if s.pos >= len(s.src) {
		return nil, fmt.Errorf("unexpected end of the document")
	}
	n := &jsonNode{start: s.pos}
	switch c := s.src[s.pos]; c {
	case '{', '[':
		n.kind = c
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		s.pos++
		s.skipSpace()
		if s.pos < len(s.src) && s.src[s.pos] == closing {
			s.pos++
			n.end = s.pos
			return n, nil
		}
		for {
			if c == '{' {
				s.skipSpace()
				ks := s.pos
				key, err := s.str()
				if err != nil {
					return nil, err
				}
				n.keys, n.keyStart, n.keyEnd = append(n.keys, key), append(n.keyStart, ks), append(n.keyEnd, s.pos)
				if err := s.expect(':'); err != nil {
					return nil, err
				}
			}
			item, err := s.value()
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, item)
			s.skipSpace()
			if s.pos < len(s.src) && s.src[s.pos] == ',' {
				s.pos++
				continue
			}
			if err := s.expect(closing); err != nil {
				return nil, err
			}
			n.end = s.pos
			return n, nil
		}
	case '"':
		if _, err := s.str(); err != nil {
			return nil, err
		}
	default:
		for s.pos < len(s.src) && !isJSONSpace(s.src[s.pos]) && strings.IndexByte(",]}", s.src[s.pos]) < 0 {
			s.pos++
		}
	}
	n.end = s.pos
	return n, nil
}

// str scans a string token and returns its value.
func (s *jsonScanner) str() (string, error) {
	start := s.pos
	if s.pos >= len(s.src) || s.src[s.pos] != '"' {
		return "", fmt.Errorf("expected a string at offset %d", s.pos)
	}
	for s.pos++; s.pos < len(s.src); s.pos++ {
		switch s.src[s.pos] {
		case '\\':
			s.pos++
		case '"':
			s.pos++
			var v string
			err := json.Unmarshal(s.src[start:s.pos], &v)
			return v, err
		}
	}
	return "", fmt.Errorf("unterminated string at offset %d", start)
}

// checkJSONEdit decodes the original and the edited document and checks
// that they differ by exactly the changes.
func checkJSONEdit(before, after []byte, changes []keyChange) error {
	want, err := decodeJSONDocument(before)
	if err != nil {
		return err
	}
	got, err := decodeJSONDocument(after)
	if err != nil {
		return fmt.Errorf("edit the file in place: the result does not parse (%v): report this", err)
	}
	for i, c := range changes {
		if want, err = setPlainPath(want, c.parts, c.value, true); err != nil {
			return &keyChangeError{index: i, err: err}
		}
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Errorf("edit the file in place: the result differs from the intended change: report this")
	}
	return nil
}
