package v1alpha1

import (
	"testing"
)

// seedWarehouse is the Warehouse of the seed document (Kargo v1.0 era),
// which Caravan must accept as written.
const seedWarehouse = `
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata:
  name: kargo-poc
  namespace: kargo-poc
spec:
  interval: 10s
  subscriptions:
  - image:
      repoURL: registry.com/service-image:1.0.0
      discoveryLimit: 5
      imageSelectionStrategy: SemVer
  - git:
      repoURL: https://github.com/service-cicd.git
      commitSelectionStrategy: SemVer
      strictSemvers: false
`

func TestValidateWarehouse(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		want     []string
	}{{
		name:     "seed document's Warehouse",
		manifest: seedWarehouse,
	}, {
		name: "every subscription type, fully specified",
		manifest: `
metadata: {name: w, namespace: p}
spec:
  shard: east
  interval: 1h30m
  freightCreationPolicy: Manual
  subscriptions:
  - name: app-image
    image:
      repoURL: ghcr.io/example/app
      imageSelectionStrategy: SemVer
      constraint: ">=1.0.0, <2.0.0"
      allowTagsRegexes: ["^v[0-9]+"]
      ignoreTagsRegexes: ["-rc[0-9]*$"]
      ignoreTags: ["v1.0.0"]
      platform: linux/arm64/v8
      discoveryLimit: 100
  - image:
      repoURL: nginx
      imageSelectionStrategy: Digest
      constraint: latest
  - image:
      repoURL: localhost:5000/team/app
      imageSelectionStrategy: Lexical
      allowTags: "^nightly-"
  - name: config
    git:
      repoURL: git@github.com:example/config.git
      branch: release/1.x
      includePaths: ["charts/app", "glob:**/*.yaml", "regex:^base/.*", "regexp:^env/(dev|prod)/"]
      excludePaths: ["glob:docs/*"]
      discoveryLimit: 1
  - git:
      repoURL: ssh://git@gitea.example.com:2222/team/other.git
      commitSelectionStrategy: NewestTag
      allowTagsRegex: ["^v"]
      ignoreTagsRegex: ["beta"]
  - chart:
      repoURL: https://charts.example.com
      name: nginx
      semverConstraint: ^1.2.0
  - chart:
      repoURL: https://charts.example.com
      name: redis
  - chart:
      repoURL: oci://registry.example.com/charts/nginx
  - my-artifact:
      name: releases
      config: {anything: [1, 2, 3]}
      discoveryLimit: 7`,
	}, {
		name: "discoveryLimit 0 and interval absent mean the defaults",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - git:
      repoURL: https://github.com/example/repo
      discoveryLimit: 0`,
	}, {
		name: "no subscriptions",
		manifest: `
metadata: {name: w}
spec:
  subscriptions: []`,
		want: []string{"spec.subscriptions: Required value: a Warehouse needs at least one subscription: add a git, image or chart subscription"},
	}, {
		name: "a subscription with nothing, and one with two kinds",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - name: empty
  - git: {repoURL: https://github.com/example/a}
    image: {repoURL: ghcr.io/example/a}`,
		want: []string{
			"spec.subscriptions[0]: Required value: a subscription needs exactly one of git, image or chart",
			"spec.subscriptions[1]: Forbidden: a subscription must set exactly one of git, image or chart but this one sets git and image",
		},
	}, {
		name: "subscription names: DNS labels, unique ignoring case",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - name: App_Image
    image: {repoURL: ghcr.io/example/a}
  - name: config
    git: {repoURL: https://github.com/example/a}
  - name: Config
    git: {repoURL: https://github.com/example/b}
  - my-type:
      name: config`,
		want: []string{
			"spec.subscriptions[0].name: a subscription name must be a DNS-1123 label",
			`spec.subscriptions[2].name: Duplicate value: "Config": already used at spec.subscriptions[1].name`,
			"spec.subscriptions[2].name: a subscription name must be a DNS-1123 label",
			`spec.subscriptions[3].my-type.name: Duplicate value: "config": already used at spec.subscriptions[1].name`,
		},
	}, {
		name: "the same repository twice",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - git: {repoURL: https://github.com/example/config.git}
  - git: {repoURL: "https://someone@GitHub.com/Example/Config/"}
  - image: {repoURL: nginx}
  - image: {repoURL: docker.io/library/nginx}
  - chart: {repoURL: https://charts.example.com, name: nginx}
  - chart: {repoURL: https://charts.example.com, name: nginx}
  - chart: {repoURL: https://charts.example.com, name: redis}
  - chart: {repoURL: oci://registry.example.com/charts/nginx}
  - chart: {repoURL: oci://Registry.Example.com/charts/nginx}`,
		want: []string{
			`spec.subscriptions[1].git.repoURL: Duplicate value: "https://someone@GitHub.com/Example/Config/": already used at spec.subscriptions[0].git.repoURL: a Warehouse may subscribe to a repository only once`,
			"spec.subscriptions[3].image.repoURL: already used at spec.subscriptions[2].image.repoURL",
			"spec.subscriptions[5].chart.repoURL: already used at spec.subscriptions[4].chart.repoURL",
			"spec.subscriptions[8].chart.repoURL: already used at spec.subscriptions[7].chart.repoURL",
		},
	}, {
		name: "bad URLs and branch",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - git: {repoURL: "ftp://example.com/repo", branch: "feature/"}
  - git: {repoURL: ""}
  - git: {}
  - image: {repoURL: "https://ghcr.io/example/app"}
  - chart: {repoURL: "charts.example.com", name: x}`,
		want: []string{
			`spec.subscriptions[0].git.repoURL: Invalid value: "ftp://example.com/repo": must be a Git repository URL`,
			`spec.subscriptions[0].git.branch: Invalid value: "feature/": must be a branch name`,
			"spec.subscriptions[1].git.repoURL: Required value: a Git subscription needs the repository's URL",
			"spec.subscriptions[2].git.repoURL: Required value",
			`spec.subscriptions[3].image.repoURL: Invalid value: "https://ghcr.io/example/app": must be an image repository`,
			`spec.subscriptions[4].chart.repoURL: must be a Helm chart repository URL starting with https://, http:// or oci://`,
		},
	}, {
		name: "strategy enums",
		manifest: `
metadata: {name: w}
spec:
  freightCreationPolicy: Sometimes
  subscriptions:
  - git: {repoURL: https://github.com/example/a, commitSelectionStrategy: Newest}
  - image: {repoURL: ghcr.io/example/a, imageSelectionStrategy: semver}`,
		want: []string{
			`spec.freightCreationPolicy: Unsupported value: "Sometimes": supported values: "Automatic", "Manual"`,
			`spec.subscriptions[0].git.commitSelectionStrategy: Unsupported value: "Newest": supported values: "Lexical", "NewestFromBranch", "NewestTag", "SemVer"`,
			`spec.subscriptions[1].image.imageSelectionStrategy: Unsupported value: "semver"`,
		},
	}, {
		name: "Digest needs a constraint",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - image: {repoURL: ghcr.io/example/a, imageSelectionStrategy: Digest}`,
		want: []string{"spec.subscriptions[0].image.constraint: Required value: imageSelectionStrategy Digest follows one tag: set constraint"},
	}, {
		name: "Digest with the deprecated semverConstraint holding the tag",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - image: {repoURL: ghcr.io/example/a, imageSelectionStrategy: Digest, semverConstraint: latest}`,
	}, {
		name: "chart name rules",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - chart: {repoURL: https://charts.example.com}
  - chart: {repoURL: oci://registry.example.com/charts/nginx, name: nginx}`,
		want: []string{
			"spec.subscriptions[0].chart.name: Required value: a classic (http/https) chart repository holds many charts: set name",
			"spec.subscriptions[1].chart.name: Forbidden: an oci:// repoURL already names the chart: remove name",
		},
	}, {
		name: "regular expressions and path selectors that do not compile",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - image:
      repoURL: ghcr.io/example/a
      imageSelectionStrategy: Lexical
      allowTags: "^(foo"
      allowTagsRegexes: ["ok", "[z-a]"]
      ignoreTagsRegexes: ["*bad"]
  - git:
      repoURL: https://github.com/example/a
      allowTagsRegex: ["(?P<x"]
      ignoreTagsRegex: ["ok"]
      includePaths: ["regex:^(foo", "glob:[a-", ""]
      excludePaths: ["regexp:a{2,1}"]`,
		want: []string{
			`spec.subscriptions[0].image.allowTags: Invalid value: "^(foo": must be a valid regular expression: error parsing regexp: missing closing ): ` + "`^(foo`" + `: fix the pattern or remove it`,
			"spec.subscriptions[0].image.allowTagsRegexes[1]: must be a valid regular expression",
			"spec.subscriptions[0].image.ignoreTagsRegexes[0]: must be a valid regular expression",
			"spec.subscriptions[1].git.allowTagsRegex[0]: must be a valid regular expression",
			`spec.subscriptions[1].git.includePaths[0]: Invalid value: "regex:^(foo": must be a valid regular expression after the prefix`,
			`spec.subscriptions[1].git.includePaths[1]: Invalid value: "glob:[a-": must be a valid glob`,
			"spec.subscriptions[1].git.includePaths[2]: Required value: an empty path selector",
			"spec.subscriptions[1].git.excludePaths[0]: must be a valid regular expression after the prefix",
		},
	}, {
		name: "semver constraints that do not compile",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - image: {repoURL: ghcr.io/example/a, constraint: "not-a-range"}
  - image: {repoURL: ghcr.io/example/b, semverConstraint: ">>1"}
  - git: {repoURL: https://github.com/example/a, commitSelectionStrategy: SemVer, semverConstraint: "abc"}
  - chart: {repoURL: oci://r.example.com/c, semverConstraint: "1.2.3.4"}`,
		want: []string{
			`spec.subscriptions[0].image.constraint: Invalid value: "not-a-range": must be a valid semver constraint`,
			"spec.subscriptions[1].image.semverConstraint: must be a valid semver constraint",
			"spec.subscriptions[2].git.semverConstraint: must be a valid semver constraint",
			"spec.subscriptions[3].chart.semverConstraint: fix the constraint or remove it",
		},
	}, {
		name: "a semver constraint is not read for other image strategies",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - image: {repoURL: ghcr.io/example/a, imageSelectionStrategy: Lexical, constraint: "nightly-*"}`,
	}, {
		name: "discoveryLimit out of range",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - git: {repoURL: https://github.com/example/a, discoveryLimit: 101}
  - image: {repoURL: ghcr.io/example/a, discoveryLimit: -1}
  - chart: {repoURL: oci://r.example.com/c, discoveryLimit: 500}
  - thing: {name: t, discoveryLimit: 1000}`,
		want: []string{
			"spec.subscriptions[0].git.discoveryLimit: Invalid value: 101: must be between 1 and 100: set a value in that range, or remove it for the default of 20",
			"spec.subscriptions[1].image.discoveryLimit: Invalid value: -1: must be between 1 and 100",
			"spec.subscriptions[2].chart.discoveryLimit: must be between 1 and 100",
			"spec.subscriptions[3].thing.discoveryLimit: must be between 1 and 100",
		},
	}, {
		name: "generic subscription without a name",
		manifest: `
metadata: {name: w}
spec:
  subscriptions:
  - thing: {config: {a: 1}}`,
		want: []string{"spec.subscriptions[0].thing.name: Required value: a generic subscription needs a name"},
	}, {
		name: "negative interval, bad platform, bad shard",
		manifest: `
metadata: {name: w}
spec:
  shard: "not a label!"
  interval: -5m
  subscriptions:
  - image: {repoURL: ghcr.io/example/a, platform: linux}`,
		want: []string{
			"spec.interval: must not be negative",
			`spec.subscriptions[0].image.platform: Invalid value: "linux": must be a platform written os/arch`,
			"spec.shard: the shard is copied into the kargo.akuity.io/shard label and must be a valid label value",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertErrors(t, ValidateWarehouse(decodeManifest[Warehouse](t, tt.manifest)), tt.want...)
		})
	}
}

func TestIsImageRepoURL(t *testing.T) {
	for s, want := range map[string]bool{
		"nginx":                             true,
		"library/nginx":                     true,
		"ghcr.io/example/app":               true,
		"localhost:5000/app":                true,
		"registry.com/service-image:1.0.0":  true,
		"registry.com:443/team/app:v1.2.3":  true,
		"registry.com/service-image:":       false,
		"https://ghcr.io/example/app":       false,
		"ghcr.io/example/app@sha256:abc":    false,
		"ghcr.io/example/app:bad tag":       false,
		"ghcr.io//app":                      false,
		"":                                  false,
		"registry.com/service-image:-1.0.0": false,
	} {
		if got := isImageRepoURL(s); got != want {
			t.Errorf("isImageRepoURL(%q) = %v, want %v", s, got, want)
		}
	}
}
