package promotion

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// maxSchemaMessages bounds the problems one config error lists.
const maxSchemaMessages = 5

var printer = message.NewPrinter(language.English)

// compileSchema compiles a step's config schema (draft 2020-12 unless it
// says otherwise in $schema).
func compileSchema(step string, raw []byte) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse schema of step %q: %w", step, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	url := "https://caravan.dev/schemas/steps/" + step + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("load schema of step %q: %w", step, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("compile schema of step %q: %w", step, err)
	}
	return s, nil
}

// validateConfig checks cfg, a step's evaluated config, against s. The
// error lists what is wrong by field path, e.g.
// `config.images[0].tag: got number, want string`.
func validateConfig(s *jsonschema.Schema, cfg []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(cfg))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	err = s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("config: %w", err)
	}
	var msgs []string
	seen := map[string]bool{}
	for _, leaf := range leafErrors(ve) {
		for _, m := range describeLeaf(s, leaf) {
			if !seen[m] {
				seen[m] = true
				msgs = append(msgs, m)
			}
		}
	}
	sort.Strings(msgs)
	if len(msgs) > maxSchemaMessages {
		msgs = append(msgs[:maxSchemaMessages], fmt.Sprintf("and %d more", len(msgs)-maxSchemaMessages))
	}
	return errors.New(strings.Join(msgs, "; "))
}

// leafErrors returns the errors that have no causes. Under a oneOf or anyOf
// that none of the alternatives matched, only the alternative with the
// fewest problems is kept: the one the author most likely meant.
func leafErrors(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	switch e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		var best []*jsonschema.ValidationError
		for _, c := range e.Causes {
			if l := leafErrors(c); best == nil || len(l) < len(best) {
				best = l
			}
		}
		return best
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leafErrors(c)...)
	}
	return out
}

// describeLeaf turns one validation error into messages that name fields.
func describeLeaf(root *jsonschema.Schema, e *jsonschema.ValidationError) []string {
	path := configPath(e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		out := make([]string, len(k.Missing))
		for i, m := range k.Missing {
			out[i] = fmt.Sprintf("%s: required field missing: set it", joinPath(path, m))
		}
		return out
	case *kind.AdditionalProperties:
		known := knownProperties(schemaAt(root, e.InstanceLocation))
		out := make([]string, len(k.Properties))
		for i, p := range k.Properties {
			msg := fmt.Sprintf("%s: unknown field", joinPath(path, p))
			if s := closest(p, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			out[i] = msg + ": remove it or correct its name"
		}
		return out
	}
	return []string{path + ": " + e.ErrorKind.LocalizedString(printer)}
}

// configPath renders an instance location as config.a.b[0].c.
func configPath(loc []string) string {
	var b strings.Builder
	b.WriteString("config")
	for _, tok := range loc {
		if _, err := strconv.Atoi(tok); err == nil {
			b.WriteString("[" + tok + "]")
			continue
		}
		b.WriteString("." + tok)
	}
	return b.String()
}

func joinPath(path, field string) string { return path + "." + field }

// schemaAt follows an instance location through the schema's properties
// and items, for suggestions; nil when it cannot tell.
func schemaAt(s *jsonschema.Schema, loc []string) *jsonschema.Schema {
	for _, tok := range loc {
		s = deref(s)
		if s == nil {
			return nil
		}
		if p, ok := s.Properties[tok]; ok {
			s = p
			continue
		}
		if _, err := strconv.Atoi(tok); err == nil {
			switch {
			case s.Items2020 != nil:
				s = s.Items2020
				continue
			case s.Items != nil:
				if item, ok := s.Items.(*jsonschema.Schema); ok {
					s = item
					continue
				}
			}
		}
		return nil
	}
	return deref(s)
}

func deref(s *jsonschema.Schema) *jsonschema.Schema {
	for i := 0; s != nil && s.Ref != nil && i < 32; i++ {
		s = s.Ref
	}
	return s
}

func knownProperties(s *jsonschema.Schema) []string {
	if s == nil {
		return nil
	}
	names := make([]string, 0, len(s.Properties))
	for n := range s.Properties {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// closest returns the candidate nearest to name when it is close enough to
// be a likely typo, else "".
func closest(name string, candidates []string) string {
	best, bestDist := "", max(2, len(name)/3)+1
	for _, c := range candidates {
		if c == name {
			continue
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
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
