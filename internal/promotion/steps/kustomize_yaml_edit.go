package steps

// A small editor that changes fields of a YAML document (kustomization.yaml,
// Chart.yaml) while keeping everything else as the author wrote it: comments,
// blank lines, indentation, quoting and key order. Changes are made twice:
// on the parsed node tree (kyaml's yaml.Node) and as text edits at the
// positions the parser recorded. The text edits are used when every change
// could be made that way and the result parses to the same data as the
// edited tree; otherwise the tree is encoded whole, which keeps comments but
// not necessarily the layout.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// khField is one key and scalar value of a mapping the editor writes.
type khField struct {
	Key, Value string
}

// khTextEdit replaces src[start:end] with text.
type khTextEdit struct {
	start, end int
	text       string
	seq        int // creation order, to keep inserts at one offset in order
}

// khYAMLEditor edits one YAML document. It is not safe for concurrent use.
type khYAMLEditor struct {
	src       []byte
	doc       *kyaml.Node // the document node
	lineStart []int       // byte offset of the start of each line
	edits     []khTextEdit
	textOK    bool // false once a change cannot be made as a text edit
}

// khParseYAML parses src, which must hold at most one YAML document whose
// top level, if any, is a mapping.
func khParseYAML(src []byte) (*khYAMLEditor, error) {
	e := &khYAMLEditor{src: src, textOK: true}
	e.lineStart = append(e.lineStart, 0)
	for i, b := range src {
		if b == '\n' {
			e.lineStart = append(e.lineStart, i+1)
		}
	}
	dec := kyaml.NewDecoder(bytes.NewReader(src))
	var doc kyaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			doc = kyaml.Node{Kind: kyaml.DocumentNode}
		} else {
			return nil, fmt.Errorf("parse YAML: %w", err)
		}
	}
	var extra kyaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("parse YAML: the file holds more than one document: keep a single document in it")
	}
	if len(doc.Content) == 0 {
		// An empty file: start a mapping, written by encoding the tree.
		doc.Kind = kyaml.DocumentNode
		doc.Content = []*kyaml.Node{{Kind: kyaml.MappingNode, Tag: "!!map"}}
		e.textOK = false
	}
	if doc.Content[0].Kind != kyaml.MappingNode {
		return nil, fmt.Errorf("parse YAML: the top level is not a mapping of keys to values")
	}
	e.doc = &doc
	return e, nil
}

// Root returns the top-level mapping.
func (e *khYAMLEditor) Root() *kyaml.Node { return e.doc.Content[0] }

// khLookup returns the value node of key in mapping m, and the index of the
// key node in m.Content, or nil and -1.
func khLookup(m *kyaml.Node, key string) (*kyaml.Node, int) {
	if m == nil || m.Kind != kyaml.MappingNode {
		return nil, -1
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1], i
		}
	}
	return nil, -1
}

// khScalar returns the value of the scalar field key of mapping m, or "".
func khScalar(m *kyaml.Node, key string) string {
	v, _ := khLookup(m, key)
	if v == nil || v.Kind != kyaml.ScalarNode || v.Tag == "!!null" {
		return ""
	}
	return v.Value
}

// SetField sets the scalar field key of mapping m to value, adding the key
// at the end of m when it is missing.
func (e *khYAMLEditor) SetField(m *kyaml.Node, key, value string) {
	v, _ := khLookup(m, key)
	if v != nil && v.Kind == kyaml.ScalarNode {
		if v.Value == value && v.Tag != "!!null" {
			return
		}
		e.setScalar(v, value)
		return
	}
	if v != nil {
		// A mapping or sequence where a scalar belongs: replace it.
		e.textOK = false
		*v = *khScalarNode(value)
		return
	}
	e.insertFields(m, []khField{{key, value}})
}

// DeleteField removes key from mapping m, if present.
func (e *khYAMLEditor) DeleteField(m *kyaml.Node, key string) {
	v, i := khLookup(m, key)
	if v == nil {
		return
	}
	k := m.Content[i]
	if e.textOK {
		last := khLastLine(v)
		first := k.Line
		// Only a pair on lines of its own can be cut out as text; the first
		// key of a sequence item shares its line with the item's dash.
		if first == 0 || last != first || k.Column != m.Content[0].Column || (i == 0 && e.startsItem(k)) {
			e.textOK = false
		} else {
			e.addEdit(e.lineStart[first-1], e.lineEnd(last), "")
		}
	}
	m.Content = slices.Delete(m.Content, i, i+2)
}

// AppendItem appends a mapping made of fields to the sequence seq.
func (e *khYAMLEditor) AppendItem(seq *kyaml.Node, fields []khField) {
	item := khMappingNode(fields)
	if e.textOK {
		if seq.Style&kyaml.FlowStyle != 0 || len(seq.Content) == 0 || seq.Content[0].Line == 0 {
			e.textOK = false
		} else {
			first := seq.Content[0]
			dash := e.dashColumn(first)
			if dash < 1 || first.Kind != kyaml.MappingNode {
				e.textOK = false
			} else {
				at := e.lineEnd(khLastLine(seq))
				e.addEdit(at, at, e.prefixNewline(at)+khItemText(dash-1, first.Column-dash, fields))
			}
		}
	}
	seq.Content = append(seq.Content, item)
}

// SetSequence makes key of mapping m a block sequence holding one mapping
// per element of items. It is used when key is missing or holds no items.
func (e *khYAMLEditor) SetSequence(m *kyaml.Node, key string, items [][]khField) {
	seq := &kyaml.Node{Kind: kyaml.SequenceNode, Tag: "!!seq"}
	for _, f := range items {
		seq.Content = append(seq.Content, khMappingNode(f))
	}
	v, i := khLookup(m, key)
	dashIndent, keyIndent := e.sequenceStyle(m)
	var text strings.Builder
	text.WriteString(strings.Repeat(" ", keyIndent) + key + ":\n")
	for _, f := range items {
		text.WriteString(khItemText(keyIndent+dashIndent, 2, f))
	}
	switch {
	case v == nil:
		if e.textOK && (len(m.Content) == 0 || m.Style&kyaml.FlowStyle != 0 || m.Content[0].Column-1 != keyIndent) {
			e.textOK = false
		}
		if e.textOK {
			at := e.lineEnd(khLastLine(m))
			e.addEdit(at, at, e.prefixNewline(at)+text.String())
		}
		m.Content = append(m.Content, &kyaml.Node{Kind: kyaml.ScalarNode, Tag: "!!str", Value: key}, seq)
	default:
		k := m.Content[i]
		if e.textOK {
			last := khLastLine(v)
			if v.Kind == kyaml.ScalarNode && v.Tag == "!!null" && v.Value == "" {
				last = k.Line // "key:" with nothing after it
			}
			if k.Line == 0 || last != k.Line || k.Column-1 != keyIndent {
				e.textOK = false
			} else {
				e.addEdit(e.lineStart[k.Line-1], e.lineEnd(k.Line), text.String())
			}
		}
		m.Content[i+1] = seq
	}
}

// Bytes returns the edited document.
func (e *khYAMLEditor) Bytes() ([]byte, error) {
	tree, err := khEncode(e.doc)
	if err != nil {
		return nil, err
	}
	if !e.textOK {
		return tree, nil
	}
	out := e.applyEdits()
	// Trust the text edits only when they mean what the tree means.
	same, err := khSameData(out, tree)
	if err != nil || !same {
		return tree, nil //nolint:nilerr // the encoded tree is always right
	}
	return out, nil
}

func (e *khYAMLEditor) applyEdits() []byte {
	edits := slices.Clone(e.edits)
	slices.SortStableFunc(edits, func(a, b khTextEdit) int {
		if a.start != b.start {
			return b.start - a.start
		}
		// At one offset, replace the original text first, then insert, so
		// that inserts land in creation order before what follows.
		if ar, br := a.end > a.start, b.end > b.start; ar != br {
			if ar {
				return -1
			}
			return 1
		}
		return b.seq - a.seq
	})
	out := slices.Clone(e.src)
	for _, ed := range edits {
		out = slices.Concat(out[:ed.start], []byte(ed.text), out[ed.end:])
	}
	return out
}

func (e *khYAMLEditor) addEdit(start, end int, text string) {
	if bytes.Contains(e.src, []byte("\r\n")) {
		text = strings.ReplaceAll(text, "\n", "\r\n") // keep the file's line endings
	}
	e.edits = append(e.edits, khTextEdit{start: start, end: end, text: text, seq: len(e.edits)})
}

// setScalar replaces the text of scalar v with value.
func (e *khYAMLEditor) setScalar(v *kyaml.Node, value string) {
	style := v.Style & (kyaml.DoubleQuotedStyle | kyaml.SingleQuotedStyle)
	if e.textOK {
		start, end, ok := e.scalarSpan(v)
		if !ok {
			e.textOK = false
		} else {
			e.addEdit(start, end, khRenderScalar(value, style))
		}
	}
	v.Value = value
	v.Tag = "!!str"
	v.Style = style
	if khRenderScalar(value, style)[0] == '"' && style == 0 {
		v.Style = kyaml.DoubleQuotedStyle
	}
}

// scalarSpan finds the bytes of scalar v in the source: a single-line
// plain, single- or double-quoted scalar without tag or anchor.
func (e *khYAMLEditor) scalarSpan(v *kyaml.Node) (int, int, bool) {
	if v.Line == 0 || v.Anchor != "" || v.Line > len(e.lineStart) {
		return 0, 0, false
	}
	start, ok := e.offset(v.Line, v.Column)
	if !ok {
		return 0, 0, false
	}
	lineEnd := e.lineEnd(v.Line)
	line := e.src[start:lineEnd]
	switch {
	case v.Style&kyaml.DoubleQuotedStyle != 0:
		for i := 1; i < len(line); i++ {
			switch line[i] {
			case '\\':
				i++
			case '"':
				return start, start + i + 1, true
			}
		}
	case v.Style&kyaml.SingleQuotedStyle != 0:
		for i := 1; i < len(line); i++ {
			if line[i] == '\'' {
				if i+1 < len(line) && line[i+1] == '\'' {
					i++
					continue
				}
				return start, start + i + 1, true
			}
		}
	case v.Style == 0 && v.Tag != "!!null":
		if v.Value != "" && bytes.HasPrefix(line, []byte(v.Value)) {
			return start, start + len(v.Value), true
		}
	case v.Style == 0:
		// A null value: "key:" followed by nothing, or "~"/"null".
		for _, tok := range []string{"null", "Null", "NULL", "~"} {
			if bytes.HasPrefix(line, []byte(tok)) {
				return start, start + len(tok), true
			}
		}
	}
	return 0, 0, false
}

// offset converts a 1-based line and column (in characters) to a byte
// offset in the source.
func (e *khYAMLEditor) offset(line, col int) (int, bool) {
	if line < 1 || line > len(e.lineStart) || col < 1 {
		return 0, false
	}
	off := e.lineStart[line-1]
	for range col - 1 {
		if off >= len(e.src) || e.src[off] == '\n' {
			return 0, false
		}
		_, size := utf8.DecodeRune(e.src[off:])
		off += size
	}
	return off, true
}

// lineEnd returns the offset just after the newline ending line (1-based),
// or the end of the source.
func (e *khYAMLEditor) lineEnd(line int) int {
	if line < len(e.lineStart) {
		return e.lineStart[line]
	}
	return len(e.src)
}

// prefixNewline returns "\n" when text inserted at offset at would
// otherwise continue a last line that has no newline.
func (e *khYAMLEditor) prefixNewline(at int) string {
	if at == len(e.src) && at > 0 && e.src[at-1] != '\n' {
		return "\n"
	}
	return ""
}

// dashColumn returns the 1-based column of the "-" that starts the sequence
// item whose content is n, or 0.
func (e *khYAMLEditor) dashColumn(n *kyaml.Node) int {
	off, ok := e.offset(n.Line, n.Column)
	if !ok {
		return 0
	}
	ls := e.lineStart[n.Line-1]
	for i := off - 1; i >= ls; i-- {
		switch e.src[i] {
		case ' ':
			continue
		case '-':
			return utf8.RuneCount(e.src[ls:i]) + 1
		}
		return 0
	}
	return 0
}

// startsItem reports whether key node k is the first thing after a
// sequence item's dash.
func (e *khYAMLEditor) startsItem(k *kyaml.Node) bool { return e.dashColumn(k) > 0 }

// insertFields adds fields at the end of block mapping m.
func (e *khYAMLEditor) insertFields(m *kyaml.Node, fields []khField) {
	if e.textOK {
		if m.Style&kyaml.FlowStyle != 0 || len(m.Content) == 0 || m.Content[0].Line == 0 {
			e.textOK = false
		} else {
			indent := strings.Repeat(" ", m.Content[0].Column-1)
			var text strings.Builder
			for _, f := range fields {
				text.WriteString(indent + f.Key + ": " + khRenderScalar(f.Value, 0) + "\n")
			}
			at := e.lineEnd(khLastLine(m))
			e.addEdit(at, at, e.prefixNewline(at)+text.String())
		}
	}
	for _, f := range fields {
		m.Content = append(m.Content, &kyaml.Node{Kind: kyaml.ScalarNode, Tag: "!!str", Value: f.Key}, khScalarNode(f.Value))
	}
}

// sequenceStyle returns how block sequences are indented under their key in
// mapping m (0 for "compact": the dash under the key's first letter; 2 for
// "wide"), judged from the first block sequence of mappings in m, and the
// indentation of m's keys.
func (e *khYAMLEditor) sequenceStyle(m *kyaml.Node) (dashIndent, keyIndent int) {
	if len(m.Content) > 0 && m.Content[0].Column > 0 {
		keyIndent = m.Content[0].Column - 1
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		v := m.Content[i+1]
		if v.Kind != kyaml.SequenceNode || v.Style&kyaml.FlowStyle != 0 || len(v.Content) == 0 {
			continue
		}
		if dash := e.dashColumn(v.Content[0]); dash > 0 && dash-1 >= keyIndent {
			return dash - 1 - keyIndent, keyIndent
		}
	}
	return 0, keyIndent
}

// khLastLine returns the last source line of n and its descendants (0 when
// none has a position).
func khLastLine(n *kyaml.Node) int {
	last := n.Line
	for _, c := range n.Content {
		last = max(last, khLastLine(c))
	}
	return last
}

// khItemText renders a block sequence item: the dash indented by indent
// spaces, keys offset columns after the dash.
func khItemText(indent, offset int, fields []khField) string {
	var b strings.Builder
	for i, f := range fields {
		if i == 0 {
			b.WriteString(strings.Repeat(" ", indent) + "-" + strings.Repeat(" ", max(offset-1, 1)))
		} else {
			b.WriteString(strings.Repeat(" ", indent+max(offset, 2)))
		}
		b.WriteString(f.Key + ": " + khRenderScalar(f.Value, 0) + "\n")
	}
	return b.String()
}

// khRenderScalar renders a string value as a YAML scalar in style (plain
// when 0), quoting it when plain text would not read back as the same
// string.
func khRenderScalar(value string, style kyaml.Style) string {
	switch style {
	case kyaml.SingleQuotedStyle:
		if !strings.ContainsAny(value, "\n\r") {
			return "'" + strings.ReplaceAll(value, "'", "''") + "'"
		}
	case 0:
		if b, err := kyaml.Marshal(value); err == nil {
			s := strings.TrimSuffix(string(b), "\n")
			if !strings.ContainsAny(s, "\n\"'") && s != "" {
				return s
			}
		}
	}
	b, _ := json.Marshal(value) // a JSON string is a YAML double-quoted scalar
	return string(b)
}

func khScalarNode(value string) *kyaml.Node {
	n := &kyaml.Node{Kind: kyaml.ScalarNode, Tag: "!!str", Value: value}
	if khRenderScalar(value, 0)[0] == '"' {
		n.Style = kyaml.DoubleQuotedStyle
	}
	return n
}

func khMappingNode(fields []khField) *kyaml.Node {
	m := &kyaml.Node{Kind: kyaml.MappingNode, Tag: "!!map"}
	for _, f := range fields {
		m.Content = append(m.Content, &kyaml.Node{Kind: kyaml.ScalarNode, Tag: "!!str", Value: f.Key}, khScalarNode(f.Value))
	}
	return m
}

// khEncode encodes a document node with kyaml's defaults (two-space
// indentation, compact sequences), keeping comments.
func khEncode(doc *kyaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := kyaml.NewEncoder(&buf)
	enc.SetIndent(kyaml.DefaultIndent)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// khSameData reports whether two YAML documents hold the same data.
func khSameData(a, b []byte) (bool, error) {
	var x, y any
	if err := kyaml.Unmarshal(a, &x); err != nil {
		return false, err
	}
	if err := kyaml.Unmarshal(b, &y); err != nil {
		return false, err
	}
	return reflect.DeepEqual(x, y), nil
}
