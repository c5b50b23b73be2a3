package steps

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// This file edits YAML in place for yaml-update: it finds the bytes of each
// addressed value with go.yaml.in/yaml/v3's node positions and replaces only
// those bytes, so comments, blank lines, indentation, key order and quoting
// elsewhere stay exactly as they were. Every edit is checked by decoding the
// result: the document must equal the original with the updates applied.

// yamlTarget is where a key path leads: the scalar node, whether it sits in
// a flow collection ({…} or […]), and the indentation of the key or
// sequence that holds it.
type yamlTarget struct {
	node   *yaml.Node
	key    *yaml.Node // the mapping key of node, if node is a mapping value
	flow   bool
	indent int
}

// yamlSpan is the byte range [start, end) of a scalar's text in the source,
// and what rewriting it must keep.
type yamlSpan struct {
	start, end    int
	anchor        string // re-emitted when the replaced range starts at the node's properties
	blockIndent   int    // content indentation of a block scalar (| or >), else 0
	headerComment string // a comment on a block scalar's header line
	emptyValue    bool   // an insertion after "key:", which needs a blank first
}

// editYAML applies changes to src and returns the new bytes and, for each
// change, the text written for its value.
func editYAML(src []byte, changes []keyChange) ([]byte, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, nil, fmt.Errorf("parse the file as YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil, fmt.Errorf("the file holds no YAML document: updates change existing keys")
	}
	lines := lineStarts(src)
	newline := "\n"
	if bytes.Contains(src, []byte("\r\n")) {
		newline = "\r\n"
	}
	type edit struct {
		start, end int
		text       string
	}
	edits := map[int]edit{} // by start offset: a later update of the same value wins
	rendered := make([]string, len(changes))
	for i, c := range changes {
		target, err := locateYAMLScalar(doc.Content[0], c.parts)
		if err != nil {
			if sameYAMLValue(target.node, c.value) {
				// A mapping or sequence that already holds the value: an
				// earlier run set it.
				rendered[i], _ = jsonText(c.value)
				continue
			}
			return nil, nil, &keyChangeError{index: i, err: err}
		}
		sp, err := scalarSpan(src, lines, target)
		if err != nil {
			return nil, nil, &keyChangeError{index: i, err: err}
		}
		text, err := renderYAMLScalar(c.value, target, sp, newline)
		if err != nil {
			return nil, nil, &keyChangeError{index: i, err: err}
		}
		bare := sp
		bare.anchor, bare.headerComment = "", ""
		if rendered[i], err = renderYAMLScalar(c.value, target, bare, "\n"); err != nil {
			return nil, nil, &keyChangeError{index: i, err: err}
		}
		if sp.emptyValue {
			text = " " + text
		}
		edits[sp.start] = edit{start: sp.start, end: sp.end, text: text}
	}
	ordered := make([]edit, 0, len(edits))
	for _, e := range edits {
		ordered = append(ordered, e)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].start > ordered[j].start })
	out := bytes.Clone(src)
	for _, e := range ordered {
		out = append(out[:e.start:e.start], append([]byte(e.text), out[e.end:]...)...)
	}
	if err := checkYAMLEdit(src, out, changes); err != nil {
		return nil, nil, err
	}
	return out, rendered, nil
}

// locateYAMLScalar follows parts from the root node to the scalar they
// address. Messages name the key path and say what is there instead.
func locateYAMLScalar(root *yaml.Node, parts []keyPart) (yamlTarget, error) {
	t := yamlTarget{node: root}
	n := root
	for i, p := range parts {
		here := joinKeyPath(parts[:i])
		switch n.Kind {
		case yaml.AliasNode:
			return t, fmt.Errorf("%s is an alias (*%s): update the anchored value (&%s) instead", here, n.Value, n.Value)
		case yaml.MappingNode:
			t.flow = t.flow || n.Style&yaml.FlowStyle != 0
			var next *yaml.Node
			keys := make([]string, 0, len(n.Content)/2)
			merged := false
			for j := 0; j+1 < len(n.Content); j += 2 {
				k := n.Content[j]
				if k.Tag == "!!merge" {
					merged = true
				}
				keys = append(keys, k.Value)
				if next == nil && k.Kind == yaml.ScalarNode && k.Value == p.name {
					next, t.key = n.Content[j+1], k
					t.indent = k.Column - 1
				}
			}
			if next == nil {
				msg := fmt.Sprintf("not found: %s has no key %q", here, p.name)
				if len(keys) > 0 {
					msg += fmt.Sprintf(" (its keys: %s)", strings.Join(limitList(keys, 20), ", "))
				}
				if merged {
					msg += "; keys merged in with << must be updated where they are defined"
				}
				return t, fmt.Errorf("%s%s: correct the key (yaml-update changes existing keys only)", msg, bracketHint(p))
			}
			n = next
		case yaml.SequenceNode:
			t.flow = t.flow || n.Style&yaml.FlowStyle != 0
			idx, ok := p.index()
			if !ok || idx < 0 || idx >= len(n.Content) {
				return t, fmt.Errorf("not found: %s is a sequence of %d items and %q is not an index into it: use 0 to %d%s",
					here, len(n.Content), p.name, len(n.Content)-1, bracketHint(p))
			}
			t.indent, t.key = n.Column-1, nil
			n = n.Content[idx]
		default:
			return t, fmt.Errorf("not found: %s is a single value, so %q cannot be below it", here, p.name)
		}
	}
	t.node = n
	switch n.Kind {
	case yaml.ScalarNode:
		return t, nil
	case yaml.AliasNode:
		return t, fmt.Errorf("%s is an alias (*%s): update the anchored value (&%s) instead", joinKeyPath(parts), n.Value, n.Value)
	case yaml.MappingNode:
		return t, fmt.Errorf("%s is a mapping, not a single value: address one of its keys, such as %s", joinKeyPath(parts), strings.Trim(joinKeyPath(parts), `"`)+".<key>")
	default:
		return t, fmt.Errorf("%s is a sequence, not a single value: address one of its items, such as %s", joinKeyPath(parts), strings.Trim(joinKeyPath(parts), `"`)+".0")
	}
}

// sameYAMLValue reports whether the mapping or sequence n holds v.
func sameYAMLValue(n *yaml.Node, v any) bool {
	if n == nil || (n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode) {
		return false
	}
	var have any
	if err := n.Decode(&have); err != nil {
		return false
	}
	return reflect.DeepEqual(yamlPlain(have), yamlPlain(v))
}

// scalarSpan finds the bytes of target's scalar in src.
func scalarSpan(src []byte, lines []int, target yamlTarget) (yamlSpan, error) {
	n := target.node
	if n.Value == "" && n.Style == 0 && n.Anchor == "" && target.key != nil {
		// An empty value (key: with nothing after it) has no bytes; the
		// parser places it at the next token. Insert after the key's colon.
		return emptyValueSpan(src, lines, target.key)
	}
	if n.Line < 1 || n.Line > len(lines) {
		return yamlSpan{}, fmt.Errorf("locate the value in the file: line %d is out of range", n.Line)
	}
	lineStart := lines[n.Line-1]
	propsStart := lineStart + runeOffset(src[lineStart:], n.Column-1)
	off := propsStart
	for off < len(src) && (src[off] == '&' || src[off] == '!') {
		for off < len(src) && !isYAMLSpace(src[off]) {
			off++
		}
		for off < len(src) && isYAMLSpace(src[off]) {
			off++
		}
	}
	sp := yamlSpan{start: off}
	if n.Style&yaml.TaggedStyle != 0 {
		// An explicit tag (!!str 12) would keep its type; replace it too.
		sp.start, sp.anchor = propsStart, n.Anchor
	}
	style := n.Style &^ yaml.TaggedStyle
	var ok bool
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		sp.end, ok = scanQuoted(src, off, '"')
	case style&yaml.SingleQuotedStyle != 0:
		sp.end, ok = scanQuoted(src, off, '\'')
	case style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		sp.end, sp.blockIndent, sp.headerComment = scanBlockScalar(src, off)
		ok = true
	default:
		sp.end, ok = scanPlain(src, off, n.Value, target.flow)
	}
	if !ok {
		return sp, fmt.Errorf("locate the value at line %d in the file to edit it in place: rewrite it on one line", n.Line)
	}
	return sp, nil
}

// emptyValueSpan returns the empty span right after the colon that follows
// key, with a blank to separate the value to be written there.
func emptyValueSpan(src []byte, lines []int, key *yaml.Node) (yamlSpan, error) {
	fail := fmt.Errorf("locate the empty value of %q in the file: give it a value (such as \"\") first", key.Value)
	if key.Line < 1 || key.Line > len(lines) {
		return yamlSpan{}, fail
	}
	off := lines[key.Line-1] + runeOffset(src[lines[key.Line-1]:], key.Column-1)
	switch key.Style &^ yaml.TaggedStyle {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		end, ok := scanQuoted(src, off, src[off])
		if !ok {
			return yamlSpan{}, fail
		}
		off = end
	}
	for i := off; i < len(src) && src[i] != '\n'; i++ {
		if src[i] == ':' && (i+1 == len(src) || isYAMLSpace(src[i+1])) {
			return yamlSpan{start: i + 1, end: i + 1, emptyValue: true}, nil
		}
	}
	return yamlSpan{}, fail
}

func isYAMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// scanQuoted returns the offset after the quoted scalar starting at off.
func scanQuoted(src []byte, off int, quote byte) (int, bool) {
	for i := off + 1; i < len(src); i++ {
		switch {
		case quote == '"' && src[i] == '\\':
			i++
		case src[i] == quote && quote == '\'' && i+1 < len(src) && src[i+1] == '\'':
			i++
		case src[i] == quote:
			return i + 1, true
		}
	}
	return 0, false
}

// scanBlockScalar returns the end of the block scalar whose header (| or >)
// is at off: the end of its last non-empty content line. Content lines are
// those indented at least as much as the first non-empty one.
func scanBlockScalar(src []byte, off int) (end, indent int, comment string) {
	lineEnd := endOfLine(src, off)
	header := string(src[off:lineEnd])
	end = off + len(strings.TrimRight(strings.SplitN(header, "#", 2)[0], " \t"))
	headerEnd := end
	for pos := lineEnd + 1; pos < len(src); {
		le := endOfLine(src, pos)
		line := string(src[pos:le])
		if strings.TrimSpace(line) == "" {
			pos = le + 1
			continue
		}
		lead := len(line) - len(strings.TrimLeft(line, " "))
		if indent == 0 {
			indent = lead
		}
		if lead < indent || indent == 0 {
			break
		}
		end = pos + len(strings.TrimRight(line, "\r"))
		pos = le + 1
	}
	// A comment on the header line is inside the replaced range only when
	// content lines follow it; then it is written back.
	if i := strings.Index(header, "#"); i > 0 && end > headerEnd {
		comment = strings.TrimSpace(header[i:])
	}
	return end, indent, comment
}

// scanPlain returns the end of the plain scalar at off whose value is want,
// following it onto further lines when it continues there.
func scanPlain(src []byte, off int, want string, flow bool) (int, bool) {
	lineEnd := endOfLine(src, off)
	end := plainLineEnd(src, off, lineEnd, flow)
	value := string(src[off:end])
	if value == want {
		return end, true
	}
	// A multi-line plain scalar: lines fold into spaces, empty lines into
	// line breaks.
	empties := 0
	for pos := lineEnd + 1; pos < len(src) && len(value) < len(want); {
		le := endOfLine(src, pos)
		first := pos
		for first < le && (src[first] == ' ' || src[first] == '\t') {
			first++
		}
		e := plainLineEnd(src, first, le, flow)
		text := string(src[first:e])
		switch {
		case text == "" && (first == le || src[first] == '\r'):
			empties++
		case text == "":
			return 0, false
		default:
			if empties == 0 {
				value += " " + text
			} else {
				value += strings.Repeat("\n", empties) + text
			}
			empties = 0
			end = e
			if value == want {
				return end, true
			}
		}
		pos = le + 1
	}
	return 0, false
}

// plainLineEnd returns where a plain scalar's text on the line [off,
// lineEnd) ends: before a comment, a flow indicator in flow context, and
// trailing blanks.
func plainLineEnd(src []byte, off, lineEnd int, flow bool) int {
	end := lineEnd
	for i := off; i < lineEnd; i++ {
		c := src[i]
		if c == '\r' || (c == '#' && i > off && (src[i-1] == ' ' || src[i-1] == '\t')) ||
			(flow && strings.IndexByte(",[]{}", c) >= 0) {
			end = i
			break
		}
	}
	for end > off && (src[end-1] == ' ' || src[end-1] == '\t') {
		end--
	}
	return end
}

func endOfLine(src []byte, off int) int {
	if i := bytes.IndexByte(src[off:], '\n'); i >= 0 {
		return off + i
	}
	return len(src)
}

// lineStarts returns the offset of every line's first byte.
func lineStarts(src []byte) []int {
	starts := []int{0}
	for i, c := range src {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// runeOffset returns the byte offset of the col-th character of line (the
// YAML parser counts columns in characters).
func runeOffset(line []byte, col int) int {
	off := 0
	for i := 0; i < col && off < len(line); i++ {
		_, size := utf8.DecodeRune(line[off:])
		off += size
	}
	return off
}

// renderYAMLScalar writes v as YAML text to replace the scalar at target,
// keeping the scalar's quoting style when v is a string.
func renderYAMLScalar(v any, target yamlTarget, sp yamlSpan, newline string) (string, error) {
	prefix := ""
	if sp.anchor != "" {
		prefix = "&" + sp.anchor + " "
	}
	suffix := ""
	if sp.headerComment != "" {
		suffix = " " + sp.headerComment
	}
	style := target.node.Style &^ yaml.TaggedStyle
	s, isString := v.(string)
	if !isString {
		text, err := yamlNonString(v)
		return prefix + text + suffix, err
	}
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		return prefix + doubleQuoted(s) + suffix, nil
	case style&yaml.SingleQuotedStyle != 0 && printableLine(s):
		return prefix + "'" + strings.ReplaceAll(s, "'", "''") + "'" + suffix, nil
	case style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 && strings.Contains(s, "\n") && !target.flow:
		indent := sp.blockIndent
		if indent <= target.indent {
			indent = target.indent + 2
		}
		if text, ok := literalBlock(s, indent, newline); ok {
			return prefix + insertComment(text, suffix, newline), nil
		}
		return prefix + doubleQuoted(s) + suffix, nil
	default:
		return prefix + inlineString(s, target.flow) + suffix, nil
	}
}

// yamlNonString renders numbers, booleans, null, and mappings or sequences
// (as JSON, which YAML reads as a flow collection).
func yamlNonString(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "null", nil
	case bool:
		return strconv.FormatBool(t), nil
	default:
		text, err := jsonText(t)
		if err != nil {
			return "", fmt.Errorf("render the value: %w", err)
		}
		return text, nil
	}
}

// inlineString renders s on one line: plain when YAML reads it back as the
// same string, else quoted.
func inlineString(s string, flow bool) string {
	if !strings.ContainsAny(s, "\n\r") && (!flow || !strings.ContainsAny(s, ",[]{}#")) {
		if out, err := yaml.Marshal(s); err == nil {
			text := strings.TrimSuffix(string(out), "\n")
			if !strings.Contains(text, "\n") && (text == s || strings.HasPrefix(text, `"`) || strings.HasPrefix(text, "'")) {
				return text
			}
		}
	}
	return doubleQuoted(s)
}

// doubleQuoted renders s as a double-quoted scalar; JSON's escapes are a
// subset of YAML's.
func doubleQuoted(s string) string {
	text, _ := jsonText(s)
	return text
}

// printableLine reports whether s can sit in a single-quoted scalar: one
// line of printable characters.
func printableLine(s string) bool {
	for _, r := range s {
		if r == '\n' || r == '\r' || (r < ' ' && r != '\t') || r == 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}

// literalBlock renders s as a literal block scalar (|) whose content is
// indented by indent spaces, with the chomping indicator that keeps its
// trailing line breaks. It declines strings a block cannot hold as they are.
func literalBlock(s string, indent int, newline string) (string, bool) {
	chomp := "-"
	body := s
	switch {
	case strings.HasSuffix(s, "\n\n"):
		chomp, body = "+", strings.TrimSuffix(s, "\n")
	case strings.HasSuffix(s, "\n"):
		chomp, body = "", strings.TrimSuffix(s, "\n")
	}
	if body == "" || strings.HasPrefix(body, " ") || strings.HasPrefix(body, "\t") || strings.Contains(body, "\r") {
		return "", false
	}
	for _, r := range body {
		if (r < ' ' && r != '\t' && r != '\n') || r == 0x7f {
			return "", false
		}
	}
	pad := strings.Repeat(" ", indent)
	var b strings.Builder
	b.WriteString("|" + chomp)
	for _, line := range strings.Split(body, "\n") {
		b.WriteString(newline)
		if line != "" {
			b.WriteString(pad + line)
		}
	}
	return b.String(), true
}

// insertComment puts a header comment back after a block scalar's header.
func insertComment(block, comment, newline string) string {
	if comment == "" {
		return block
	}
	header, rest, _ := strings.Cut(block, newline)
	return header + comment + newline + rest
}

// checkYAMLEdit decodes the original and the edited document and checks
// that they differ by exactly the changes.
func checkYAMLEdit(before, after []byte, changes []keyChange) error {
	var want, got any
	if err := yaml.Unmarshal(before, &want); err != nil {
		return fmt.Errorf("parse the file as YAML: %w", err)
	}
	if err := yaml.Unmarshal(after, &got); err != nil {
		return fmt.Errorf("edit the file in place: the result does not parse (%v): rewrite the values on one line and report this", err)
	}
	want = yamlPlain(want)
	for i, c := range changes {
		var err error
		if want, err = setPlainPath(want, c.parts, yamlPlain(c.value), false); err != nil {
			return &keyChangeError{index: i, err: err}
		}
	}
	if !reflect.DeepEqual(want, yamlPlain(got)) {
		return fmt.Errorf("edit the file in place: the change would alter other values too (is an updated value an anchor used elsewhere?): update the values it is used for separately")
	}
	return nil
}

// yamlPlain converts a value decoded by the YAML parser to the plain forms
// plainValue produces, so the two compare equal when they are.
func yamlPlain(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = yamlPlain(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = yamlPlain(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = yamlPlain(e)
		}
		return t
	case int:
		return int64(t)
	case uint64:
		return float64(t)
	case float32:
		return float64(t)
	case time.Time:
		return t.UTC()
	default:
		return v
	}
}

// limitList shortens a list for a message.
func limitList(items []string, n int) []string {
	if len(items) <= n {
		return items
	}
	return append(items[:n:n], fmt.Sprintf("… %d more", len(items)-n))
}
