package image

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
)

// selector is an image subscription compiled for one poll: its repository,
// strategy and tag filters, checked before any request is made.
type selector struct {
	repoURL    string // as written, minus a trailing tag or digest
	repo       name.Repository
	stripped   string // the tag or digest removed from repoURL, if any
	strategy   v1alpha1.ImageSelectionStrategy
	constraint *semver.Constraints // SemVer only
	mutableTag string              // Digest only
	strict     bool
	allow      []*regexp.Regexp
	ignore     []*regexp.Regexp
	ignoreTags []string // deprecated ignoreTags: literal tags
	platform   *platform
	limit      int
	cacheByTag bool
	insecure   bool
	// deprecated lists the deprecated fields in use, for a warning.
	deprecated []string
}

// platform is an os/arch[/variant] constraint.
type platform struct{ os, arch, variant string }

func (p *platform) String() string {
	if p.variant == "" {
		return p.os + "/" + p.arch
	}
	return p.os + "/" + p.arch + "/" + p.variant
}

// matches reports whether an index entry's platform satisfies p. Variants
// must be equal, except that arm64 without a variant and arm64/v8 are the
// same platform (as container runtimes treat them).
func (p *platform) matches(os, arch, variant string) bool {
	if p.os != os || p.arch != arch {
		return false
	}
	if arch == "arm64" {
		norm := func(v string) string { return cmp.Or(v, "v8") }
		return norm(p.variant) == norm(variant)
	}
	return p.variant == variant
}

func parsePlatform(s string) (*platform, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return nil, discovery.NewError(discovery.ErrInvalid,
			"platform %q is not valid: write it os/arch or os/arch/variant, e.g. \"linux/amd64\" or \"linux/arm/v7\"", s)
	}
	p := &platform{os: parts[0], arch: parts[1]}
	if len(parts) == 3 {
		p.variant = parts[2]
	}
	return p, nil
}

// TrimRepoURL returns an image repository URL without a trailing tag or
// digest ("registry.example.com/app:1.0.0" → "registry.example.com/app"),
// and what it removed. Kargo v1.0 examples wrote repoURLs with a tag; the
// discoverer reports results under the trimmed URL, so code that matches
// results to subscriptions should trim the subscription's URL the same way.
func TrimRepoURL(repoURL string) (repo, removed string) {
	s := strings.TrimSpace(repoURL)
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return s[:i], s[i+1:]
	}
	// A colon after the last slash starts a tag; one before it is a port.
	slash := strings.LastIndex(s, "/")
	if i := strings.LastIndex(s, ":"); i > slash {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// compile checks sub and turns it into a selector. Every error is of kind
// ErrInvalid: the subscription cannot work until it is changed.
func compile(sub *v1alpha1.ImageSubscription) (*selector, error) {
	if sub == nil {
		return nil, discovery.NewError(discovery.ErrInvalid, "image subscription is missing")
	}
	s := &selector{
		strategy:   cmp.Or(sub.ImageSelectionStrategy, v1alpha1.ImageSelectionStrategySemVer),
		strict:     sub.IsStrictSemvers(),
		limit:      int(v1alpha1.EffectiveDiscoveryLimit(sub.DiscoveryLimit)),
		cacheByTag: sub.CacheByTag,
		insecure:   sub.InsecureSkipTLSVerify,
	}
	if s.limit < 1 {
		return nil, discovery.NewError(discovery.ErrInvalid,
			"discoveryLimit %d is not valid: set it between 1 and %d, or remove it for the default of %d",
			sub.DiscoveryLimit, v1alpha1.MaxDiscoveryLimit, v1alpha1.DefaultDiscoveryLimit)
	}
	s.repoURL, s.stripped = TrimRepoURL(sub.RepoURL)
	if s.repoURL == "" {
		return nil, discovery.NewError(discovery.ErrInvalid,
			"repoURL is empty: set it to the image repository, e.g. ghcr.io/example/app")
	}
	nameOpts := []name.Option{name.WeakValidation}
	if s.insecure {
		// Allows plain HTTP for hosts other than localhost and 127.0.0.1,
		// which go-containerregistry already treats as insecure.
		nameOpts = append(nameOpts, name.Insecure)
	}
	repo, err := name.NewRepository(s.repoURL, nameOpts...)
	if err != nil {
		return nil, &discovery.Error{Kind: discovery.ErrInvalid, Err: err, Msg: fmt.Sprintf(
			"repoURL %q is not an image repository: write it as registry host (and port) and path, "+
				"e.g. ghcr.io/example/app, without a tag", sub.RepoURL)}
	}
	s.repo = repo
	if s.platform, err = parsePlatform(sub.Platform); err != nil {
		return nil, err
	}

	constraint := sub.EffectiveConstraint()
	if sub.Constraint == "" && sub.SemverConstraint != "" {
		s.deprecated = append(s.deprecated, "semverConstraint")
	}
	switch s.strategy {
	case v1alpha1.ImageSelectionStrategySemVer:
		if constraint != "" {
			if s.constraint, err = semver.NewConstraint(constraint); err != nil {
				return nil, &discovery.Error{Kind: discovery.ErrInvalid, Err: err, Msg: fmt.Sprintf(
					"constraint %q is not a valid semver constraint: write one such as \"^1.2.0\" or \">=1.0.0, <2.0.0\"",
					constraint)}
			}
		}
	case v1alpha1.ImageSelectionStrategyDigest:
		if constraint == "" {
			return nil, discovery.NewError(discovery.ErrInvalid,
				"imageSelectionStrategy Digest follows one tag, but constraint is empty: set constraint to that tag, e.g. \"latest\"")
		}
		if !tagPattern.MatchString(constraint) {
			return nil, discovery.NewError(discovery.ErrInvalid,
				"constraint %q is not a tag: with imageSelectionStrategy Digest, constraint names the tag to follow, e.g. \"latest\"",
				constraint)
		}
		s.mutableTag = constraint
	case v1alpha1.ImageSelectionStrategyLexical, v1alpha1.ImageSelectionStrategyNewestBuild:
	default:
		return nil, discovery.NewError(discovery.ErrInvalid,
			"imageSelectionStrategy %q is not known: use SemVer (the default), Lexical, Digest or NewestBuild", s.strategy)
	}

	allow := slices.Concat(sub.AllowTagsRegexes, sub.AllowTagsRegex)
	if sub.AllowTags != "" {
		allow = append(allow, sub.AllowTags)
		s.deprecated = append(s.deprecated, "allowTags")
	}
	if s.allow, err = compileRegexps("allowTagsRegexes", allow); err != nil {
		return nil, err
	}
	if s.ignore, err = compileRegexps("ignoreTagsRegexes", slices.Concat(sub.IgnoreTagsRegexes, sub.IgnoreTagsRegex)); err != nil {
		return nil, err
	}
	if len(sub.IgnoreTags) > 0 {
		s.ignoreTags = sub.IgnoreTags
		s.deprecated = append(s.deprecated, "ignoreTags")
	}
	return s, nil
}

// tagPattern is the OCI distribution grammar of a tag.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

func compileRegexps(field string, exprs []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(exprs))
	for _, e := range exprs {
		re, err := regexp.Compile(e)
		if err != nil {
			return nil, &discovery.Error{Kind: discovery.ErrInvalid, Err: err, Msg: fmt.Sprintf(
				"%s: %q is not a valid regular expression (Go RE2 syntax): fix or remove it", field, e)}
		}
		out = append(out, re)
	}
	return out, nil
}

// admits reports whether tag passes the allow and ignore filters and, for
// SemVer, parses as a version that satisfies the constraint.
func (s *selector) admits(tag string) bool {
	if slices.Contains(s.ignoreTags, tag) {
		return false
	}
	for _, re := range s.ignore {
		if re.MatchString(tag) {
			return false
		}
	}
	if len(s.allow) > 0 && !slices.ContainsFunc(s.allow, func(re *regexp.Regexp) bool { return re.MatchString(tag) }) {
		return false
	}
	if s.strategy == v1alpha1.ImageSelectionStrategySemVer {
		v := parseSemver(tag, s.strict)
		return v != nil && (s.constraint == nil || s.constraint.Check(v))
	}
	return true
}

// parseSemver parses tag as a semantic version; strict demands all of
// major, minor and patch (a leading "v" is allowed either way).
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

// candidates filters tags and orders them best first for SemVer (greatest
// version; equal versions by the greater original string) and Lexical
// (greatest string). NewestBuild's order needs build dates, so its tags are
// only filtered. Duplicates, which a paging registry may send, are dropped.
func (s *selector) candidates(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if s.admits(t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	switch s.strategy {
	case v1alpha1.ImageSelectionStrategySemVer:
		versions := make(map[string]*semver.Version, len(out))
		for _, t := range out {
			versions[t] = parseSemver(t, s.strict)
		}
		slices.SortStableFunc(out, func(a, b string) int {
			if c := versions[b].Compare(versions[a]); c != 0 {
				return c
			}
			return strings.Compare(b, a)
		})
	case v1alpha1.ImageSelectionStrategyLexical:
		slices.Reverse(out)
	}
	return out
}

// describeFilters summarises the filters for a no-match message.
func (s *selector) describeFilters() string {
	var parts []string
	if s.constraint != nil {
		parts = append(parts, fmt.Sprintf("constraint %q", s.constraint.String()))
	}
	if s.strategy == v1alpha1.ImageSelectionStrategySemVer {
		if s.strict {
			parts = append(parts, "semantic versions with major, minor and patch (strictSemvers)")
		} else {
			parts = append(parts, "semantic versions")
		}
	}
	if len(s.allow) > 0 {
		parts = append(parts, "allowTagsRegexes")
	}
	if len(s.ignore) > 0 || len(s.ignoreTags) > 0 {
		parts = append(parts, "ignoreTagsRegexes/ignoreTags")
	}
	if len(parts) == 0 {
		return "the subscription's filters"
	}
	return strings.Join(parts, ", ")
}
