package image

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
)

func ptr[T any](v T) *T { return &v }

func TestTrimRepoURL(t *testing.T) {
	tests := []struct {
		in, repo, removed string
	}{
		{"ghcr.io/example/app", "ghcr.io/example/app", ""},
		{"registry.com/service-image:1.0.0", "registry.com/service-image", "1.0.0"},
		{"localhost:5000/app", "localhost:5000/app", ""},
		{"localhost:5000/app:latest", "localhost:5000/app", "latest"},
		{"nginx", "nginx", ""},
		{"nginx:1.25", "nginx", "1.25"},
		{"ghcr.io/example/app@sha256:abc", "ghcr.io/example/app", "sha256:abc"},
		{" ghcr.io/example/app ", "ghcr.io/example/app", ""},
	}
	for _, tc := range tests {
		repo, removed := TrimRepoURL(tc.in)
		if repo != tc.repo || removed != tc.removed {
			t.Errorf("TrimRepoURL(%q) = %q, %q; want %q, %q", tc.in, repo, removed, tc.repo, tc.removed)
		}
	}
}

func TestCompileRejectsInvalidSubscriptions(t *testing.T) {
	tests := []struct {
		name    string
		sub     *v1alpha1.ImageSubscription
		wantMsg string
	}{
		{"nil", nil, "missing"},
		{"empty repoURL", &v1alpha1.ImageSubscription{}, "repoURL is empty"},
		{"bad repoURL", &v1alpha1.ImageSubscription{RepoURL: "Registry.example.com/UPPER CASE"}, "not an image repository"},
		{"bad semver constraint", &v1alpha1.ImageSubscription{RepoURL: "r.io/app", Constraint: "not a constraint!!"}, "not a valid semver constraint"},
		{"bad deprecated semverConstraint", &v1alpha1.ImageSubscription{RepoURL: "r.io/app", SemverConstraint: ">>1"}, "not a valid semver constraint"},
		{"digest without tag", &v1alpha1.ImageSubscription{RepoURL: "r.io/app",
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyDigest}, "constraint is empty"},
		{"digest with a range", &v1alpha1.ImageSubscription{RepoURL: "r.io/app",
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyDigest, Constraint: "^1.0.0"}, "is not a tag"},
		{"unknown strategy", &v1alpha1.ImageSubscription{RepoURL: "r.io/app", ImageSelectionStrategy: "Newest"}, "not known"},
		{"bad allow regex", &v1alpha1.ImageSubscription{RepoURL: "r.io/app", AllowTagsRegexes: []string{"("}}, "allowTagsRegexes"},
		{"bad allow regex, other spelling", &v1alpha1.ImageSubscription{RepoURL: "r.io/app", AllowTagsRegex: []string{"[a"}}, "allowTagsRegexes"},
		{"bad deprecated allowTags", &v1alpha1.ImageSubscription{RepoURL: "r.io/app", AllowTags: "(("}, "allowTagsRegexes"},
		{"bad ignore regex", &v1alpha1.ImageSubscription{RepoURL: "r.io/app", IgnoreTagsRegexes: []string{"*"}}, "ignoreTagsRegexes"},
		{"platform without arch", &v1alpha1.ImageSubscription{RepoURL: "r.io/app", Platform: "linux"}, "os/arch"},
		{"platform with empty part", &v1alpha1.ImageSubscription{RepoURL: "r.io/app", Platform: "linux//v7"}, "os/arch"},
		{"platform too long", &v1alpha1.ImageSubscription{RepoURL: "r.io/app", Platform: "a/b/c/d"}, "os/arch"},
		{"negative discoveryLimit", &v1alpha1.ImageSubscription{RepoURL: "r.io/app", DiscoveryLimit: -1}, "discoveryLimit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compile(tc.sub)
			if !errors.Is(err, discovery.ErrInvalid) {
				t.Fatalf("compile error = %v, want kind ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
		})
	}
}

func TestCompileDefaults(t *testing.T) {
	s, err := compile(&v1alpha1.ImageSubscription{RepoURL: "registry.com/service-image:1.0.0", SemverConstraint: "^1", Constraint: "^2"})
	if err != nil {
		t.Fatal(err)
	}
	if s.strategy != v1alpha1.ImageSelectionStrategySemVer || !s.strict || s.limit != 20 {
		t.Errorf("defaults: strategy %q strict %v limit %d; want SemVer, true, 20", s.strategy, s.strict, s.limit)
	}
	if s.repoURL != "registry.com/service-image" || s.stripped != "1.0.0" {
		t.Errorf("repoURL %q stripped %q; want the tag removed", s.repoURL, s.stripped)
	}
	if s.constraint.String() != "^2" {
		t.Errorf("constraint %q; constraint must win over semverConstraint", s.constraint)
	}
}

func TestCandidates(t *testing.T) {
	tags := []string{
		"1.0.0", "latest", "v1.3.0", "2.0.0-rc.1", "1.4", "2.0.0", "1.2.0", "1.10.0",
		"nightly-20240101", "nightly-20231231", "nightly-20240315", "1.1.0", "1.1.0", "01.1.0",
	}
	tests := []struct {
		name string
		sub  v1alpha1.ImageSubscription
		want []string
	}{
		{"semver: strict versions, greatest first", v1alpha1.ImageSubscription{},
			[]string{"2.0.0", "2.0.0-rc.1", "1.10.0", "v1.3.0", "1.2.0", "1.1.0", "1.0.0"}},
		{"semver: non-strict admits 1.4", v1alpha1.ImageSubscription{StrictSemvers: ptr(false), Constraint: "^1.0.0"},
			[]string{"1.10.0", "1.4", "v1.3.0", "1.2.0", "1.1.0", "01.1.0", "1.0.0"}},
		{"semver: constraint", v1alpha1.ImageSubscription{Constraint: ">=1.2.0, <2.0.0"},
			[]string{"1.10.0", "v1.3.0", "1.2.0"}},
		{"semver: deprecated semverConstraint", v1alpha1.ImageSubscription{SemverConstraint: "~1.1"},
			[]string{"1.1.0"}},
		{"semver: nothing satisfies", v1alpha1.ImageSubscription{Constraint: "^3.0.0"}, []string{}},
		{"semver: allowTagsRegexes", v1alpha1.ImageSubscription{AllowTagsRegexes: []string{`^1\.`}},
			[]string{"1.10.0", "1.2.0", "1.1.0", "1.0.0"}},
		{"semver: allowTagsRegex (other spelling)", v1alpha1.ImageSubscription{AllowTagsRegex: []string{`^1\.`}},
			[]string{"1.10.0", "1.2.0", "1.1.0", "1.0.0"}},
		{"semver: allow matches any of several", v1alpha1.ImageSubscription{AllowTagsRegexes: []string{`^2\.0\.0$`, `^1\.0`}},
			[]string{"2.0.0", "1.0.0"}},
		{"semver: deprecated allowTags", v1alpha1.ImageSubscription{AllowTags: `^v`},
			[]string{"v1.3.0"}},
		{"semver: ignoreTagsRegexes", v1alpha1.ImageSubscription{IgnoreTagsRegexes: []string{`-rc`, `^1\.1`}},
			[]string{"2.0.0", "v1.3.0", "1.2.0", "1.0.0"}},
		{"semver: ignoreTagsRegex (other spelling)", v1alpha1.ImageSubscription{IgnoreTagsRegex: []string{`-rc`}},
			[]string{"2.0.0", "1.10.0", "v1.3.0", "1.2.0", "1.1.0", "1.0.0"}},
		{"semver: deprecated ignoreTags are literal", v1alpha1.ImageSubscription{IgnoreTags: []string{"2.0.0", "1.*"}},
			[]string{"2.0.0-rc.1", "1.10.0", "v1.3.0", "1.2.0", "1.1.0", "1.0.0"}},
		{"lexical: greatest string first", v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyLexical, AllowTagsRegexes: []string{`^nightly-`}},
			[]string{"nightly-20240315", "nightly-20240101", "nightly-20231231"}},
		{"lexical: ignores constraint and semver", v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyLexical, Constraint: "^9", IgnoreTagsRegexes: []string{`\d`}},
			[]string{"latest"}},
		{"newest build: filtered only", v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyNewestBuild, AllowTagsRegexes: []string{`^nightly-`}},
			[]string{"nightly-20231231", "nightly-20240101", "nightly-20240315"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.sub.RepoURL = "r.io/app"
			s, err := compile(&tc.sub)
			if err != nil {
				t.Fatal(err)
			}
			got := s.candidates(tags)
			if !slices.Equal(got, tc.want) {
				t.Errorf("candidates = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPlatformMatches(t *testing.T) {
	tests := []struct {
		constraint        string
		os, arch, variant string
		want              bool
	}{
		{"linux/amd64", "linux", "amd64", "", true},
		{"linux/amd64", "linux", "arm64", "", false},
		{"linux/amd64", "windows", "amd64", "", false},
		{"linux/arm/v7", "linux", "arm", "v7", true},
		{"linux/arm/v7", "linux", "arm", "v6", false},
		{"linux/arm", "linux", "arm", "v7", false},
		{"linux/arm64", "linux", "arm64", "v8", true},
		{"linux/arm64/v8", "linux", "arm64", "", true},
		{"linux/arm64/v9", "linux", "arm64", "", false},
	}
	for _, tc := range tests {
		p, err := parsePlatform(tc.constraint)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.matches(tc.os, tc.arch, tc.variant); got != tc.want {
			t.Errorf("%s matches %s/%s/%s = %v, want %v", tc.constraint, tc.os, tc.arch, tc.variant, got, tc.want)
		}
	}
}
