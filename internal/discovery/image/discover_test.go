package image

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/testserver"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// pushed is what a fixture tag points at.
type pushed struct {
	digest  string
	created time.Time
}

// pushTags pushes one new image per tag with the given created date and
// returns what each tag points at.
func pushTags(t *testing.T, reg *testserver.Registry, repo string, created map[string]string) map[string]pushed {
	t.Helper()
	out := map[string]pushed{}
	for tag, d := range created {
		c := day(d)
		out[tag] = pushed{digest: reg.PushImage(t, repo, tag, testserver.ImageSpec{Created: c}), created: c}
	}
	return out
}

func TestDiscoverStrategiesAndFilters(t *testing.T) {
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	const repo = "demo/app"
	want := pushTags(t, reg, repo, map[string]string{
		"1.0.0":            "2024-01-01",
		"1.1.0":            "2024-02-01",
		"1.2.0":            "2024-03-01",
		"v1.3.0":           "2024-04-01",
		"1.4":              "2024-04-15",
		"2.0.0-rc.1":       "2024-05-01",
		"2.0.0":            "2024-06-01",
		"nightly-20231231": "2024-07-01", // rebuilt last: the newest build
		"nightly-20240101": "2024-01-02",
		"nightly-20240315": "2024-03-16",
	})
	reg.Tag(t, repo, "2.0.0", "latest")
	want["latest"] = want["2.0.0"]

	d := NewDiscoverer(Options{RateLimit: -1, Logger: testLogger(t)})
	repoURL := reg.Repo(repo)
	semverAll := []string{"2.0.0", "2.0.0-rc.1", "v1.3.0", "1.2.0", "1.1.0", "1.0.0"}
	tests := []struct {
		name     string
		sub      v1alpha1.ImageSubscription
		wantTags []string
		wantErr  error
	}{
		{name: "semver default: strict versions, greatest first", wantTags: semverAll},
		{name: "semver: constraint selects", sub: v1alpha1.ImageSubscription{Constraint: "^1.0.0"},
			wantTags: []string{"v1.3.0", "1.2.0", "1.1.0", "1.0.0"}},
		{name: "semver: constraint nobody satisfies", sub: v1alpha1.ImageSubscription{Constraint: "^3.0.0"},
			wantErr: discovery.ErrNoMatch},
		{name: "semver: deprecated semverConstraint", sub: v1alpha1.ImageSubscription{SemverConstraint: "~1.1"},
			wantTags: []string{"1.1.0"}},
		{name: "semver: strictSemvers false admits 1.4", sub: v1alpha1.ImageSubscription{StrictSemvers: ptr(false), Constraint: "~1.4"},
			wantTags: []string{"1.4"}},
		{name: "semver: strictSemvers rejects 1.4", sub: v1alpha1.ImageSubscription{Constraint: "~1.4"},
			wantErr: discovery.ErrNoMatch},
		{name: "semver: discoveryLimit", sub: v1alpha1.ImageSubscription{DiscoveryLimit: 2},
			wantTags: []string{"2.0.0", "2.0.0-rc.1"}},
		{name: "semver: allowTagsRegexes select", sub: v1alpha1.ImageSubscription{AllowTagsRegexes: []string{`^1\.`}},
			wantTags: []string{"1.2.0", "1.1.0", "1.0.0"}},
		{name: "semver: allowTagsRegexes exclude all", sub: v1alpha1.ImageSubscription{AllowTagsRegexes: []string{`^release-`}},
			wantErr: discovery.ErrNoMatch},
		{name: "semver: allowTagsRegex spelling", sub: v1alpha1.ImageSubscription{AllowTagsRegex: []string{`^v`}},
			wantTags: []string{"v1.3.0"}},
		{name: "semver: deprecated allowTags", sub: v1alpha1.ImageSubscription{AllowTags: `^2\.`},
			wantTags: []string{"2.0.0", "2.0.0-rc.1"}},
		{name: "semver: ignoreTagsRegexes", sub: v1alpha1.ImageSubscription{IgnoreTagsRegexes: []string{`-rc`, `^v`}},
			wantTags: []string{"2.0.0", "1.2.0", "1.1.0", "1.0.0"}},
		{name: "semver: ignoreTagsRegex spelling", sub: v1alpha1.ImageSubscription{IgnoreTagsRegex: []string{`^2`}},
			wantTags: []string{"v1.3.0", "1.2.0", "1.1.0", "1.0.0"}},
		{name: "semver: deprecated ignoreTags", sub: v1alpha1.ImageSubscription{IgnoreTags: []string{"2.0.0"}},
			wantTags: []string{"2.0.0-rc.1", "v1.3.0", "1.2.0", "1.1.0", "1.0.0"}},
		{name: "lexical selects the greatest stamp", sub: v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyLexical, AllowTagsRegexes: []string{`^nightly-\d{8}$`}},
			wantTags: []string{"nightly-20240315", "nightly-20240101", "nightly-20231231"}},
		{name: "lexical with nothing allowed", sub: v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyLexical, AllowTagsRegexes: []string{`^weekly-`}},
			wantErr: discovery.ErrNoMatch},
		{name: "newest build selects by config date", sub: v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyNewestBuild, AllowTagsRegexes: []string{`^nightly-`}},
			wantTags: []string{"nightly-20231231", "nightly-20240315", "nightly-20240101"}},
		{name: "newest build over every tag, limited", sub: v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyNewestBuild, DiscoveryLimit: 3},
			wantTags: []string{"nightly-20231231", "latest", "2.0.0"}},
		{name: "newest build with everything ignored", sub: v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyNewestBuild, IgnoreTagsRegexes: []string{`.`}},
			wantErr: discovery.ErrNoMatch},
		{name: "digest follows the mutable tag", sub: v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyDigest, Constraint: "latest"},
			wantTags: []string{"latest"}},
		{name: "digest of a missing tag", sub: v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyDigest, Constraint: "stable"},
			wantErr: discovery.ErrNotFound},
		{name: "invalid constraint", sub: v1alpha1.ImageSubscription{Constraint: "one point oh"},
			wantErr: discovery.ErrInvalid},
		{name: "invalid regex", sub: v1alpha1.ImageSubscription{IgnoreTagsRegexes: []string{"(unclosed"}},
			wantErr: discovery.ErrInvalid},
		{name: "invalid platform", sub: v1alpha1.ImageSubscription{Platform: "amd64"},
			wantErr: discovery.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub := tc.sub
			sub.RepoURL = repoURL
			res, err := d.Discover(context.Background(), &sub, nil)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Discover error = %v, want kind %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if res.RepoURL != repoURL {
				t.Errorf("result repoURL %q, want %q", res.RepoURL, repoURL)
			}
			var tags []string
			for _, r := range res.References {
				tags = append(tags, r.Tag)
				w := want[r.Tag]
				if r.Digest != w.digest {
					t.Errorf("tag %s: digest %s, want %s", r.Tag, r.Digest, w.digest)
				}
				if r.CreatedAt == nil || !r.CreatedAt.Time.Equal(w.created) {
					t.Errorf("tag %s: createdAt %v, want %v", r.Tag, r.CreatedAt, w.created)
				}
			}
			if !slices.Equal(tags, tc.wantTags) {
				t.Errorf("tags = %q, want %q", tags, tc.wantTags)
			}
		})
	}
}

func TestDiscoverBuildDatesAndAnnotations(t *testing.T) {
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	const repo = "demo/meta"
	configDate := day("2024-01-01")
	reg.PushImage(t, repo, "1.0.0", testserver.ImageSpec{Created: configDate, Annotations: map[string]string{
		"org.opencontainers.image.created": "2023-05-05T10:00:00Z",
		"org.opencontainers.image.source":  "https://example.com/app",
	}})
	reg.PushImage(t, repo, "1.1.0", testserver.ImageSpec{Created: configDate,
		Labels: map[string]string{"org.label-schema.build-date": "2023-06-06T00:00:00Z"}})
	reg.PushImage(t, repo, "1.2.0", testserver.ImageSpec{Created: configDate})
	reg.PushImage(t, repo, "1.3.0", testserver.ImageSpec{})

	d := NewDiscoverer(Options{RateLimit: -1, Logger: testLogger(t)})
	res, err := d.Discover(context.Background(), &v1alpha1.ImageSubscription{RepoURL: reg.Repo(repo)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantCreated := map[string]string{
		"1.0.0": "2023-05-05T10:00:00Z", // manifest annotation beats the config
		"1.1.0": "2023-06-06T00:00:00Z", // then the label-schema label
		"1.2.0": "2024-01-01T00:00:00Z", // then the config's created
		"1.3.0": "",                     // none at all
	}
	for _, r := range res.References {
		got := ""
		if r.CreatedAt != nil {
			got = r.CreatedAt.UTC().Format(time.RFC3339)
		}
		if got != wantCreated[r.Tag] {
			t.Errorf("tag %s: createdAt %q, want %q", r.Tag, got, wantCreated[r.Tag])
		}
		if r.Tag == "1.0.0" && r.Annotations["org.opencontainers.image.source"] != "https://example.com/app" {
			t.Errorf("tag 1.0.0: annotations %v, want the manifest's", r.Annotations)
		}
	}
	if len(res.References) != 4 {
		t.Errorf("got %d references, want 4", len(res.References))
	}
}

func TestDiscoverPlatform(t *testing.T) {
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	const repo = "demo/multi"
	both := reg.PushIndex(t, repo, "1.0.0", testserver.IndexSpec{
		Annotations: map[string]string{"index": "yes"},
		Manifests: []testserver.PlatformImage{
			{Platform: "linux/amd64", Image: testserver.ImageSpec{Created: day("2024-01-01")}},
			{Platform: "linux/arm64", Image: testserver.ImageSpec{Created: day("2024-01-03")},
				Annotations: map[string]string{"entry": "arm64"}},
		},
	})
	amd64Only := reg.PushIndex(t, repo, "1.1.0", testserver.IndexSpec{Manifests: []testserver.PlatformImage{
		{Platform: "linux/amd64", Image: testserver.ImageSpec{Created: day("2024-02-01")}},
	}})
	armImage := reg.PushImage(t, repo, "1.2.0", testserver.ImageSpec{Platform: "linux/arm64", Created: day("2024-03-01")})

	d := NewDiscoverer(Options{RateLimit: -1, Logger: testLogger(t)})
	type ref struct{ tag, digest, created string }
	tests := []struct {
		name    string
		sub     v1alpha1.ImageSubscription
		want    []ref
		wantErr error
	}{
		{name: "no platform: index digests, newest image date",
			want: []ref{{"1.2.0", armImage, "2024-03-01"}, {"1.1.0", amd64Only.Digest, "2024-02-01"}, {"1.0.0", both.Digest, "2024-01-03"}}},
		{name: "arm64 skips the amd64-only index and reports the index digest", sub: v1alpha1.ImageSubscription{Platform: "linux/arm64"},
			want: []ref{{"1.2.0", armImage, "2024-03-01"}, {"1.0.0", both.Digest, "2024-01-03"}}},
		{name: "amd64 skips the arm64 image", sub: v1alpha1.ImageSubscription{Platform: "linux/amd64"},
			want: []ref{{"1.1.0", amd64Only.Digest, "2024-02-01"}, {"1.0.0", both.Digest, "2024-01-01"}}},
		{name: "limit 1 moves past tags without the platform", sub: v1alpha1.ImageSubscription{Platform: "linux/amd64", DiscoveryLimit: 1},
			want: []ref{{"1.1.0", amd64Only.Digest, "2024-02-01"}}},
		{name: "a platform nobody has", sub: v1alpha1.ImageSubscription{Platform: "linux/s390x"}, wantErr: discovery.ErrNoMatch},
		{name: "newest build with a platform", sub: v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyNewestBuild, Platform: "linux/amd64"},
			want: []ref{{"1.1.0", amd64Only.Digest, "2024-02-01"}, {"1.0.0", both.Digest, "2024-01-01"}}},
		{name: "digest strategy resolves through the index", sub: v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyDigest, Constraint: "1.0.0", Platform: "linux/arm64/v8"},
			want: []ref{{"1.0.0", both.Digest, "2024-01-03"}}},
		{name: "digest strategy without the platform", sub: v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyDigest, Constraint: "1.1.0", Platform: "linux/arm64"},
			wantErr: discovery.ErrNoMatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub := tc.sub
			sub.RepoURL = reg.Repo(repo)
			res, err := d.Discover(context.Background(), &sub, nil)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Discover error = %v, want kind %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Platform != tc.sub.Platform {
				t.Errorf("result platform %q, want %q", res.Platform, tc.sub.Platform)
			}
			var got []ref
			for _, r := range res.References {
				got = append(got, ref{r.Tag, r.Digest, r.CreatedAt.UTC().Format(time.DateOnly)})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("references = %v\nwant %v", got, tc.want)
			}
		})
	}

	// With a platform, an index entry's annotations join the index's.
	res, err := d.Discover(context.Background(), &v1alpha1.ImageSubscription{
		RepoURL: reg.Repo(repo), Platform: "linux/arm64", Constraint: "=1.0.0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := res.References[0].Annotations; a["index"] != "yes" || a["entry"] != "arm64" {
		t.Errorf("annotations %v, want the index's and the arm64 entry's", a)
	}
}

func TestDiscoverNoticesRepushedTags(t *testing.T) {
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	const repo = "demo/mutable"
	first := reg.PushImage(t, repo, "latest", testserver.ImageSpec{Created: day("2024-01-01")})
	reg.Tag(t, repo, "latest", "1.0.0")

	tests := []struct {
		name       string
		sub        v1alpha1.ImageSubscription
		tag        string
		wantNotice bool
	}{
		{"digest strategy notices", v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyDigest, Constraint: "latest"}, "latest", true},
		{"digest strategy notices even with cacheByTag", v1alpha1.ImageSubscription{
			ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyDigest, Constraint: "latest", CacheByTag: true}, "latest", true},
		{"semver notices without cacheByTag", v1alpha1.ImageSubscription{}, "1.0.0", true},
		{"semver with cacheByTag trusts the tag", v1alpha1.ImageSubscription{CacheByTag: true}, "1.0.0", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg.Tag(t, repo, first, tc.tag) // start from the first image
			d := NewDiscoverer(Options{RateLimit: -1, Logger: testLogger(t)})
			sub := tc.sub
			sub.RepoURL = reg.Repo(repo)
			poll := func() string {
				t.Helper()
				res, err := d.Discover(context.Background(), &sub, nil)
				if err != nil {
					t.Fatal(err)
				}
				return res.References[0].Digest
			}
			if got := poll(); got != first {
				t.Fatalf("first poll: digest %s, want %s", got, first)
			}
			second := reg.PushImage(t, repo, tc.tag, testserver.ImageSpec{Created: day("2024-02-01")})
			got := poll()
			if tc.wantNotice && got != second {
				t.Errorf("after re-push: digest %s, want the new %s", got, second)
			}
			if !tc.wantNotice && got != first {
				t.Errorf("after re-push with cacheByTag: digest %s, want the cached %s", got, first)
			}
		})
	}
}

func TestDiscoverAuthentication(t *testing.T) {
	const password = "correct-horse-battery"
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{Username: "ci", Password: password})
	const repo = "private/app"
	digest := reg.PushImage(t, repo, "1.0.0", testserver.ImageSpec{Created: day("2024-01-01")})

	tests := []struct {
		name    string
		creds   *discovery.Credentials
		wantErr error
		wantMsg string
	}{
		{name: "right password", creds: &discovery.Credentials{Username: "ci", Password: password}},
		{name: "wrong password", creds: &discovery.Credentials{Username: "ci", Password: "Tr0ub4dor&3"},
			wantErr: discovery.ErrAuth, wantMsg: "check the username and password of the image credentials Secret"},
		{name: "no credentials", wantErr: discovery.ErrAuth, wantMsg: "refused anonymous access"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDiscoverer(Options{RateLimit: -1, Logger: testLogger(t)})
			sub := &v1alpha1.ImageSubscription{RepoURL: reg.Repo(repo)}
			res, err := d.Discover(context.Background(), sub, tc.creds)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if res.References[0].Digest != digest {
					t.Errorf("digest %s, want %s", res.References[0].Digest, digest)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want kind %v", err, tc.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantMsg) || !strings.Contains(msg, reg.Host()) {
				t.Errorf("error %q should name the registry and say %q", msg, tc.wantMsg)
			}
			if tc.creds != nil && strings.Contains(msg, tc.creds.Password) {
				t.Errorf("error %q contains the password", msg)
			}
		})
	}
}

func TestDiscoverRepositoryErrors(t *testing.T) {
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	reg.PushImage(t, "demo/app", "1.0.0", testserver.ImageSpec{})
	stopped := testserver.NewRegistry(t, testserver.RegistryOptions{})
	stopped.Stop()

	tests := []struct {
		name    string
		repoURL string
		wantErr error
		wantMsg string
	}{
		{"repository not found", reg.Repo("demo/nope"), discovery.ErrNotFound, "not found"},
		{"registry unreachable", stopped.Repo("demo/app"), discovery.ErrUnreachable, "cannot connect to registry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDiscoverer(Options{RateLimit: -1, Logger: testLogger(t)})
			_, err := d.Discover(context.Background(), &v1alpha1.ImageSubscription{RepoURL: tc.repoURL}, nil)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want kind %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
		})
	}
}

func TestDiscoverStripsTagFromRepoURL(t *testing.T) {
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	reg.PushImage(t, "demo/app", "1.0.0", testserver.ImageSpec{})
	reg.PushImage(t, "demo/app", "1.1.0", testserver.ImageSpec{})
	d := NewDiscoverer(Options{RateLimit: -1, Logger: testLogger(t)})
	res, err := d.Discover(context.Background(), &v1alpha1.ImageSubscription{RepoURL: reg.Repo("demo/app") + ":1.0.0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.RepoURL != reg.Repo("demo/app") || len(res.References) != 2 {
		t.Errorf("repoURL %q with %d references; want the tag stripped and both tags found", res.RepoURL, len(res.References))
	}
}
