package git

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/testserver"
)

// fixture is a repository with a known history:
//
//	main: c1 (Alice: base/deploy.yaml, base/kustomization.yaml)
//	      c2 (Bob: docs/readme.md)
//	      c3 (Alice: env/prod/values.yaml)
//	      c4 (Carol: base/deploy.yaml, docs/changes.md)
//	dev:  c4 ← d1 (Dan: dev.txt)
//
// and tags (lw = lightweight, with its commit's date; ann = annotated):
//
//	v1.0.0      lw  c1  2024-01-01T00:00
//	v1.2.0      ann c2  2024-06-01  tagger Rel, "second release"
//	v1.10.0     lw  c3  2024-01-01T00:02
//	1.5         lw  c3  2024-01-01T00:02
//	v2.0.0-rc.1 ann c4  2024-03-01  tagger Bot
//	release-a   lw  c4  2024-01-01T00:03
//	release-b   ann c1  2025-01-01  tagger Rel
type fixture struct {
	srv                *testserver.GitServer
	repo               *testserver.GitRepo
	c1, c2, c3, c4, d1 string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := testserver.NewGitServer(t, testserver.GitServerOptions{})
	r := srv.CreateRepo(t, "app")
	f := &fixture{srv: srv, repo: r}
	f.c1 = r.Commit(t, testserver.Commit{Message: "add base", Author: "Alice <alice@example.com>",
		Files: map[string]string{"base/deploy.yaml": "v1", "base/kustomization.yaml": "k"}})
	f.c2 = r.Commit(t, testserver.Commit{Message: "docs", Author: "Bob <bob@example.com>",
		Files: map[string]string{"docs/readme.md": "r"}})
	f.c3 = r.Commit(t, testserver.Commit{Message: "change env", Author: "Alice <alice@example.com>",
		Files: map[string]string{"env/prod/values.yaml": "p"}})
	f.c4 = r.Commit(t, testserver.Commit{Message: "bump deploy", Author: "Carol <carol@example.com>",
		Files: map[string]string{"base/deploy.yaml": "v2", "docs/changes.md": "c"}})
	f.d1 = r.Commit(t, testserver.Commit{Branch: "dev", Message: "dev work", Author: "Dan <dan@example.com>",
		Files: map[string]string{"dev.txt": "d"}})
	r.Git(t, "checkout", "--quiet", "main")
	date := func(s string) time.Time {
		d, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tag := range []testserver.Tag{
		{Name: "v1.0.0", Target: f.c1},
		{Name: "v1.2.0", Target: f.c2, Message: "second release", Tagger: "Rel <rel@example.com>", Date: date("2024-06-01T00:00:00Z")},
		{Name: "v1.10.0", Target: f.c3},
		{Name: "1.5", Target: f.c3},
		{Name: "v2.0.0-rc.1", Target: f.c4, Message: "candidate", Tagger: "Bot <bot@example.com>", Date: date("2024-03-01T00:00:00Z")},
		{Name: "release-a", Target: f.c4},
		{Name: "release-b", Target: f.c1, Message: "old build", Tagger: "Rel <rel@example.com>", Date: date("2025-01-01T00:00:00Z")},
	} {
		r.Tag(t, tag)
	}
	r.Push(t)
	return f
}

func newTestMirrors(t testing.TB) *Mirrors {
	t.Helper()
	m, err := NewMirrors(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// discover runs Discover with a generous deadline.
func discover(t testing.TB, m *Mirrors, sub *v1alpha1.GitSubscription, creds *discovery.Credentials) (*v1alpha1.GitDiscoveryResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return m.Discover(ctx, sub, creds)
}

func boolPtr(b bool) *bool { return &b }

func TestDiscoverStrategiesAndFilters(t *testing.T) {
	f := newFixture(t)
	m := newTestMirrors(t)
	url := f.repo.URL

	type want struct {
		ids  []string // commit IDs, in order
		tags []string // tags, in order (tag strategies)
		kind error    // expected error kind
	}
	semver := v1alpha1.CommitSelectionStrategySemVer
	lexical := v1alpha1.CommitSelectionStrategyLexical
	newestTag := v1alpha1.CommitSelectionStrategyNewestTag
	cases := []struct {
		name string
		sub  v1alpha1.GitSubscription
		want want
	}{
		// NewestFromBranch
		{"branch default follows HEAD", v1alpha1.GitSubscription{},
			want{ids: []string{f.c4, f.c3, f.c2, f.c1}}},
		{"branch named", v1alpha1.GitSubscription{Branch: "dev"},
			want{ids: []string{f.d1, f.c4, f.c3, f.c2, f.c1}}},
		{"branch missing", v1alpha1.GitSubscription{Branch: "nope"},
			want{kind: discovery.ErrNotFound}},
		{"branch limit", v1alpha1.GitSubscription{DiscoveryLimit: 2},
			want{ids: []string{f.c4, f.c3}}},
		{"branch expression selects", v1alpha1.GitSubscription{ExpressionFilter: `author startsWith "Alice"`},
			want{ids: []string{f.c3, f.c1}}},
		{"branch expression on date", v1alpha1.GitSubscription{ExpressionFilter: `commitDate < date("2024-01-01T00:01:30Z")`},
			want{ids: []string{f.c2, f.c1}}},
		{"branch expression as string", v1alpha1.GitSubscription{ExpressionFilter: `subject == "docs" ? "true" : "false"`},
			want{ids: []string{f.c2}}},
		{"branch expression selects nothing", v1alpha1.GitSubscription{ExpressionFilter: `subject contains "zzz"`},
			want{kind: discovery.ErrNoMatch}},
		{"include base dir", v1alpha1.GitSubscription{IncludePaths: []string{"base"}},
			want{ids: []string{f.c4, f.c1}}},
		{"include glob", v1alpha1.GitSubscription{IncludePaths: []string{"glob:env/**/*.yaml"}},
			want{ids: []string{f.c3}}},
		{"include regex", v1alpha1.GitSubscription{IncludePaths: []string{"regex:^docs/"}},
			want{ids: []string{f.c4, f.c2}}},
		{"include regexp prefix", v1alpha1.GitSubscription{IncludePaths: []string{"regexp:values\\.yaml$"}},
			want{ids: []string{f.c3}}},
		{"exclude only", v1alpha1.GitSubscription{ExcludePaths: []string{"docs"}},
			want{ids: []string{f.c4, f.c3, f.c1}}},
		{"include and exclude", v1alpha1.GitSubscription{IncludePaths: []string{"base"}, ExcludePaths: []string{"glob:**/deploy.yaml"}},
			want{ids: []string{f.c1}}},
		{"include nothing", v1alpha1.GitSubscription{IncludePaths: []string{"nope"}},
			want{kind: discovery.ErrNoMatch}},
		{"paths and expression and limit", v1alpha1.GitSubscription{IncludePaths: []string{"base", "env"},
			ExpressionFilter: `author != "Carol <carol@example.com>"`, DiscoveryLimit: 1},
			want{ids: []string{f.c3}}},

		// SemVer
		{"semver strict", v1alpha1.GitSubscription{CommitSelectionStrategy: semver},
			want{tags: []string{"v2.0.0-rc.1", "v1.10.0", "v1.2.0", "v1.0.0"}}},
		{"semver lenient", v1alpha1.GitSubscription{CommitSelectionStrategy: semver, StrictSemvers: boolPtr(false)},
			want{tags: []string{"v2.0.0-rc.1", "v1.10.0", "1.5", "v1.2.0", "v1.0.0"}}},
		{"semver constraint", v1alpha1.GitSubscription{CommitSelectionStrategy: semver, SemverConstraint: "^1.0.0"},
			want{tags: []string{"v1.10.0", "v1.2.0", "v1.0.0"}}},
		{"semver constraint matches nothing", v1alpha1.GitSubscription{CommitSelectionStrategy: semver, SemverConstraint: ">=3"},
			want{kind: discovery.ErrNoMatch}},
		{"semver ignore regex", v1alpha1.GitSubscription{CommitSelectionStrategy: semver, IgnoreTagsRegexes: []string{"rc"}},
			want{tags: []string{"v1.10.0", "v1.2.0", "v1.0.0"}}},
		{"semver deprecated ignoreTags", v1alpha1.GitSubscription{CommitSelectionStrategy: semver, IgnoreTags: []string{"v1.2.0"}},
			want{tags: []string{"v2.0.0-rc.1", "v1.10.0", "v1.0.0"}}},
		{"semver limit", v1alpha1.GitSubscription{CommitSelectionStrategy: semver, DiscoveryLimit: 1},
			want{tags: []string{"v2.0.0-rc.1"}}},
		{"semver include paths", v1alpha1.GitSubscription{CommitSelectionStrategy: semver, IncludePaths: []string{"env"}},
			want{tags: []string{"v1.10.0"}}},
		{"semver include paths nothing", v1alpha1.GitSubscription{CommitSelectionStrategy: semver, IncludePaths: []string{"nothing"}},
			want{kind: discovery.ErrNoMatch}},

		// Lexical
		{"lexical", v1alpha1.GitSubscription{CommitSelectionStrategy: lexical},
			want{tags: []string{"v2.0.0-rc.1", "v1.2.0", "v1.10.0", "v1.0.0", "release-b", "release-a", "1.5"}}},
		{"lexical allow regexes", v1alpha1.GitSubscription{CommitSelectionStrategy: lexical, AllowTagsRegexes: []string{`^v1\.`}},
			want{tags: []string{"v1.2.0", "v1.10.0", "v1.0.0"}}},
		{"lexical allow regex old spelling", v1alpha1.GitSubscription{CommitSelectionStrategy: lexical, AllowTagsRegex: []string{"^release"}},
			want{tags: []string{"release-b", "release-a"}}},
		{"lexical ignore regex old spelling", v1alpha1.GitSubscription{CommitSelectionStrategy: lexical, IgnoreTagsRegex: []string{"^v"}},
			want{tags: []string{"release-b", "release-a", "1.5"}}},
		{"lexical allow nothing", v1alpha1.GitSubscription{CommitSelectionStrategy: lexical, AllowTagsRegexes: []string{"^nomatch"}},
			want{kind: discovery.ErrNoMatch}},
		{"lexical exclude paths", v1alpha1.GitSubscription{CommitSelectionStrategy: lexical, ExcludePaths: []string{"base", "docs"}},
			want{tags: []string{"v1.10.0", "1.5"}}},

		// NewestTag
		{"newest tag", v1alpha1.GitSubscription{CommitSelectionStrategy: newestTag, DiscoveryLimit: 4},
			want{tags: []string{"release-b", "v1.2.0", "v2.0.0-rc.1", "release-a"}}},
		{"newest tag deprecated allowTags", v1alpha1.GitSubscription{CommitSelectionStrategy: newestTag, AllowTags: "^release-"},
			want{tags: []string{"release-b", "release-a"}}},
		{"newest tag expression on tagger", v1alpha1.GitSubscription{CommitSelectionStrategy: newestTag, ExpressionFilter: `tagger startsWith "Rel"`},
			want{tags: []string{"release-b", "v1.2.0"}}},
		{"newest tag expression on annotation", v1alpha1.GitSubscription{CommitSelectionStrategy: newestTag, ExpressionFilter: `annotation == "second release"`},
			want{tags: []string{"v1.2.0"}}},
		{"newest tag expression on date", v1alpha1.GitSubscription{CommitSelectionStrategy: newestTag, ExpressionFilter: `creatorDate > date("2024-02-01")`},
			want{tags: []string{"release-b", "v1.2.0", "v2.0.0-rc.1"}}},
		{"newest tag expression on commit fields", v1alpha1.GitSubscription{CommitSelectionStrategy: newestTag,
			ExpressionFilter: `author startsWith "Carol" && subject == "bump deploy" && id == "` + f.c4 + `"`},
			want{tags: []string{"v2.0.0-rc.1", "release-a"}}},
		{"newest tag expression selects nothing", v1alpha1.GitSubscription{CommitSelectionStrategy: newestTag, ExpressionFilter: `tag == "none"`},
			want{kind: discovery.ErrNoMatch}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub := tc.sub
			sub.RepoURL = url
			res, err := discover(t, m, &sub, nil)
			if tc.want.kind != nil {
				if !errors.Is(err, tc.want.kind) {
					t.Fatalf("err = %v, want kind %v", err, tc.want.kind)
				}
				if errors.Is(err, discovery.ErrNoMatch) && (res == nil || len(res.Commits) != 0) {
					t.Errorf("ErrNoMatch result = %+v, want a result with no commits", res)
				}
				return
			}
			if err != nil {
				t.Fatalf("Discover: %v", err)
			}
			if res.RepoURL != url {
				t.Errorf("RepoURL = %q", res.RepoURL)
			}
			var gotIDs, gotTags []string
			for _, c := range res.Commits {
				gotIDs = append(gotIDs, c.ID)
				gotTags = append(gotTags, c.Tag)
			}
			if tc.want.ids != nil && strings.Join(gotIDs, ",") != strings.Join(tc.want.ids, ",") {
				t.Errorf("commits = %v, want %v (c1..c4 = %s %s %s %s)", gotIDs, tc.want.ids, f.c1, f.c2, f.c3, f.c4)
			}
			if tc.want.tags != nil && strings.Join(gotTags, ",") != strings.Join(tc.want.tags, ",") {
				t.Errorf("tags = %v, want %v", gotTags, tc.want.tags)
			}
		})
	}
}

func TestDiscoverMetadata(t *testing.T) {
	f := newFixture(t)
	m := newTestMirrors(t)
	at := func(s string) time.Time {
		d, _ := time.Parse(time.RFC3339, s)
		return d
	}
	cases := []struct {
		name string
		sub  v1alpha1.GitSubscription
		want v1alpha1.DiscoveredCommit
	}{
		{"branch head", v1alpha1.GitSubscription{DiscoveryLimit: 1},
			v1alpha1.DiscoveredCommit{ID: f.c4, Branch: "main", Subject: "bump deploy",
				Author: "Carol <carol@example.com>", Committer: "Caravan Test <test@caravan.invalid>"}},
		{"lightweight tag has the commit's date", v1alpha1.GitSubscription{CommitSelectionStrategy: v1alpha1.CommitSelectionStrategySemVer,
			SemverConstraint: "1.0.0"},
			v1alpha1.DiscoveredCommit{ID: f.c1, Tag: "v1.0.0", Subject: "add base",
				Author: "Alice <alice@example.com>", Committer: "Caravan Test <test@caravan.invalid>"}},
		{"annotated tag has its own date", v1alpha1.GitSubscription{CommitSelectionStrategy: v1alpha1.CommitSelectionStrategySemVer,
			SemverConstraint: "1.2.0"},
			v1alpha1.DiscoveredCommit{ID: f.c2, Tag: "v1.2.0", Subject: "docs",
				Author: "Bob <bob@example.com>", Committer: "Caravan Test <test@caravan.invalid>"}},
	}
	wantDates := map[string]time.Time{
		"branch head":                           at("2024-01-01T00:03:00Z"),
		"lightweight tag has the commit's date": at("2024-01-01T00:00:00Z"),
		"annotated tag has its own date":        at("2024-06-01T00:00:00Z"),
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub := tc.sub
			sub.RepoURL = f.repo.URL
			res, err := discover(t, m, &sub, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := res.Commits[0]
			if got.CreatorDate == nil || !got.CreatorDate.Time.Equal(wantDates[tc.name]) {
				t.Errorf("CreatorDate = %v, want %v", got.CreatorDate, wantDates[tc.name])
			}
			got.CreatorDate = nil
			if got != tc.want {
				t.Errorf("commit = %+v\nwant     %+v", got, tc.want)
			}
		})
	}
}

func TestDiscoverMergesAndSubjects(t *testing.T) {
	srv := testserver.NewGitServer(t, testserver.GitServerOptions{})
	r := srv.CreateRepo(t, "merges")
	r.Commit(t, testserver.Commit{Files: map[string]string{"a": "1"}})
	f1 := r.Commit(t, testserver.Commit{Branch: "feature", Files: map[string]string{"feature/x": "1"}})
	r.Git(t, "checkout", "--quiet", "main")
	long := strings.Repeat("é", 60) // 120 bytes
	r.Commit(t, testserver.Commit{Message: long, Files: map[string]string{"b": "1"}})
	r.Git(t, "-c", "user.name=M", "-c", "user.email=m@example.com", "merge", "--quiet", "--no-ff", "-m", "merge feature", "feature")
	merge := r.Git(t, "rev-parse", "HEAD")
	r.Push(t)
	m := newTestMirrors(t)

	// A merge commit counts the paths it brings in from the merged branch,
	// compared with its first parent.
	res, err := discover(t, m, &v1alpha1.GitSubscription{RepoURL: r.URL, IncludePaths: []string{"feature"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Commits) != 2 || res.Commits[0].ID != merge || res.Commits[1].ID != f1 {
		t.Errorf("commits = %+v, want the merge then %s", res.Commits, f1)
	}

	// Subjects are cut to 80 bytes, on a character boundary, ending "...".
	res, err = discover(t, m, &v1alpha1.GitSubscription{RepoURL: r.URL, IncludePaths: []string{"b"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Commits[0].Subject
	if len(s) > 80 || !strings.HasSuffix(s, "...") || !strings.HasPrefix(long, strings.TrimSuffix(s, "...")) {
		t.Errorf("subject = %q (%d bytes)", s, len(s))
	}
}

func TestDiscoverFollowsRemoteHead(t *testing.T) {
	f := newFixture(t)
	m := newTestMirrors(t)
	sub := &v1alpha1.GitSubscription{RepoURL: f.repo.URL, DiscoveryLimit: 1}
	for _, tc := range []struct {
		head, wantID string
	}{
		{"main", f.c4},
		{"dev", f.d1},
	} {
		f.repo.SetHead(t, tc.head)
		res, err := discover(t, m, sub, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c := res.Commits[0]; c.ID != tc.wantID || c.Branch != tc.head {
			t.Errorf("HEAD -> %s: got %s on %q, want %s", tc.head, c.ID, c.Branch, tc.wantID)
		}
	}
}

func TestDiscoverEmptyRepository(t *testing.T) {
	srv := testserver.NewGitServer(t, testserver.GitServerOptions{})
	r := srv.CreateRepo(t, "empty")
	m := newTestMirrors(t)
	for _, tc := range []struct {
		strategy v1alpha1.CommitSelectionStrategy
		kind     error
	}{
		{v1alpha1.CommitSelectionStrategyNewestFromBranch, discovery.ErrNotFound},
		{v1alpha1.CommitSelectionStrategySemVer, discovery.ErrNoMatch},
	} {
		_, err := discover(t, m, &v1alpha1.GitSubscription{RepoURL: r.URL, CommitSelectionStrategy: tc.strategy}, nil)
		if !errors.Is(err, tc.kind) {
			t.Errorf("%s: err = %v, want %v", tc.strategy, err, tc.kind)
		}
	}
}
