package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/testserver"
)

const secret = "pa55-w0rd-never-shown"

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestDiscoverErrors(t *testing.T) {
	private := testserver.NewGitServer(t, testserver.GitServerOptions{Username: "bot", Password: secret})
	repo := private.CreateRepo(t, "private")
	head := repo.Commit(t, testserver.Commit{Files: map[string]string{"f": "1"}})
	repo.Push(t)
	tlsSrv := testserver.NewGitServer(t, testserver.GitServerOptions{TLS: true})
	tlsRepo := tlsSrv.CreateRepo(t, "tls")
	tlsRepo.Commit(t, testserver.Commit{})
	tlsRepo.Push(t)
	down := "http://" + closedPort(t) + "/app.git"

	var logs bytes.Buffer
	m, err := NewMirrors(t.TempDir(), Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	good := &discovery.Credentials{Username: "bot", Password: secret}
	wrong := &discovery.Credentials{Username: "bot", Password: secret + "-wrong"}
	withURLPassword := strings.Replace(repo.URL, "http://", "http://bot:"+secret+"@", 1)
	wrongURLPassword := strings.Replace(repo.URL, "http://", "http://bot:"+secret+"-x@", 1)

	cases := []struct {
		name    string
		sub     v1alpha1.GitSubscription
		creds   *discovery.Credentials
		kind    error  // nil: success
		msg     string // part of the message
		network bool   // whether the remote is contacted
	}{
		{"right password", v1alpha1.GitSubscription{RepoURL: repo.URL}, good, nil, "", true},
		{"password in URL", v1alpha1.GitSubscription{RepoURL: withURLPassword}, nil, nil, "", true},
		{"no credentials", v1alpha1.GitSubscription{RepoURL: repo.URL}, nil, discovery.ErrAuth,
			"the repository needs credentials", true},
		{"wrong password", v1alpha1.GitSubscription{RepoURL: repo.URL}, wrong, discovery.ErrAuth,
			"authentication to " + repo.URL + " failed: check the username and password of the git credentials Secret", true},
		{"wrong password in URL", v1alpha1.GitSubscription{RepoURL: wrongURLPassword}, nil, discovery.ErrAuth,
			"check the username and password", true},
		{"repository not found", v1alpha1.GitSubscription{RepoURL: private.URL + "/missing.git"}, good, discovery.ErrNotFound,
			"repository " + private.URL + "/missing.git not found", true},
		{"branch not found", v1alpha1.GitSubscription{RepoURL: repo.URL, Branch: "release"}, good, discovery.ErrNotFound,
			`branch "release" not found`, true},
		{"unreachable", v1alpha1.GitSubscription{RepoURL: down}, nil, discovery.ErrUnreachable, "cannot reach " + down, true},
		{"unverified TLS", v1alpha1.GitSubscription{RepoURL: tlsRepo.URL}, nil, discovery.ErrUnreachable,
			"insecureSkipTLSVerify", true},
		{"insecureSkipTLSVerify", v1alpha1.GitSubscription{RepoURL: tlsRepo.URL, InsecureSkipTLSVerify: true}, nil, nil, "", true},
		{"ssh key, host down", v1alpha1.GitSubscription{RepoURL: "ssh://git@" + closedPort(t) + "/app.git"},
			&discovery.Credentials{SSHPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\n" + secret + "\n-----END OPENSSH PRIVATE KEY-----"},
			discovery.ErrUnreachable, "cannot reach", true},
		{"bad regex", v1alpha1.GitSubscription{RepoURL: repo.URL, CommitSelectionStrategy: v1alpha1.CommitSelectionStrategyLexical,
			AllowTagsRegexes: []string{"("}}, good, discovery.ErrInvalid, `allowTagsRegexes[0] "(" is invalid`, false},
		{"bad ignore regex", v1alpha1.GitSubscription{RepoURL: repo.URL, IgnoreTagsRegex: []string{"[z-a]"}}, good,
			discovery.ErrInvalid, "ignoreTagsRegex[0]", false},
		{"bad constraint", v1alpha1.GitSubscription{RepoURL: repo.URL, CommitSelectionStrategy: v1alpha1.CommitSelectionStrategySemVer,
			SemverConstraint: "~> one"}, good, discovery.ErrInvalid, "semverConstraint", false},
		{"bad expression", v1alpha1.GitSubscription{RepoURL: repo.URL, ExpressionFilter: "subject =="}, good,
			discovery.ErrInvalid, "expressionFilter", false},
		{"unknown expression field", v1alpha1.GitSubscription{RepoURL: repo.URL, ExpressionFilter: `tagger == "x"`}, good,
			discovery.ErrInvalid, "id, commitDate, author, committer, subject", false},
		{"expression not a condition", v1alpha1.GitSubscription{RepoURL: repo.URL, ExpressionFilter: `subject`}, good,
			discovery.ErrInvalid, "must evaluate to true or false", true},
		{"bad glob", v1alpha1.GitSubscription{RepoURL: repo.URL, IncludePaths: []string{"glob:{a,b"}}, good,
			discovery.ErrInvalid, "includePaths[0]", false},
		{"bad path regex", v1alpha1.GitSubscription{RepoURL: repo.URL, ExcludePaths: []string{"regex:("}}, good,
			discovery.ErrInvalid, "excludePaths[0]", false},
		{"bad strategy", v1alpha1.GitSubscription{RepoURL: repo.URL, CommitSelectionStrategy: "Oldest"}, good,
			discovery.ErrInvalid, "commitSelectionStrategy", false},
		{"local path refused", v1alpha1.GitSubscription{RepoURL: repo.Dir}, nil, discovery.ErrInvalid, "not a supported Git URL", false},
		{"file URL refused", v1alpha1.GitSubscription{RepoURL: "file://" + repo.Dir}, nil, discovery.ErrInvalid, "not a supported Git URL", false},
		{"no URL", v1alpha1.GitSubscription{}, nil, discovery.ErrInvalid, "no repoURL", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := m.Stats()
			res, err := discover(t, m, &tc.sub, tc.creds)
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("Discover: %v", err)
				}
				if len(res.Commits) == 0 || (res.Commits[0].ID != head && tc.sub.RepoURL != tlsRepo.URL) {
					t.Errorf("commits = %+v, want head %s", res.Commits, head)
				}
				return
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want kind %v", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error reveals the secret: %q", err)
			}
			if contacted := m.Stats().RemoteChecks > before.RemoteChecks; contacted != tc.network {
				t.Errorf("remote contacted = %v, want %v", contacted, tc.network)
			}
		})
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("logs reveal the secret:\n%s", logs.String())
	}
	if entries, _ := os.ReadDir(filepath.Join(m.dir, ".tmp")); len(entries) != 0 {
		t.Errorf("key files left behind: %v", entries)
	}
	// No credentials in any mirror's configuration.
	dirs, _ := filepath.Glob(filepath.Join(m.dir, "*.git"))
	if len(dirs) == 0 {
		t.Fatal("no mirror was made")
	}
	for _, d := range dirs {
		config, err := os.ReadFile(filepath.Join(d, "config"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(config), secret) || strings.Contains(string(config), "bot") {
			t.Errorf("mirror config holds credentials:\n%s", config)
		}
	}
}

// round runs n concurrent Discover calls while the server holds requests
// until all n are waiting for the remote's refs, so that they are certain
// to overlap, and returns their results.
func round(t *testing.T, srv *testserver.GitServer, m *Mirrors, subs []*v1alpha1.GitSubscription) []*v1alpha1.GitDiscoveryResult {
	t.Helper()
	release := srv.Hold()
	defer release()
	checks := m.Stats().RemoteChecks
	results := make([]*v1alpha1.GitDiscoveryResult, len(subs))
	errs := make([]error, len(subs))
	var wg sync.WaitGroup
	for i, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = discover(t, m, sub, nil)
		}()
	}
	waitFor(t, "all discoveries to wait on the remote", func() bool {
		return srv.Held() > 0 && m.Stats().RemoteChecks == checks+int64(len(subs))
	})
	release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("discovery %d: %v", i, err)
		}
	}
	return results
}

func TestSharedMirror(t *testing.T) {
	srv := testserver.NewGitServer(t, testserver.GitServerOptions{})
	repo := srv.CreateRepo(t, "shared")
	first := repo.Commit(t, testserver.Commit{Files: map[string]string{"app/deploy.yaml": "1"}})
	repo.Tag(t, testserver.Tag{Name: "v1.0.0"})
	repo.Push(t)
	m := newTestMirrors(t)

	// Ten Warehouses on one repository, spelling its URL two ways.
	subs := make([]*v1alpha1.GitSubscription, 10)
	for i := range subs {
		u := repo.URL
		if i%2 == 1 {
			u = strings.TrimSuffix(u, ".git")
		}
		subs[i] = &v1alpha1.GitSubscription{RepoURL: u, Branch: "main", DiscoveryLimit: 5}
	}
	type counts struct{ lsRemotes, fetches, listings int64 }
	check := func(name string, want counts, head string) {
		t.Helper()
		before := m.Stats()
		results := round(t, srv, m, subs)
		after := m.Stats()
		got := counts{after.LsRemotes - before.LsRemotes, after.Fetches - before.Fetches, after.Listings - before.Listings}
		if got != want {
			t.Errorf("%s: ls-remotes, fetches, listings = %+v, want %+v", name, got, want)
		}
		if want.fetches > 0 && after.FetchedBytes == before.FetchedBytes {
			t.Errorf("%s: a fetch counted no bytes", name)
		}
		for i, res := range results {
			if res.Commits[0].ID != head {
				t.Errorf("%s: discovery %d found %s, want %s", name, i, res.Commits[0].ID, head)
			}
		}
	}
	check("first round", counts{1, 1, 1}, first)
	check("nothing changed", counts{1, 0, 0}, first)
	second := repo.Commit(t, testserver.Commit{Files: map[string]string{"app/deploy.yaml": "2"}})
	repo.Push(t)
	check("after a push", counts{1, 1, 1}, second)
	check("nothing changed again", counts{1, 0, 0}, second)

	// The server saw the same: per round one ls-refs, plus one per fetch.
	if st := srv.Stats(); st.LsRefs != 4+2 {
		t.Errorf("server ls-refs = %d, want 6", st.LsRefs)
	}
	if dirs, _ := filepath.Glob(filepath.Join(m.dir, "*.git")); len(dirs) != 1 {
		t.Errorf("mirrors = %v, want one for both spellings of the URL", dirs)
	}

	// A tag subscription on the same repository fetches only the tags.
	before := m.Stats()
	if _, err := discover(t, m, &v1alpha1.GitSubscription{RepoURL: repo.URL,
		CommitSelectionStrategy: v1alpha1.CommitSelectionStrategySemVer}, nil); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().Fetches - before.Fetches; got != 1 {
		t.Errorf("tag discovery fetched %d times, want 1", got)
	}
}

func TestListingsReadingTheClockAreNotKept(t *testing.T) {
	srv := testserver.NewGitServer(t, testserver.GitServerOptions{})
	repo := srv.CreateRepo(t, "clock")
	repo.Commit(t, testserver.Commit{})
	repo.Push(t)
	m := newTestMirrors(t)
	for _, tc := range []struct {
		expression   string
		wantListings int64 // over two discoveries
	}{
		{`commitDate < date("2100-01-01")`, 1},
		{`commitDate < now()`, 2},
	} {
		before := m.Stats().Listings
		for range 2 {
			if _, err := discover(t, m, &v1alpha1.GitSubscription{RepoURL: repo.URL, ExpressionFilter: tc.expression}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if got := m.Stats().Listings - before; got != tc.wantListings {
			t.Errorf("%s: %d listings, want %d", tc.expression, got, tc.wantListings)
		}
	}
}

func TestSharedLsRemoteNeedsSameCredentials(t *testing.T) {
	srv := testserver.NewGitServer(t, testserver.GitServerOptions{Username: "bot", Password: secret})
	repo := srv.CreateRepo(t, "creds")
	repo.Commit(t, testserver.Commit{})
	repo.Push(t)
	m := newTestMirrors(t)
	sub := &v1alpha1.GitSubscription{RepoURL: repo.URL}

	release := srv.Hold()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, creds := range []*discovery.Credentials{{Username: "bot", Password: secret}, nil} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = discover(t, m, sub, creds)
		}()
	}
	waitFor(t, "both discoveries to reach the server", func() bool { return m.Stats().LsRemotes == 2 })
	release()
	wg.Wait()
	if errs[0] != nil {
		t.Errorf("with credentials: %v", errs[0])
	}
	if !errors.Is(errs[1], discovery.ErrAuth) {
		t.Errorf("without credentials: err = %v, want ErrAuth (no sharing of another caller's ls-remote)", errs[1])
	}
}

func TestSync(t *testing.T) {
	srv := testserver.NewGitServer(t, testserver.GitServerOptions{})
	repo := srv.CreateRepo(t, "sync")
	c1 := repo.Commit(t, testserver.Commit{Files: map[string]string{"a": "1"}})
	repo.Tag(t, testserver.Tag{Name: "v1", Message: "one"})
	c2 := repo.Commit(t, testserver.Commit{Branch: "other", Files: map[string]string{"b": "1"}})
	repo.Push(t)
	m := newTestMirrors(t)
	ctx := context.Background()
	remote := Remote{URL: repo.URL}

	rev := func(path, ref string) string {
		t.Helper()
		out, err := m.command(ctx, path, nil, nil, "rev-parse", "--verify", "--quiet", ref)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	cases := []struct {
		name        string
		refs        []string
		wantFetches int64
		kind        error
		check       map[string]string // ref → commit the mirror must have
	}{
		{"branch by name", []string{"main"}, 1, nil, map[string]string{"refs/heads/main": c1}},
		{"same again", []string{"refs/heads/main"}, 0, nil, nil},
		{"commit already there", []string{c1}, 0, nil, nil},
		{"tag", []string{"v1"}, 1, nil, map[string]string{"refs/tags/v1^{commit}": c1}},
		{"commit on a branch not fetched yet", []string{c2}, 1, nil, map[string]string{"refs/heads/other": c2}},
		{"unknown name", []string{"nope"}, 0, discovery.ErrNotFound, nil},
		{"unknown full ref", []string{"refs/heads/nope"}, 0, discovery.ErrNotFound, nil},
		{"unknown commit", []string{strings.Repeat("ab", 20)}, 1, discovery.ErrNotFound, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := m.Stats().Fetches
			path, err := m.Sync(ctx, remote, tc.refs...)
			if got := m.Stats().Fetches - before; got != tc.wantFetches {
				t.Errorf("fetches = %d, want %d", got, tc.wantFetches)
			}
			if tc.kind != nil {
				if !errors.Is(err, tc.kind) {
					t.Fatalf("err = %v, want %v", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for ref, want := range tc.check {
				if got := rev(path, ref); got != want {
					t.Errorf("%s = %q, want %s", ref, got, want)
				}
			}
		})
	}

	// Deleted remote branches are pruned from the mirror on the next sync.
	repo.Git(t, "checkout", "--quiet", "main")
	repo.Git(t, "branch", "-D", "other")
	repo.Push(t)
	path, err := m.Sync(ctx, remote, "main")
	if err != nil {
		t.Fatal(err)
	}
	if got := rev(path, "refs/heads/other"); got != "" {
		t.Errorf("deleted branch still in the mirror at %s", got)
	}
}

func TestMirrorsReuseDirectory(t *testing.T) {
	srv := testserver.NewGitServer(t, testserver.GitServerOptions{})
	repo := srv.CreateRepo(t, "reuse")
	head := repo.Commit(t, testserver.Commit{})
	repo.Push(t)
	dir := t.TempDir()
	sub := &v1alpha1.GitSubscription{RepoURL: repo.URL}
	for i, wantFetches := range []int64{1, 0} {
		m, err := NewMirrors(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := discover(t, m, sub, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Commits[0].ID != head || m.Stats().Fetches != wantFetches {
			t.Errorf("run %d: head %s, fetches %d; want %s, %d", i, res.Commits[0].ID, m.Stats().Fetches, head, wantFetches)
		}
	}
}

func TestNewMirrorsMissingGit(t *testing.T) {
	_, err := NewMirrors(t.TempDir(), Options{GitBinary: "/nonexistent/git"})
	if err == nil || !strings.Contains(err.Error(), "install git") {
		t.Fatalf("err = %v", err)
	}
}

func TestDiscoverContextCancelled(t *testing.T) {
	srv := testserver.NewGitServer(t, testserver.GitServerOptions{})
	repo := srv.CreateRepo(t, "slow")
	repo.Commit(t, testserver.Commit{})
	repo.Push(t)
	m := newTestMirrors(t)
	release := srv.Hold()
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := m.Discover(ctx, &v1alpha1.GitSubscription{RepoURL: repo.URL}, nil)
		done <- err
	}()
	waitFor(t, "the request to be held", func() bool { return srv.Held() > 0 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	release()
	// The shared ls-remote finishes on its own; a later call succeeds.
	if _, err := discover(t, m, &v1alpha1.GitSubscription{RepoURL: repo.URL}, nil); err != nil {
		t.Fatal(err)
	}
}

func ExampleMirrors_Discover() {
	dir, err := os.MkdirTemp("", "caravan-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	m, err := NewMirrors(dir, Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = m.Discover(context.Background(), &v1alpha1.GitSubscription{
		RepoURL:                 "https://git.example.invalid/app.git",
		CommitSelectionStrategy: v1alpha1.CommitSelectionStrategySemVer,
		SemverConstraint:        "(",
	}, nil)
	fmt.Println(errors.Is(err, discovery.ErrInvalid))
	// Output: true
}
