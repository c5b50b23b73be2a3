package chart

// Reading a classic repository's index.yaml. Only entries[name][].version
// is needed, and index files of large public repositories run to tens of
// megabytes: decoding them whole into a YAML tree costs hundreds of
// megabytes and seconds of CPU. scanIndex reads the block-style YAML that
// Helm writes line by line instead, keeping nothing but the versions, and
// gives up on anything it does not fully understand (flow style, anchors,
// multi-line values where it matters, JSON indexes); decodeIndex, a complete
// YAML decoder, then reads the file instead.

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parseIndex returns the version of every entry of every chart of a Helm
// repository index, in file order. An entry without a version has "".
func parseIndex(b []byte) (map[string][]string, error) {
	if idx, ok := scanIndex(b); ok {
		return idx, nil
	}
	return decodeIndex(b)
}

// decodeIndex is parseIndex with a full YAML decoder.
func decodeIndex(b []byte) (map[string][]string, error) {
	var doc struct {
		Entries map[string][]struct {
			Version string `yaml:"version"`
		} `yaml:"entries"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		// YAML errors list one problem per line; conditions want one line.
		return nil, fmt.Errorf("decode index.yaml: %s", strings.Join(strings.Fields(err.Error()), " "))
	}
	out := make(map[string][]string, len(doc.Entries))
	for name, entries := range doc.Entries {
		versions := make([]string, len(entries))
		for i, e := range entries {
			versions[i] = e.Version
		}
		out[name] = versions
	}
	return out, nil
}

// Scanner states.
const (
	stateTop     = iota // in the top-level mapping
	stateEntries        // in entries: chart names at indentation n
	stateChart          // in a chart's sequence: items at indentation m
	stateItem           // in an item: keys at column c
)

// indexScanner holds scanIndex's position in the document.
type indexScanner struct {
	out   map[string][]string
	state int
	seen  bool // entries: was seen
	keyed bool // a top-level key was seen

	n, m, c int // indentation of chart names, of items, of item keys

	chart      string
	version    string
	hasVersion bool
	// afterScalar: the previous line ended with the version's value; a
	// deeper line now would continue it.
	afterScalar bool
	// inQuote is the quote of a skipped quoted scalar that goes on.
	inQuote byte
}

// scanIndex reads b as Helm writes index files. ok is false when b uses
// YAML it does not handle; the caller then decodes b fully.
func scanIndex(b []byte) (map[string][]string, bool) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if hasOddLineBreaks(b) {
		return nil, false
	}
	s := &indexScanner{out: map[string][]string{}, n: -1, m: -1}
	first := true
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if s.inQuote != 0 {
			end, closed := quoteEnd(string(line), 0, s.inQuote)
			if !closed {
				continue
			}
			s.inQuote = 0
			if rest := bytes.TrimLeft(line[end:], " \t"); len(rest) > 0 && rest[0] != '#' {
				return nil, false
			}
			continue
		}
		indent := 0
		for indent < len(line) && line[indent] == ' ' {
			indent++
		}
		content := string(line[indent:])
		if content == "" || content[0] == '#' {
			continue
		}
		if content[0] == '\t' {
			return nil, false
		}
		if first {
			first = false
			if indent == 0 && content == "---" {
				continue
			}
		}
		if indent == 0 && (strings.HasPrefix(content, "---") || strings.HasPrefix(content, "...") || content[0] == '%') {
			return nil, false
		}
		if s.afterScalar {
			s.afterScalar = false
			if indent > s.c {
				return nil, false
			}
		}
		if !s.line(indent, content) {
			return nil, false
		}
	}
	if s.inQuote != 0 {
		return nil, false
	}
	s.endChart()
	return s.out, true
}

// hasOddLineBreaks reports whether b breaks lines other than with "\n" or
// "\r\n": with a lone "\r", or with NEL, LS or PS, which YAML parsers
// also read as line breaks.
func hasOddLineBreaks(b []byte) bool {
	for rest := b; ; {
		i := bytes.IndexByte(rest, '\r')
		if i < 0 {
			break
		}
		if i+1 == len(rest) || rest[i+1] != '\n' {
			return true
		}
		rest = rest[i+1:]
	}
	return bytes.Contains(b, []byte("\u0085")) || bytes.Contains(b, []byte("\u2028")) || bytes.Contains(b, []byte("\u2029"))
}

// line handles one line that is neither blank nor a comment.
func (s *indexScanner) line(indent int, content string) bool {
	for {
		switch s.state {
		case stateTop:
			return s.top(indent, content)
		case stateEntries:
			if indent == 0 {
				s.state = stateTop
				continue
			}
			if s.n < 0 {
				s.n = indent
			}
			if indent != s.n || isDash(content) {
				return false
			}
			return s.chartKey(content)
		case stateChart:
			if indent == 0 {
				s.endChart()
				s.state = stateTop
				continue
			}
			if isDash(content) && indent >= s.n && (s.m < 0 || indent == s.m) {
				s.m = indent
				return s.item(indent, content)
			}
			if indent == s.n {
				s.endChart()
				s.state = stateEntries
				continue
			}
			return false
		case stateItem:
			if indent > s.c {
				return s.skip(content)
			}
			if indent == s.c {
				if isDash(content) { // a sequence under the previous key
					return s.skip(content)
				}
				return s.itemKey(content)
			}
			s.endItem()
			s.state = stateChart
			continue
		}
		return false
	}
}

// top handles a line of the top-level mapping.
func (s *indexScanner) top(indent int, content string) bool {
	if indent > 0 {
		// Before the first key, the document is not a mapping at column 0.
		return s.keyed && s.skip(content)
	}
	key, value, ok := splitKey(content)
	if !ok {
		return false
	}
	s.keyed = true
	if key != "entries" {
		return s.skip(content)
	}
	if s.seen {
		return false // a duplicate key: let the decoder report it
	}
	s.seen = true
	switch value {
	case "":
		s.state = stateEntries
		return true
	case "null", "~", "Null", "NULL", "{}":
		return true // no charts
	}
	return false
}

// chartKey starts the sequence of one chart.
func (s *indexScanner) chartKey(content string) bool {
	key, value, ok := splitKey(content)
	if !ok {
		return false
	}
	if _, dup := s.out[key]; dup {
		return false
	}
	s.out[key] = nil
	switch value {
	case "":
		s.chart, s.m = key, -1
		s.state = stateChart
		return true
	case "null", "~", "Null", "NULL", "[]":
		return true // no entries
	}
	return false
}

// item starts one entry of a chart: "- key: value" at indentation m.
func (s *indexScanner) item(indent int, content string) bool {
	rest := content[1:]
	spaces := len(rest) - len(strings.TrimLeft(rest, " "))
	if spaces == 0 || spaces == len(rest) {
		return false // "-" alone, or "-x"
	}
	s.c = indent + 1 + spaces
	s.version, s.hasVersion = "", false
	s.state = stateItem
	return s.itemKey(rest[spaces:])
}

// itemKey handles one key of an entry at column c.
func (s *indexScanner) itemKey(content string) bool {
	key, value, ok := splitKey(content)
	if !ok || key == "<<" {
		return false
	}
	if key != "version" {
		return s.skip(content)
	}
	if s.hasVersion {
		return false
	}
	v, ok := scalarValue(value)
	if !ok {
		return false
	}
	s.version, s.hasVersion, s.afterScalar = v, true, true
	return true
}

func (s *indexScanner) endItem() {
	if s.state == stateItem {
		s.out[s.chart] = append(s.out[s.chart], s.version)
		s.state = stateChart
	}
}

func (s *indexScanner) endChart() {
	s.endItem()
	s.chart = ""
}

// isDash reports whether content is a block sequence entry.
func isDash(content string) bool {
	return content == "-" || strings.HasPrefix(content, "- ")
}

// splitKey splits a block mapping line "key: value" into its key and its
// value with any comment removed. ok is false for anything but a plain or
// single-line quoted key followed by ":".
func splitKey(content string) (key, value string, ok bool) {
	var rest string
	switch content[0] {
	case '"', '\'':
		k, end, ok := quoted(content)
		if !ok {
			return "", "", false
		}
		rest = strings.TrimLeft(content[end:], " \t")
		if !strings.HasPrefix(rest, ":") {
			return "", "", false
		}
		key, rest = k, rest[1:]
	case '?', '&', '*', '!', '|', '>', '{', '[', '%', '@', '`', '-', ',', ']', '}', '#':
		return "", "", false
	default:
		i := keyEnd(content)
		if i < 0 {
			return "", "", false
		}
		key, rest = strings.TrimRight(content[:i], " \t"), content[i+1:]
	}
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return "", "", false
	}
	return key, stripComment(strings.Trim(rest, " \t")), true
}

// keyEnd returns the index of the ":" that ends a plain key: the first
// one followed by a space, a tab or the end of the line; -1 if none.
func keyEnd(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ':':
			if i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\t' {
				return i
			}
		case '#':
			if i > 0 && (s[i-1] == ' ' || s[i-1] == '\t') {
				return -1 // a comment before any ":"
			}
		}
	}
	return -1
}

// stripComment removes a trailing comment from a value that is not quoted
// (quoted values keep theirs for scalarValue to check).
func stripComment(v string) string {
	if v == "" || v[0] == '"' || v[0] == '\'' {
		return v
	}
	if v[0] == '#' {
		return ""
	}
	for i := 1; i < len(v); i++ {
		if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
			return strings.TrimRight(v[:i], " \t")
		}
	}
	return v
}

// scalarValue returns a one-line scalar value as YAML reads it into a
// string; ok is false for anything else (empty, multi-line, tagged,
// anchored, aliased, flow collections, block scalars).
func scalarValue(v string) (string, bool) {
	if v == "" {
		return "", false
	}
	switch v[0] {
	case '"', '\'':
		s, end, ok := quoted(v)
		if !ok {
			return "", false
		}
		rest := strings.TrimLeft(v[end:], " \t")
		if rest != "" && rest[0] != '#' {
			return "", false
		}
		return s, true
	case '&', '*', '!', '|', '>', '{', '[', '%', '@', '`', '?', ',', ']', '}':
		return "", false
	}
	if strings.Contains(v, ": ") || strings.HasSuffix(v, ":") {
		return "", false
	}
	switch v {
	case "null", "Null", "NULL", "~":
		return "", true
	}
	return v, true
}

// quoted reads the quoted scalar at the start of s and returns its value
// and the index just past its closing quote. ok is false when it does not
// close on this line or uses escapes other than \" and \\ in double quotes
// (a doubled quote is the one escape of single quotes).
func quoted(s string) (value string, end int, ok bool) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case q == '"' && c == '\\':
			if i+1 == len(s) || (s[i+1] != '"' && s[i+1] != '\\') {
				return "", 0, false
			}
			b.WriteByte(s[i+1])
			i++
		case c == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			b.WriteByte('\'')
			i++
		case c == q:
			return b.String(), i + 1, true
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

// skip handles a line the scanner does not read. A quoted scalar left open
// on it continues on the following lines whatever their indentation, so
// the scanner then skips to its closing quote. It returns false when the
// line might start something else that ignores indentation (a flow
// collection left open) or cannot be classified (a complex key, a quoted
// scalar opened at the start of a line, which could also continue a plain
// scalar).
func (s *indexScanner) skip(content string) bool {
	v := content
	for isDash(v) {
		v = strings.TrimLeft(v[1:], " ")
		if v == "" {
			return true
		}
	}
	switch v[0] {
	case '?':
		return false
	case '"', '\'':
		end, closed := quoteEnd(v, 1, v[0])
		if !closed {
			if v == content {
				return false
			}
			s.inQuote = v[0]
			return true
		}
		rest := strings.TrimLeft(v[end:], " ")
		if !strings.HasPrefix(rest, ":") {
			return true
		}
		v = rest[1:]
	case '{', '[':
		return balanced(v)
	default:
		i := keyEnd(v)
		if i < 0 {
			return true // a plain scalar or its continuation
		}
		v = v[i+1:]
	}
	v = strings.TrimLeft(v, " \t")
	// Skip node properties (tags and anchors) before the value.
	for v != "" && (v[0] == '!' || v[0] == '&') {
		i := strings.IndexAny(v, " \t")
		if i < 0 {
			return true
		}
		v = strings.TrimLeft(v[i:], " \t")
	}
	if v == "" {
		return true
	}
	switch v[0] {
	case '"', '\'':
		if _, closed := quoteEnd(v, 1, v[0]); !closed {
			s.inQuote = v[0]
		}
	case '{', '[':
		return balanced(v)
	}
	return true
}

// quoteEnd finds the quote q that closes a quoted scalar in s, scanning from
// index from, and returns the index just past it; closed is false when the
// scalar goes on past the end of s.
func quoteEnd(s string, from int, q byte) (end int, closed bool) {
	for i := from; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case s[i] == q:
			return i + 1, true
		}
	}
	return 0, false
}

// balanced reports whether the flow collection starting s closes on this
// line.
func balanced(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return true
			}
		case '"', '\'':
			end, closed := quoteEnd(s, i+1, s[i])
			if !closed {
				return false
			}
			i = end - 1
		}
	}
	return false
}
