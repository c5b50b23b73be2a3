package steps

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/caravan-dev/caravan/internal/discovery/git"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/testserver"
)

func TestGitCloneValidation(t *testing.T) {
	const url = "https://git.example.com/app.git"
	id := strings.Repeat("a", 40)
	checkValidation(t, NewGitClone(nil, nil), []validationCase{
		{name: "valid", config: "repoURL: " + url + "\ncheckout:\n- branch: main\n  path: ./out\n  sparse: [base]\n"},
		{name: "no repoURL", config: "checkout:\n- path: ./out\n", want: "repoURL"},
		{name: "empty repoURL", config: "repoURL: ''\ncheckout:\n- path: ./out\n", want: "/repoURL"},
		{name: "no checkout", config: "repoURL: " + url + "\ncheckout: []\n", want: "/checkout"},
		{name: "checkout without path", config: "repoURL: " + url + "\ncheckout:\n- branch: main\n", want: "path"},
		{name: "misspelled field", config: "repoURL: " + url + "\ncheckout:\n- brnach: main\n  path: ./out\n", want: "brnach"},
		{name: "author without email", config: "repoURL: " + url + "\nauthor: {name: Bot}\ncheckout:\n- path: ./out\n", want: "email"},
		{name: "signing key", config: "repoURL: " + url + "\nauthor: {name: Bot, email: bot@example.com, signingKey: k}\ncheckout:\n- path: ./out\n",
			want: "author.signingKey: commit signing is not supported"},
		{name: "branch and commit", config: "repoURL: " + url + "\ncheckout:\n- branch: main\n  commit: " + id + "\n  path: ./out\n",
			want: "checkout[0] sets more than one of branch, commit and tag"},
		{name: "bad branch name", config: "repoURL: " + url + "\ncheckout:\n- branch: a..b\n  path: ./out\n",
			want: `checkout[0].branch "a..b" is not a valid branch name`},
		{name: "commit is not an ID", config: "repoURL: " + url + "\ncheckout:\n- commit: HEAD~1\n  path: ./out\n",
			want: `checkout[0].commit "HEAD~1" is not a commit ID`},
		{name: "path outside", config: "repoURL: " + url + "\ncheckout:\n- branch: main\n  path: ../out\n",
			want: "checkout[0].path: resolve path \"../out\": its \"..\" leads outside the promotion's workspace"},
		{name: "path is the workspace", config: "repoURL: " + url + "\ncheckout:\n- branch: main\n  path: .\n",
			want: "check out into a directory inside the workspace"},
		{name: "path in the state directory", config: "repoURL: " + url + "\ncheckout:\n- branch: main\n  path: .caravan/x\n",
			want: "check out into a directory inside the workspace"},
		{name: "nested paths", config: "repoURL: " + url + "\ncheckout:\n- branch: main\n  path: ./out\n- tag: v1\n  path: ./out/v1\n",
			want: `checkout[1].path "./out/v1" overlaps checkout[0].path`},
		{name: "same alias", config: "repoURL: " + url + "\ncheckout:\n- branch: main\n  path: ./a\n  as: x\n- tag: v1\n  path: ./b\n  as: x\n",
			want: `checkout[0] and checkout[1] both have the alias "x"`},
		{name: "sparse pattern", config: "repoURL: " + url + "\ncheckout:\n- branch: main\n  path: ./out\n  sparse: [env/*]\n",
			want: "checkout[0].sparse[0] \"env/*\": patterns are not supported"},
		{name: "sparse outside", config: "repoURL: " + url + "\ncheckout:\n- branch: main\n  path: ./out\n  sparse: [../x]\n",
			want: "leads outside the repository"},
		{name: "sparse absolute", config: "repoURL: " + url + "\ncheckout:\n- branch: main\n  path: ./out\n  sparse: [/env]\n",
			want: "without a leading '/'"},
		{name: "local repository", config: "repoURL: /srv/git/app.git\ncheckout:\n- branch: main\n  path: ./out\n",
			want: "not a supported Git URL"},
	})
}

func TestGitCloneCheckouts(t *testing.T) {
	f := newGitFixture(t)
	step := NewGitClone(f.mirrors, f.creds)
	ws := t.TempDir()
	config := fmt.Sprintf(`
repoURL: %s
checkout:
- branch: main
  path: ./branch
- commit: %s
  path: ./commit
- tag: v1.0.0
  path: ./deep/er/tag
  as: tagged
- commit: %s
  path: ./short
`, f.repo.URL, f.v1, f.v1[:10])
	res := runTwice(t, step, ws, config)
	got := gitCommits(t, res)
	want := map[string]any{"./branch": f.main, "./commit": f.v1, "tagged": f.v1, "./short": f.v1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("commits = %v, want %v", got, want)
	}
	tests := []struct {
		path, readme, branch string
	}{
		{"branch", "app, v2\n", "main"},
		{"commit", "app\n", ""},
		{"deep/er/tag", "app\n", ""},
		{"short", "app\n", ""},
	}
	for _, tc := range tests {
		dir := filepath.Join(ws, tc.path)
		if got := readFile(t, dir, "README.md"); got != tc.readme {
			t.Errorf("%s/README.md = %q, want %q", tc.path, got, tc.readme)
		}
		if got := readFile(t, dir, "env/prod/kustomization.yaml"); !strings.Contains(got, "prod-") {
			t.Errorf("%s is not fully checked out", tc.path)
		}
		if st := gitTestCmd(t, dir, "status", "--porcelain"); st != "" {
			t.Errorf("%s is not clean:\n%s", tc.path, st)
		}
		branch := strings.TrimPrefix(gitTestCmd(t, dir, "rev-parse", "--symbolic-full-name", "HEAD"), "refs/heads/")
		if tc.branch == "" && branch != "HEAD" || tc.branch != "" && branch != tc.branch {
			t.Errorf("%s is on %q, want %q", tc.path, branch, tc.branch)
		}
	}
	// With none of branch, commit and tag: the default branch.
	other := t.TempDir()
	res = runTwice(t, step, other, "repoURL: "+f.repo.URL+"\ncheckout:\n- path: ./default\n")
	if got := gitCommits(t, res)["./default"]; got != f.main {
		t.Errorf("default checkout = %v, want main's head %s", got, f.main)
	}
	if b := gitTestCmd(t, filepath.Join(other, "default"), "symbolic-ref", "--short", "HEAD"); b != "main" {
		t.Errorf("default checkout is on %q, want main", b)
	}
	// The promotion repository holds no objects of its own: it borrows them.
	if n := gitPackCount(t, ws); n != 0 {
		t.Errorf("the promotion repository holds %d packs, want 0 (objects are borrowed from the mirror)", n)
	}
}

// gitPackCount counts the packs of the workspace's promotion repositories.
func gitPackCount(t testing.TB, ws string) int {
	t.Helper()
	packs, err := filepath.Glob(filepath.Join(ws, ".caravan", "git", "*.git", "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return len(packs)
}

func TestGitCloneCreatesBranch(t *testing.T) {
	f := newGitFixture(t)
	step := NewGitClone(f.mirrors, f.creds)
	config := f.cloneConfig(f.v1, "test")

	ws := t.TempDir()
	res := runTwice(t, step, ws, config)
	initial, _ := gitCommits(t, res)["./out"].(string)
	if len(initial) != 40 {
		t.Fatalf("commit of ./out = %q, want the new branch's initial commit", initial)
	}
	out := filepath.Join(ws, "out")
	if got := listTree(t, out); len(got) != 1 || got[0] != ".git" {
		t.Errorf("./out holds %v, want only .git", got)
	}
	if b := gitTestCmd(t, out, "symbolic-ref", "--short", "HEAD"); b != "stage/test" {
		t.Errorf("./out is on %q, want stage/test", b)
	}
	if msg := gitTestCmd(t, out, "log", "--format=%an <%ae> %s", "HEAD"); msg != "Caravan <caravan@localhost> Initial commit" {
		t.Errorf("history of the new branch: %q", msg)
	}
	if f.remoteHas(t, "refs/heads/stage/test") {
		t.Error("git-clone pushed the new branch; only git-push may")
	}
	// Another promotion creating the same branch makes the same commit.
	other := runTwice(t, step, t.TempDir(), config)
	if got := gitCommits(t, other)["./out"]; got != initial {
		t.Errorf("a second promotion's initial commit is %v, want %s", got, initial)
	}
	// So does one that names its source by an abbreviated ID (which syncs
	// every branch and tag).
	short := f.mustRun(t, step, t.TempDir(), f.cloneConfig(f.v1[:12], "short"))
	if got := gitCommits(t, short); got["./out"] != initial || got["./src"] != f.v1 {
		t.Errorf("commits = %v, want ./src %s and ./out %s", got, f.v1, initial)
	}
	// With an author, the initial commit is theirs.
	authored := strings.Replace(config, "checkout:", "author: {name: Release Bot, email: bot@example.com}\ncheckout:", 1)
	res = f.mustRun(t, step, t.TempDir(), authored)
	if got := gitCommits(t, res)["./out"]; got == initial {
		t.Error("the author's initial commit is the default author's")
	}

	// Without create, a missing branch is an error that says how to fix it.
	_, err := f.run(t, step, f.ctx(t, t.TempDir(), strings.Replace(config, "create: true", "create: false", 1)))
	gitWantTerminal(t, err, `checkout[1].branch: `+f.repo.URL+` has no branch "stage/test": set create: true`)
	// Once the branch exists, create: true checks it out.
	f.repo.Commit(t, testserver.Commit{Branch: "stage/test", Message: "rendered", Files: map[string]string{"app.yaml": "x\n"}})
	f.repo.Push(t)
	res = f.mustRun(t, step, t.TempDir(), config)
	if got := gitCommits(t, res)["./out"]; got != f.remote(t, "rev-parse", "refs/heads/stage/test") {
		t.Errorf("commit of ./out = %v, want the branch's head", got)
	}
}

func TestGitCloneSparse(t *testing.T) {
	f := newGitFixture(t)
	step := NewGitClone(f.mirrors, f.creds)
	ws := t.TempDir()
	config := fmt.Sprintf(`
repoURL: %s
checkout:
- commit: %s
  path: ./src
  sparse: [base, env/test/]
`, f.repo.URL, f.main)
	runTwice(t, step, ws, config)
	src := filepath.Join(ws, "src")
	want := []string{".git", "README.md", "base/", "base/deployment.yaml", "base/kustomization.yaml",
		"env/", "env/test/", "env/test/kustomization.yaml"}
	if got := listTree(t, src); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sparse checkout holds\n  %v\nwant\n  %v", got, want)
	}
	if st := gitTestCmd(t, src, "status", "--porcelain"); st != "" {
		t.Errorf("sparse checkout is not clean:\n%s", st)
	}
}

func TestGitCloneRefusesOccupiedPath(t *testing.T) {
	f := newGitFixture(t)
	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{"out/mine.txt": "keep me"})
	_, err := f.run(t, NewGitClone(f.mirrors, f.creds), f.ctx(t, ws, f.cloneConfig(f.v1, "test")))
	gitWantTerminal(t, err, `checkout[1].path "./out" already exists and is not empty`)
	if got := readFile(t, ws, "out/mine.txt"); got != "keep me" {
		t.Errorf("the file at the path was changed: %q", got)
	}
}

func TestGitCloneCredentials(t *testing.T) {
	f := newGitFixture(t)
	tests := []struct {
		name string
		step promotion.Step
		want string
	}{
		{"none", NewGitClone(f.mirrors, nil), "the repository needs credentials"},
		{"wrong", NewGitClone(f.mirrors, gitCredsLookup(t, f.repo.URL, "bot", gitTestPassword+"-wrong")),
			"check the username and password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.run(t, tc.step, f.ctx(t, t.TempDir(), f.cloneConfig(f.v1, "test")))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	// The right credentials never reach the workspace's files.
	ws := t.TempDir()
	f.mustRun(t, NewGitClone(f.mirrors, f.creds), ws, f.cloneConfig(f.v1, "test"))
	err := filepath.WalkDir(ws, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), gitTestPassword) {
			t.Errorf("%s holds the password", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGitCloneBorrowsFromWarmMirror checks that a second promotion of the
// same source transfers next to nothing: the mirror has every object.
func TestGitCloneBorrowsFromWarmMirror(t *testing.T) {
	f := newGitFixture(t)
	blob := make([]byte, 1<<20)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	source := f.repo.Commit(t, testserver.Commit{Message: "big", Files: map[string]string{"assets/random.bin": string(blob)}})
	f.repo.Push(t)
	step := NewGitClone(f.mirrors, f.creds)
	config := f.cloneConfig(source, "test")

	before := f.srv.Stats()
	f.mustRun(t, step, t.TempDir(), config)
	first := f.srv.Stats()
	ws := t.TempDir()
	f.mustRun(t, step, ws, config)
	second := f.srv.Stats()

	cold, warm := first.BytesServed-before.BytesServed, second.BytesServed-first.BytesServed
	t.Logf("bytes served: first promotion %d, second %d (fetches %d, %d)", cold, warm,
		first.Fetches-before.Fetches, second.Fetches-first.Fetches)
	if cold < 1<<20 {
		t.Errorf("the first promotion got %d bytes, less than the 1 MiB blob", cold)
	}
	if warm > 8<<10 {
		t.Errorf("the second promotion got %d bytes with a warm mirror, want a ref listing only (≤ 8 KiB)", warm)
	}
	if second.Fetches != first.Fetches {
		t.Errorf("the second promotion fetched %d times, want 0", second.Fetches-first.Fetches)
	}
	if got := readFile(t, ws, "src/assets/random.bin"); got != string(blob) {
		t.Error("the borrowed blob reads wrong")
	}
	if n := gitPackCount(t, ws); n != 0 {
		t.Errorf("the promotion repository holds %d packs, want 0", n)
	}
}

func TestGitCloneSubmodules(t *testing.T) {
	f := newGitFixture(t)
	lib := f.srv.CreateRepo(t, "lib")
	lib.Commit(t, testserver.Commit{Message: "lib", Files: map[string]string{"lib.txt": "library\n"}})
	lib.Push(t)
	f.repo.Git(t, "-c", "protocol.file.allow=always", "submodule", "add", "--quiet", lib.Dir, "vendor/lib")
	f.repo.Git(t, "config", "--file", ".gitmodules", "submodule.vendor/lib.url", lib.URL)
	f.repo.Git(t, "add", ".gitmodules")
	f.repo.Git(t, "commit", "--quiet", "-m", "add lib")
	f.repo.Push(t)
	head := f.remote(t, "rev-parse", "main")

	// The lib repository is on the same host: the app's credentials do.
	step := NewGitClone(f.mirrors, f.creds)
	ws := t.TempDir()
	config := fmt.Sprintf("repoURL: %s\nrecurseSubmodules: true\ncheckout:\n- commit: %s\n  path: ./src\n", f.repo.URL, head)
	f.mustRun(t, step, ws, config)
	if got := readFile(t, ws, "src/vendor/lib/lib.txt"); got != "library\n" {
		t.Errorf("submodule file = %q", got)
	}
}

// BenchmarkRenderedClone measures git-clone as the rendered-manifests
// promotion of BENCHMARKS.md uses it, on the heavy repository: the source
// commit (sparse: base and env/s1; or whole) at ./src and the output branch
// at ./out. "warm" runs against a warm mirror with the output branch
// already on the server (every promotion after the first); "new-branch"
// creates the output branch (create: true); "cold" starts from an empty
// mirror each time. It reports the bytes the server sent per clone.
//
//	bash hack/bench/heavyrepo.sh
//	go test -run '^$' -bench RenderedClone -benchtime 20x ./internal/promotion/steps
func BenchmarkRenderedClone(b *testing.B) {
	heavy := gitHeavyRepo()
	if _, err := os.Stat(filepath.Join(heavy, "HEAD")); err != nil {
		msg := "heavy repository " + heavy + " is missing: build it with bash hack/bench/heavyrepo.sh"
		if os.Getenv("CI") == "true" {
			b.Fatal(msg)
		}
		b.Skip(msg)
	}
	srv := testserver.NewGitServer(b, testserver.GitServerOptions{})
	repo := srv.CreateRepoFrom(b, "heavy", heavy)
	head := gitTestCmd(b, repo.Dir, "rev-parse", "main")
	// The output branch of earlier promotions: one commit of rendered output.
	tree := gitTestCmd(b, repo.Dir, "mktree")
	rendered := gitTestCmd(b, repo.Dir, "commit-tree", "-m", "rendered", tree)
	gitTestCmd(b, repo.Dir, "update-ref", "refs/heads/stage/s1", rendered)

	quiet := slog.New(slog.DiscardHandler)
	newMirrors := func(b *testing.B) *git.Mirrors {
		m, err := git.NewMirrors(b.TempDir(), git.Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	run := func(b *testing.B, step promotion.Step, config string) {
		sc := &promotion.StepContext{Project: "bench", Stage: "s1", Promotion: "s1.bench", WorkDir: b.TempDir(),
			Config: configJSONBench(b, config), Attempt: 1, Logger: quiet}
		if _, err := step.Run(b.Context(), sc); err != nil {
			b.Fatal(err)
		}
	}
	const sparse = "\n  sparse: [base, env/s1]"
	for _, variant := range []struct {
		name, sparse, branch string
		cold                 bool
	}{
		{"warm/sparse", sparse, "stage/s1", false},
		{"warm/whole", "", "stage/s1", false},
		{"new-branch/sparse", sparse, "stage/new", false},
		{"cold/sparse", sparse, "stage/s1", true},
	} {
		config := fmt.Sprintf("repoURL: %s\ncheckout:\n- commit: %s\n  path: ./src%s\n- branch: %s\n  create: true\n  path: ./out\n",
			repo.URL, head, variant.sparse, variant.branch)
		b.Run(variant.name, func(b *testing.B) {
			step := NewGitClone(newMirrors(b), nil)
			if !variant.cold {
				run(b, step, config) // warms the mirror
			}
			served := srv.Stats().BytesServed
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if variant.cold {
					b.StopTimer()
					step = NewGitClone(newMirrors(b), nil)
					b.StartTimer()
				}
				run(b, step, config)
			}
			b.StopTimer()
			b.ReportMetric(float64(srv.Stats().BytesServed-served)/float64(b.N), "served-B/op")
		})
	}
}

// configJSONBench turns a YAML config into JSON, for benchmarks.
func configJSONBench(b *testing.B, config string) []byte {
	b.Helper()
	j, err := yaml.YAMLToJSON([]byte(config))
	if err != nil {
		b.Fatal(err)
	}
	return j
}

// gitHeavyRepo is where hack/bench/heavyrepo.sh builds the heavy repository.
func gitHeavyRepo() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "caravan-test", "heavy.git")
}

// TestGitCloneBranchAtOnePath checks that a branch is checked out at one
// path at a time, as in git, unless a later step removed the first one.
func TestGitCloneBranchAtOnePath(t *testing.T) {
	f := newGitFixture(t)
	step := NewGitClone(f.mirrors, f.creds)
	ws := t.TempDir()
	_, err := f.run(t, step, f.ctx(t, ws, "repoURL: "+f.repo.URL+"\ncheckout:\n- branch: main\n  path: ./a\n- branch: main\n  path: ./b\n"))
	gitWantTerminal(t, err, `checkout[1]: branch "main" is checked out at `+filepath.Join(ws, "a")+" already")

	f.mustRun(t, step, ws, "repoURL: "+f.repo.URL+"\ncheckout:\n- branch: main\n  path: ./a\n")
	if err := os.RemoveAll(filepath.Join(ws, "a")); err != nil {
		t.Fatal(err)
	}
	res := f.mustRun(t, step, ws, "repoURL: "+f.repo.URL+"\ncheckout:\n- branch: main\n  path: ./b\n")
	if got := gitCommits(t, res)["./b"]; got != f.main {
		t.Errorf("commit of ./b = %v, want %s", got, f.main)
	}
}
