package image

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/testserver"
)

// TestPollRequestCounts proves what each poll costs: SemVer and Lexical
// fetch manifests only for the discoveryLimit best tags; a second poll of
// an unchanged repository re-fetches nothing immutable, costs one HEAD per
// needed tag without cacheByTag and exactly one tag-list request with it.
func TestPollRequestCounts(t *testing.T) {
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	const repo = "demo/counted"
	const n = 30
	base := day("2024-01-01")
	for i := range n {
		reg.PushImage(t, repo, fmt.Sprintf("1.0.%d", i), testserver.ImageSpec{Created: base.Add(time.Duration(i) * time.Hour)})
	}
	reg.Tag(t, repo, fmt.Sprintf("1.0.%d", n-1), "latest") // one more tag, no new digest
	const tags = n + 1

	type cost struct{ list, head, getManifest, getBlob int }
	tests := []struct {
		name        string
		sub         v1alpha1.ImageSubscription
		first       cost // ping excluded
		second      cost
		wantResults int
	}{
		{"semver", v1alpha1.ImageSubscription{DiscoveryLimit: 5},
			cost{1, 0, 5, 5}, cost{1, 5, 0, 0}, 5},
		{"semver, cacheByTag", v1alpha1.ImageSubscription{DiscoveryLimit: 5, CacheByTag: true},
			cost{1, 0, 5, 5}, cost{1, 0, 0, 0}, 5},
		{"lexical", v1alpha1.ImageSubscription{ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyLexical, DiscoveryLimit: 5},
			cost{1, 0, 5, 5}, cost{1, 5, 0, 0}, 5},
		{"lexical, cacheByTag", v1alpha1.ImageSubscription{ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyLexical, DiscoveryLimit: 5, CacheByTag: true},
			cost{1, 0, 5, 5}, cost{1, 0, 0, 0}, 5},
		{"newest build", v1alpha1.ImageSubscription{ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyNewestBuild},
			cost{1, 0, tags, n}, cost{1, tags, 0, 0}, 20},
		{"newest build, cacheByTag", v1alpha1.ImageSubscription{ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyNewestBuild, CacheByTag: true},
			cost{1, 0, tags, n}, cost{1, 0, 0, 0}, 20},
		{"digest", v1alpha1.ImageSubscription{ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyDigest, Constraint: "latest"},
			cost{0, 0, 1, 1}, cost{0, 1, 0, 0}, 1},
		{"digest ignores cacheByTag", v1alpha1.ImageSubscription{ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyDigest, Constraint: "latest", CacheByTag: true},
			cost{0, 0, 1, 1}, cost{0, 1, 0, 0}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ct := newCountingTransport()
			d := NewDiscoverer(Options{RateLimit: -1, Transport: ct, Logger: testLogger(t)})
			sub := tc.sub
			sub.RepoURL = reg.Repo(repo)
			for poll, want := range []cost{tc.first, tc.second} {
				res, err := d.Discover(context.Background(), &sub, nil)
				if err != nil {
					t.Fatalf("poll %d: %v", poll+1, err)
				}
				if len(res.References) != tc.wantResults {
					t.Errorf("poll %d: %d references, want %d", poll+1, len(res.References), tc.wantResults)
				}
				reqs := ct.take()
				k := countKinds(reqs)
				got := cost{k.list, k.head, k.getManifest, k.getBlob}
				if got != want || k.other != 0 || (poll > 0 && k.ping != 0) {
					t.Errorf("poll %d: requests %+v (ping %d, other %d), want %+v and no ping after the first poll\n%s",
						poll+1, got, k.ping, k.other, want, strings.Join(reqs, "\n"))
				}
			}
		})
	}
}

// TestImmutableMetadataFetchedOnce runs many subscriptions, twice each, on
// one Discoverer and checks that no manifest was fetched by digest twice
// and no config blob twice, and that each tag's manifest was fetched by
// tag at most once (later polls use HEAD).
func TestImmutableMetadataFetchedOnce(t *testing.T) {
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	const repo = "demo/immutable"
	for i, tag := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		reg.PushIndex(t, repo, tag, testserver.IndexSpec{Manifests: []testserver.PlatformImage{
			{Platform: "linux/amd64", Image: testserver.ImageSpec{Created: day("2024-01-01").AddDate(0, i, 0)}},
			{Platform: "linux/arm64", Image: testserver.ImageSpec{Created: day("2024-01-02").AddDate(0, i, 0)}},
		}})
	}
	reg.PushImage(t, repo, "1.3.0", testserver.ImageSpec{Created: day("2024-06-01")})
	reg.Tag(t, repo, "1.2.0", "latest")

	ct := newCountingTransport()
	d := NewDiscoverer(Options{RateLimit: -1, Transport: ct, Logger: testLogger(t)})
	subs := []v1alpha1.ImageSubscription{
		{},
		{Platform: "linux/amd64"},
		{Platform: "linux/arm64", CacheByTag: true},
		{ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyNewestBuild},
		{ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyNewestBuild, Platform: "linux/arm64"},
		{ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyLexical},
		{ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyDigest, Constraint: "latest", Platform: "linux/amd64"},
	}
	for round := range 2 {
		for i := range subs {
			sub := subs[i]
			sub.RepoURL = reg.Repo(repo)
			if _, err := d.Discover(context.Background(), &sub, nil); err != nil {
				t.Fatalf("round %d, subscription %d: %v", round, i, err)
			}
		}
	}
	seen := map[string]int{}
	for _, r := range ct.take() {
		if strings.HasPrefix(r, "GET ") && (strings.Contains(r, "/manifests/") || strings.Contains(r, "/blobs/")) {
			seen[r]++
		}
	}
	if len(seen) == 0 {
		t.Fatal("no manifest or blob requests recorded: the counting transport is not in use")
	}
	for r, n := range seen {
		if n > 1 {
			t.Errorf("%s sent %d times; immutable content must be fetched once", r, n)
		}
	}
}

func TestPullQuotaRegistries(t *testing.T) {
	for registry, want := range map[string]bool{
		"index.docker.io": true, "docker.io": true, "registry-1.docker.io": true,
		"ghcr.io": false, "127.0.0.1:5000": false, "public.ecr.aws": false,
	} {
		if got := pullQuota(registry); got != want {
			t.Errorf("pullQuota(%q) = %v, want %v", registry, got, want)
		}
	}
}

// TestHeadFirstFetchesEachDigestOnce resolves three new tags of one image
// the way a Docker Hub repository is resolved: a HEAD per tag and a single
// GET of the manifest by digest.
func TestHeadFirstFetchesEachDigestOnce(t *testing.T) {
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	const repo = "demo/hub"
	want := reg.PushImage(t, repo, "a", testserver.ImageSpec{Created: day("2024-01-01")})
	reg.Tag(t, repo, "a", "b", "c")

	ct := newCountingTransport()
	d := NewDiscoverer(Options{RateLimit: -1, Transport: ct, Logger: testLogger(t)})
	s, err := compile(&v1alpha1.ImageSubscription{RepoURL: reg.Repo(repo)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.client(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.headFirst = true // as for index.docker.io
	for _, tag := range []string{"a", "b", "c"} {
		ref, err := c.resolve(context.Background(), tag, false)
		if err != nil {
			t.Fatal(err)
		}
		if ref.digest != want {
			t.Errorf("tag %s: digest %s, want %s", tag, ref.digest, want)
		}
	}
	reqs := ct.take()
	k := countKinds(reqs)
	if k.head != 3 || k.getManifest != 1 || k.getBlob != 1 {
		t.Errorf("requests: %d HEAD, %d manifest GET, %d blob GET; want 3, 1, 1\n%s",
			k.head, k.getManifest, k.getBlob, strings.Join(reqs, "\n"))
	}
}
