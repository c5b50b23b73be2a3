package steps

import (
	"fmt"
	"path"
	"strings"
)

// ignoreRules is a list of .gitignore-style patterns, as the ignore field of
// copy, tar and untar takes them:
//
//   - one pattern a line; blank lines and lines starting with # are skipped
//     (write \# for a literal #); surrounding spaces are trimmed;
//   - a leading ! re-includes what an earlier pattern excluded (\! for a
//     literal !);
//   - a trailing / matches directories only;
//   - a pattern without a / (other than a trailing one) matches a name at
//     any depth; one with a / is anchored to the root (a leading / only
//     anchors);
//   - * ? and [...] match within one path element, ** matches any number of
//     elements: **/x, a/**/b, a/**;
//   - the last pattern that matches decides.
type ignoreRules struct {
	patterns []ignorePattern
}

type ignorePattern struct {
	negate   bool
	dirOnly  bool
	anchored bool
	segments []string
}

// defaultIgnore is what copy, tar and untar ignore before the user's own
// patterns, which may re-include it with !.git/.
const defaultIgnore = ".git"

// parseIgnoreRules parses the patterns of text after the given defaults. A
// pattern that does not compile is an error naming its line in field.
func parseIgnoreRules(field, text string, defaults ...string) (*ignoreRules, error) {
	r := &ignoreRules{}
	for _, d := range defaults {
		p, _ := parseIgnorePattern(d)
		r.patterns = append(r.patterns, p)
	}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, err := parseIgnorePattern(line)
		if err != nil {
			return nil, terminalf("%s line %d %q: %v: fix the pattern (the syntax is that of .gitignore)", field, i+1, line, err)
		}
		r.patterns = append(r.patterns, p)
	}
	return r, nil
}

func parseIgnorePattern(line string) (ignorePattern, error) {
	var p ignorePattern
	switch {
	case strings.HasPrefix(line, "!"):
		p.negate = true
		line = line[1:]
	case strings.HasPrefix(line, `\!`), strings.HasPrefix(line, `\#`):
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		p.dirOnly = true
		line = strings.TrimRight(line, "/")
	}
	if strings.Contains(line, "/") {
		p.anchored = true
		line = strings.TrimLeft(line, "/")
	}
	if line == "" {
		return p, fmt.Errorf("the pattern is empty")
	}
	p.segments = strings.Split(line, "/")
	for _, s := range p.segments {
		if s == "**" {
			continue
		}
		if _, err := path.Match(s, ""); err != nil {
			return p, err
		}
	}
	return p, nil
}

// match reports whether the rules exclude rel, a slash-separated path
// relative to the root the patterns apply to, judging rel alone. Walkers
// call it for every entry and skip excluded directories.
func (r *ignoreRules) match(rel string, isDir bool) bool {
	if r == nil {
		return false
	}
	names := strings.Split(rel, "/")
	excluded := false
	for _, p := range r.patterns {
		if p.dirOnly && !isDir {
			continue
		}
		var ok bool
		if p.anchored {
			ok = matchSegments(p.segments, names)
		} else {
			ok = matchSegments(p.segments, names[len(names)-1:])
		}
		if ok {
			excluded = !p.negate
		}
	}
	return excluded
}

// excluded reports whether rel is excluded either itself or because one of
// its parent directories is: for entries that arrive without a walk, such as
// those of an archive.
func (r *ignoreRules) excluded(rel string, isDir bool) bool {
	names := strings.Split(rel, "/")
	for i := 1; i < len(names); i++ {
		if r.match(strings.Join(names[:i], "/"), true) {
			return true
		}
	}
	return r.match(rel, isDir)
}

// matchSegments matches path elements against pattern elements, where **
// stands for any number of elements (at least one when it ends the
// pattern, so a/** matches what is inside a but not a itself).
func matchSegments(pattern, names []string) bool {
	if len(pattern) == 0 {
		return len(names) == 0
	}
	if pattern[0] == "**" {
		if len(pattern) == 1 {
			return len(names) > 0
		}
		for i := 0; i <= len(names); i++ {
			if matchSegments(pattern[1:], names[i:]) {
				return true
			}
		}
		return false
	}
	if len(names) == 0 {
		return false
	}
	if ok, _ := path.Match(pattern[0], names[0]); !ok {
		return false
	}
	return matchSegments(pattern[1:], names[1:])
}

// hasGlobMeta reports whether s holds a glob metacharacter.
func hasGlobMeta(s string) bool {
	return strings.ContainsAny(s, `*?[\`)
}
