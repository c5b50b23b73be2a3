package git

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
)

// subjectLimit is the longest commit subject kept, as in Kargo.
const subjectLimit = 80

// selector is a Git subscription compiled: everything that can be wrong
// with it is found before any network traffic.
type selector struct {
	strategy   v1alpha1.CommitSelectionStrategy
	branch     string
	limit      int
	strict     bool
	constraint *semver.Constraints
	allow      []*regexp.Regexp
	ignore     []*regexp.Regexp
	filter     *vm.Program
	include    []pathMatcher
	exclude    []pathMatcher
	// specKey identifies the fields that decide what is selected (all but
	// the URL and TLS setting): equal keys select equally from equal input.
	specKey string
	// cacheable is false when the expressionFilter may read the clock.
	cacheable bool
}

// pathMatcher reports whether a repository path matches one selector.
type pathMatcher func(p string) bool

// branchEnv and tagEnv are the variables an expressionFilter sees, as in
// Kargo: commit metadata for NewestFromBranch, tag metadata for the others.
func branchEnv(c *commitInfo) map[string]any {
	return map[string]any{
		"id":         c.id,
		"commitDate": c.date,
		"author":     c.author,
		"committer":  c.committer,
		"subject":    c.subject,
	}
}

func tagEnv(t *tagInfo) map[string]any {
	return map[string]any{
		"tag":         t.name,
		"id":          t.commit,
		"creatorDate": t.date,
		"author":      t.author,
		"committer":   t.committer,
		"subject":     t.subject,
		"tagger":      t.tagger,
		"annotation":  t.annotation,
	}
}

// newSelector compiles sub. Errors are discovery.ErrInvalid and name the
// field to fix.
func newSelector(sub *v1alpha1.GitSubscription) (*selector, error) {
	s := &selector{
		strategy: sub.CommitSelectionStrategy,
		branch:   strings.TrimSpace(sub.Branch),
		limit:    int(sub.DiscoveryLimit),
		strict:   sub.StrictSemvers == nil || *sub.StrictSemvers,
	}
	if s.strategy == "" {
		s.strategy = v1alpha1.CommitSelectionStrategyNewestFromBranch
	}
	spec := *sub
	spec.RepoURL, spec.InsecureSkipTLSVerify = "", false
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode subscription: %w", err)
	}
	s.specKey = hashHex(string(specJSON))
	s.cacheable = !strings.Contains(sub.ExpressionFilter, "now")
	switch s.strategy {
	case v1alpha1.CommitSelectionStrategyNewestFromBranch, v1alpha1.CommitSelectionStrategySemVer,
		v1alpha1.CommitSelectionStrategyLexical, v1alpha1.CommitSelectionStrategyNewestTag:
	default:
		return nil, discovery.NewError(discovery.ErrInvalid,
			"commitSelectionStrategy %q is not one of NewestFromBranch, SemVer, Lexical, NewestTag: pick one of them",
			s.strategy)
	}
	if s.limit <= 0 {
		s.limit = int(v1alpha1.DefaultDiscoveryLimit)
	}
	s.limit = min(s.limit, int(v1alpha1.MaxDiscoveryLimit))

	if sub.SemverConstraint != "" {
		if s.constraint, err = semver.NewConstraint(sub.SemverConstraint); err != nil {
			return nil, invalid("semverConstraint", sub.SemverConstraint, err,
				`write a constraint such as "^1.2.0" or ">=1.0.0, <2.0.0"`)
		}
	}
	allow := []struct {
		field string
		exprs []string
	}{
		{"allowTagsRegexes", sub.AllowTagsRegexes},
		{"allowTagsRegex", sub.AllowTagsRegex},
	}
	for _, a := range allow {
		for i, e := range a.exprs {
			re, err := regexp.Compile(e)
			if err != nil {
				return nil, invalid(fmt.Sprintf("%s[%d]", a.field, i), e, err, "fix the regular expression")
			}
			s.allow = append(s.allow, re)
		}
	}
	if sub.AllowTags != "" { // deprecated: one regular expression
		re, err := regexp.Compile(sub.AllowTags)
		if err != nil {
			return nil, invalid("allowTags", sub.AllowTags, err, "fix the regular expression (and move it to allowTagsRegexes)")
		}
		s.allow = append(s.allow, re)
	}
	for _, a := range []struct {
		field string
		exprs []string
	}{
		{"ignoreTagsRegexes", sub.IgnoreTagsRegexes},
		{"ignoreTagsRegex", sub.IgnoreTagsRegex},
	} {
		for i, e := range a.exprs {
			re, err := regexp.Compile(e)
			if err != nil {
				return nil, invalid(fmt.Sprintf("%s[%d]", a.field, i), e, err, "fix the regular expression")
			}
			s.ignore = append(s.ignore, re)
		}
	}
	for _, tag := range sub.IgnoreTags { // deprecated: literal tags
		s.ignore = append(s.ignore, regexp.MustCompile("^"+regexp.QuoteMeta(tag)+"$"))
	}
	if f := strings.TrimSpace(sub.ExpressionFilter); f != "" {
		env := tagEnv(&tagInfo{})
		fields := "tag, id, creatorDate, author, committer, subject, tagger, annotation"
		if s.strategy == v1alpha1.CommitSelectionStrategyNewestFromBranch {
			env = branchEnv(&commitInfo{})
			fields = "id, commitDate, author, committer, subject"
		}
		if s.filter, err = expr.Compile(f, expr.Env(env)); err != nil {
			return nil, invalid("expressionFilter", f, err,
				"fix the expression; with this commitSelectionStrategy it may use "+fields)
		}
	}
	for i, p := range sub.IncludePaths {
		m, err := compilePathSelector(p)
		if err != nil {
			return nil, invalid(fmt.Sprintf("includePaths[%d]", i), p, err, "fix the pattern")
		}
		s.include = append(s.include, m)
	}
	for i, p := range sub.ExcludePaths {
		m, err := compilePathSelector(p)
		if err != nil {
			return nil, invalid(fmt.Sprintf("excludePaths[%d]", i), p, err, "fix the pattern")
		}
		s.exclude = append(s.exclude, m)
	}
	return s, nil
}

// invalid is the ErrInvalid error of one field.
func invalid(field, value string, err error, fix string) error {
	return &discovery.Error{
		Kind: discovery.ErrInvalid,
		Msg:  fmt.Sprintf("%s %q is invalid: %s", field, value, fix),
		Err:  err,
	}
}

// hasPathFilters reports whether includePaths or excludePaths are set.
func (s *selector) hasPathFilters() bool {
	return len(s.include) > 0 || len(s.exclude) > 0
}

// matchesPaths reports whether a commit that changed paths passes
// includePaths and excludePaths: at least one of them must be included
// (every path is, without includePaths) and not excluded.
func (s *selector) matchesPaths(paths []string) bool {
	for _, p := range paths {
		if len(s.include) > 0 && !anyMatch(s.include, p) {
			continue
		}
		if anyMatch(s.exclude, p) {
			continue
		}
		return true
	}
	return false
}

func anyMatch(ms []pathMatcher, p string) bool {
	for _, m := range ms {
		if m(p) {
			return true
		}
	}
	return false
}

// tagAllowed applies the allow and ignore lists: an ignored tag never
// passes; with allow lists, a tag must match one of them.
func (s *selector) tagAllowed(tag string) bool {
	for _, re := range s.ignore {
		if re.MatchString(tag) {
			return false
		}
	}
	if len(s.allow) == 0 {
		return true
	}
	for _, re := range s.allow {
		if re.MatchString(tag) {
			return true
		}
	}
	return false
}

// tagCandidate reports whether tag passes the name filters of the
// strategy: the allow and ignore lists, and for SemVer, parsing (strictly
// when strictSemvers) and the constraint.
func (s *selector) tagCandidate(tag string) bool {
	if !s.tagAllowed(tag) {
		return false
	}
	if s.strategy != v1alpha1.CommitSelectionStrategySemVer {
		return true
	}
	v := parseSemver(tag, s.strict)
	return v != nil && (s.constraint == nil || s.constraint.Check(v))
}

// parseSemver parses tag as a semantic version, as Kargo does: leniently
// (a leading "v", missing minor or patch parts), or strictly X.Y.Z with an
// optional leading "v" and optional pre-release and build parts.
func parseSemver(tag string, strict bool) *semver.Version {
	v, err := semver.NewVersion(tag)
	if err != nil {
		return nil
	}
	if strict {
		if _, err := semver.StrictNewVersion(strings.TrimPrefix(tag, "v")); err != nil {
			return nil
		}
	}
	return v
}

// keep evaluates the expressionFilter against env; true without a filter.
// A result that is not a boolean is read as one ("true", "false", 1, 0),
// as Kargo does; anything else is ErrInvalid.
func (s *selector) keep(env map[string]any) (bool, error) {
	if s.filter == nil {
		return true, nil
	}
	out, err := expr.Run(s.filter, env)
	if err != nil {
		return false, &discovery.Error{Kind: discovery.ErrInvalid, Err: err,
			Msg: "expressionFilter failed to evaluate: fix the expression"}
	}
	if b, ok := out.(bool); ok {
		return b, nil
	}
	b, err := strconv.ParseBool(fmt.Sprint(out))
	if err != nil {
		return false, discovery.NewError(discovery.ErrInvalid,
			"expressionFilter must evaluate to true or false, but gave %v: make it a condition", out)
	}
	return b, nil
}

// activeFilters names the filters of s that can exclude commits or tags,
// for ErrNoMatch messages.
func (s *selector) activeFilters() string {
	var f []string
	if len(s.allow) > 0 || len(s.ignore) > 0 {
		f = append(f, "allow/ignore tag lists")
	}
	if s.strategy == v1alpha1.CommitSelectionStrategySemVer {
		if s.strict {
			f = append(f, "strictSemvers (only X.Y.Z tags)")
		} else {
			f = append(f, "semver parsing")
		}
		if s.constraint != nil {
			f = append(f, "semverConstraint")
		}
	}
	if s.filter != nil {
		f = append(f, "expressionFilter")
	}
	if len(s.include) > 0 {
		f = append(f, "includePaths")
	}
	if len(s.exclude) > 0 {
		f = append(f, "excludePaths")
	}
	return strings.Join(f, ", ")
}

// shortenSubject trims a subject to subjectLimit bytes, ending in "...",
// without splitting a UTF-8 sequence.
func shortenSubject(s string) string {
	if len(s) <= subjectLimit {
		return s
	}
	cut := subjectLimit - 3
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Path selectors, as Kargo reads includePaths and excludePaths.
const (
	globPrefix   = "glob:"
	regexPrefix  = "regex:"
	regexpPrefix = "regexp:"
)

// compilePathSelector compiles one includePaths or excludePaths entry: a
// glob ("glob:", with ** and {a,b}), a regular expression ("regex:" or
// "regexp:", matched anywhere in the path), or else a path that matches
// itself and everything under it.
func compilePathSelector(sel string) (pathMatcher, error) {
	switch {
	case strings.HasPrefix(sel, globPrefix):
		re, err := globRegexp(strings.TrimPrefix(sel, globPrefix))
		if err != nil {
			return nil, err
		}
		return re.MatchString, nil
	case strings.HasPrefix(sel, regexPrefix), strings.HasPrefix(sel, regexpPrefix):
		re, err := regexp.Compile(strings.TrimPrefix(strings.TrimPrefix(sel, regexpPrefix), regexPrefix))
		if err != nil {
			return nil, err
		}
		return re.MatchString, nil
	}
	base := path.Clean(strings.TrimPrefix(sel, "/"))
	if sel == "" {
		return nil, fmt.Errorf("empty path")
	}
	if base == "." {
		return func(string) bool { return true }, nil
	}
	return func(p string) bool {
		return p == base || strings.HasPrefix(p, base+"/")
	}, nil
}

// globRegexp translates a doublestar glob into an anchored regular
// expression: "*" and "?" stay within one path segment, a "**" segment
// spans any number of them (none included), "[…]" and "[!…]" are classes,
// "{a,b}" alternatives, and "\" escapes the next character.
func globRegexp(glob string) (*regexp.Regexp, error) {
	out := "^"
	rs := []rune(glob)
	depth := 0
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch c {
		case '*':
			j := i
			for j < len(rs) && rs[j] == '*' {
				j++
			}
			segStart := i == 0 || rs[i-1] == '/'
			segEnd := j == len(rs) || rs[j] == '/'
			switch {
			case j-i < 2 || !segStart || !segEnd:
				out += "[^/]*"
			case j == len(rs) && i == 0:
				out += ".*"
			case j == len(rs): // "…/**": the directory itself or anything under it
				out = strings.TrimSuffix(out, "/") + "(?:/.*)?"
			default: // "**/" at the start or "/**/" inside: zero or more directories
				out += "(?:.*/)?"
				j++ // the '/' is part of the group
			}
			i = j - 1
		case '?':
			out += "[^/]"
		case '\\':
			if i+1 >= len(rs) {
				return nil, fmt.Errorf("pattern ends with an escape")
			}
			i++
			out += regexp.QuoteMeta(string(rs[i]))
		case '[':
			end := i + 1
			if end < len(rs) && (rs[end] == '!' || rs[end] == '^') {
				end++
			}
			if end < len(rs) && rs[end] == ']' {
				end++
			}
			for end < len(rs) && rs[end] != ']' {
				end++
			}
			if end >= len(rs) {
				return nil, fmt.Errorf("unterminated character class")
			}
			body := rs[i+1 : end]
			class := "["
			if len(body) > 0 && (body[0] == '!' || body[0] == '^') {
				class += "^/"
				body = body[1:]
			}
			for _, r := range body {
				if r == '\\' || r == '[' || r == ']' || r == '^' {
					class += `\`
				}
				class += string(r)
			}
			out += class + "]"
			i = end
		case '{':
			depth++
			out += "(?:"
		case '}':
			if depth == 0 {
				return nil, fmt.Errorf("'}' without a matching '{'")
			}
			depth--
			out += ")"
		case ',':
			if depth > 0 {
				out += "|"
			} else {
				out += ","
			}
		default:
			out += regexp.QuoteMeta(string(c))
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("'{' without a matching '}'")
	}
	return regexp.Compile(out + "$")
}

// commitInfo is one commit as `git log` printed it.
type commitInfo struct {
	id        string
	date      time.Time
	author    string
	committer string
	subject   string
}

// tagInfo is one tag as `git for-each-ref` printed it.
type tagInfo struct {
	name       string
	commit     string
	date       time.Time // the tagger's date, or the commit's for lightweight tags
	author     string
	committer  string
	subject    string
	tagger     string
	annotation string
	semver     *semver.Version
}
