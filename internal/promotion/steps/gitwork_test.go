package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/credentials"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/discovery/git"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
	"github.com/caravan-dev/caravan/internal/store/sqlite"
	"github.com/caravan-dev/caravan/internal/testserver"
)

// This file holds the fixture of the git step tests — a real Git server
// with basic authentication, credentials in a real SQLite store, real
// mirrors — and the tests of what the git steps share.

// gitTestPassword is the server's password: it must never show up in an
// output, an error or a log line.
const gitTestPassword = "pa55-t0ken-never-shown"

// gitFixture is a repository on a Git server that needs credentials, and
// the mirrors and credentials the steps use.
type gitFixture struct {
	srv     *testserver.GitServer
	repo    *testserver.GitRepo
	mirrors *git.Mirrors
	creds   discovery.CredentialsLookup
	// v1 and main are the commits of tag v1.0.0 and of branch main.
	v1, main string

	logMu sync.Mutex
	logs  bytes.Buffer
}

// gitSyncWriter serializes writes to the fixture's log buffer.
type gitSyncWriter struct{ f *gitFixture }

func (w gitSyncWriter) Write(p []byte) (int, error) {
	w.f.logMu.Lock()
	defer w.f.logMu.Unlock()
	return w.f.logs.Write(p)
}

// newGitFixture makes repository "app" holding a small kustomize app on
// main, with tag v1.0.0 one commit behind main, and a git credentials
// Secret for it in project demo.
func newGitFixture(t testing.TB) *gitFixture {
	t.Helper()
	f := &gitFixture{}
	f.srv = testserver.NewGitServer(t, testserver.GitServerOptions{Username: "bot", Password: gitTestPassword})
	f.repo = f.srv.CreateRepo(t, "app")
	f.v1 = f.repo.Commit(t, testserver.Commit{Message: "the app", Files: map[string]string{
		"README.md":                    "app\n",
		"base/kustomization.yaml":      "resources:\n- deployment.yaml\n",
		"base/deployment.yaml":         "kind: Deployment\nmetadata:\n  name: app\n",
		"env/test/kustomization.yaml":  "resources:\n- ../../base\nnamePrefix: test-\n",
		"env/prod/kustomization.yaml":  "resources:\n- ../../base\nnamePrefix: prod-\n",
		"assets/big/blob.bin":          strings.Repeat("x", 4096),
		"assets/big/nested/other.bin":  strings.Repeat("y", 4096),
		"env/prod/secrets/placeholder": "none\n",
	}})
	f.repo.Tag(t, testserver.Tag{Name: "v1.0.0", Message: "release 1.0.0"})
	f.main = f.repo.Commit(t, testserver.Commit{Message: "readme", Files: map[string]string{"README.md": "app, v2\n"}})
	f.repo.Push(t)

	quiet := slog.New(slog.DiscardHandler)
	var err error
	if f.mirrors, err = git.NewMirrors(t.TempDir(), git.Options{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	f.creds = gitCredsLookup(t, f.repo.URL, "bot", gitTestPassword)
	t.Cleanup(func() {
		if strings.Contains(f.logs.String(), gitTestPassword) {
			t.Errorf("the password is in the steps' logs:\n%s", f.logs.String())
		}
	})
	return f
}

// gitCredsLookup returns the credentials lookup of a real store holding
// one git credentials Secret, for repoURL, in project demo.
func gitCredsLookup(t testing.TB, repoURL, username, password string) discovery.CredentialsLookup {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "caravan.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{
			"namespace": "demo", "name": "repo-creds",
			"labels": map[string]any{v1alpha1.LabelKeyCredentialType: "git"},
		},
		"stringData": map[string]any{
			credentials.KeyRepoURL:  repoURL,
			credentials.KeyUsername: username,
			credentials.KeyPassword: password,
		},
	}}
	if _, err := st.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	return credentials.New(st, credentials.Options{Logger: slog.New(slog.DiscardHandler)})
}

// ctx returns the StepContext of a promotion whose workspace is workDir,
// logging into the fixture's buffer at debug level.
func (f *gitFixture) ctx(t *testing.T, workDir, config string) *promotion.StepContext {
	t.Helper()
	sc := stepContext(t, workDir, config)
	sc.Logger = slog.New(slog.NewTextHandler(gitSyncWriter{f}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return sc
}

// run runs step once and checks that no secret leaked into its result.
func (f *gitFixture) run(t *testing.T, step promotion.Step, sc *promotion.StepContext) (promotion.StepResult, error) {
	t.Helper()
	res, err := step.Run(context.Background(), sc)
	if err != nil && strings.Contains(err.Error(), gitTestPassword) {
		t.Fatalf("the password is in the error of %s: %v", step.Name(), err)
	}
	if strings.Contains(fmt.Sprint(res), gitTestPassword) {
		t.Fatalf("the password is in the result of %s: %#v", step.Name(), res)
	}
	return res, err
}

// mustRun runs step once and requires it to succeed (or skip).
func (f *gitFixture) mustRun(t *testing.T, step promotion.Step, workDir, config string) promotion.StepResult {
	t.Helper()
	res, err := f.run(t, step, f.ctx(t, workDir, config))
	if err != nil {
		t.Fatalf("%s: %v", step.Name(), err)
	}
	return res
}

// cloneConfig is the usual git-clone of the rendered-manifests pipeline:
// a source commit at ./src and branch stage/<stage> (created if need be)
// at ./out.
func (f *gitFixture) cloneConfig(source, stage string) string {
	return fmt.Sprintf(`
repoURL: %s
checkout:
- commit: %s
  path: ./src
- branch: stage/%s
  create: true
  path: ./out
`, f.repo.URL, source, stage)
}

// remote runs git in the served bare repository and returns its output.
func (f *gitFixture) remote(t testing.TB, args ...string) string {
	t.Helper()
	return gitTestCmd(t, f.repo.Dir, args...)
}

// remoteHas reports whether the served repository has ref.
func (f *gitFixture) remoteHas(t testing.TB, ref string) bool {
	t.Helper()
	cmd := exec.Command("git", "--git-dir", f.repo.Dir, "rev-parse", "--verify", "--quiet", ref)
	cmd.Env = gitTestEnv(t)
	return cmd.Run() == nil
}

// gitTestEnv is an isolated environment for git commands of the tests.
func gitTestEnv(t testing.TB) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@caravan.invalid",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@caravan.invalid"}
}

// gitTestCmd runs git in dir (a working tree or a bare repository).
func gitTestCmd(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitTestEnv(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s in %s: %v: %s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// gitCommits returns the output "commits" of a git-clone result.
func gitCommits(t testing.TB, res promotion.StepResult) map[string]any {
	t.Helper()
	c, ok := res.Output["commits"].(map[string]any)
	if !ok {
		t.Fatalf("output has no commits map: %#v", res.Output)
	}
	return c
}

// gitWantTerminal requires err to be terminal and to say want.
func gitWantTerminal(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error; want one saying %q", want)
	}
	if !retry.IsTerminal(err) {
		t.Errorf("error is not terminal: %v", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestGitRefName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"main", true},
		{"stage/prod", true},
		{"kargo/promotion/test.01j0.abc", true},
		{"v1.0.0", true},
		{"", false},
		{"-rf", false},
		{"@", false},
		{"a..b", false},
		{"a b", false},
		{"a~1", false},
		{"a^", false},
		{"a:b", false},
		{"a?", false},
		{"a*", false},
		{"a[", false},
		{`a\b`, false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"a.", false},
		{"a.lock", false},
		{"a/.b", false},
		{"a@{1}", false},
		{"a\tb", false},
	}
	for _, tc := range tests {
		if err := gitRefName(tc.name); (err == nil) != tc.ok {
			t.Errorf("gitRefName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestGitLocksTakeTurns(t *testing.T) {
	var l gitLocks
	unlock, err := l.lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := l.lock(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock of a held key: %v, want a deadline error", err)
	}
	other, err := l.lock(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	other()
	unlock()
	again, err := l.lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	again()
}

// TestGitWorkingTreesAreConfined checks that the steps that work on a
// working tree refuse paths that leave the workspace, paths that are not a
// working tree of git-clone, and a .git file that points elsewhere.
func TestGitWorkingTreesAreConfined(t *testing.T) {
	outside := t.TempDir()
	gitTestCmd(t, outside, "init", "--quiet")
	steps := []promotion.Step{NewGitClear(), NewGitCommit(), NewGitTag(), NewGitPush(nil, nil)}
	tests := []struct {
		name  string
		path  string
		setup func(t *testing.T, ws string)
		want  string
	}{
		{"parent directory", "../x", nil, "outside the promotion's workspace"},
		{"absolute path", "/etc", nil, "outside the promotion's workspace"},
		{"symlink out", "./link", func(t *testing.T, ws string) {
			if err := os.Symlink(outside, filepath.Join(ws, "link")); err != nil {
				t.Fatal(err)
			}
		}, "outside the promotion's workspace"},
		{"plain directory", "./plain", func(t *testing.T, ws string) {
			writeFiles(t, ws, map[string]string{"plain/a.txt": "a"})
		}, "not inside a Git working tree made by git-clone"},
		{"a repository of its own", "./repo", func(t *testing.T, ws string) {
			if err := os.MkdirAll(filepath.Join(ws, "repo"), 0o755); err != nil {
				t.Fatal(err)
			}
			gitTestCmd(t, filepath.Join(ws, "repo"), "init", "--quiet")
		}, "not inside a Git working tree made by git-clone"},
		{".git file pointing outside", "./fake", func(t *testing.T, ws string) {
			writeFiles(t, ws, map[string]string{"fake/.git": "gitdir: " + filepath.Join(outside, ".git") + "\n"})
		}, "not inside a Git working tree made by git-clone"},
		{"the state directory", "./.caravan/git", func(t *testing.T, ws string) {
			writeFiles(t, ws, map[string]string{".caravan/git/x": "x"})
		}, "not inside a Git working tree made by git-clone"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := t.TempDir()
			if tc.setup != nil {
				tc.setup(t, ws)
			}
			for _, step := range steps {
				config := fmt.Sprintf("path: %q\nmessage: m\ntag: t\n", tc.path)
				switch step.Name() {
				case "git-clear", "git-push":
					config = fmt.Sprintf("path: %q\n", tc.path)
				case "git-commit":
					config = fmt.Sprintf("path: %q\nmessage: m\n", tc.path)
				}
				_, err := runStep(t, step, ws, config)
				gitWantTerminal(t, err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(outside, "a.txt")); err == nil {
				t.Error("a step wrote outside the workspace")
			}
		})
	}
}

// TestGitRefusesChangedConfig checks that the git steps do not run git in a
// promotion repository whose configuration another step changed: a filter
// driver there would run any program on the next `git add`.
func TestGitRefusesChangedConfig(t *testing.T) {
	f := newGitFixture(t)
	tests := []struct {
		name string
		file func(repo, gitDir string) string
		add  string
	}{
		{"repository", func(repo, _ string) string { return filepath.Join(repo, "config") },
			"[filter \"x\"]\n\tclean = touch pwned\n"},
		{"main worktree", func(repo, _ string) string { return filepath.Join(repo, "config.worktree") },
			"[core]\n\tfsmonitor = touch pwned\n"},
		{"working tree", func(_, gitDir string) string { return filepath.Join(gitDir, "config.worktree") },
			"[diff]\n\texternal = touch pwned\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := t.TempDir()
			f.mustRun(t, NewGitClone(f.mirrors, f.creds), ws, "repoURL: "+f.repo.URL+"\ncheckout:\n- branch: main\n  path: ./out\n")
			space, err := newGitSpace(ws)
			if err != nil {
				t.Fatal(err)
			}
			tree, err := space.openTree(context.Background(), "test", "path", "./out")
			if err != nil {
				t.Fatal(err)
			}
			file := tc.file(tree.repo, tree.gitDir)
			cfg, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cfg.WriteString(tc.add); err != nil {
				t.Fatal(err)
			}
			cfg.Close()
			writeFiles(t, ws, map[string]string{"out/.gitattributes": "* filter=x\n", "out/new.txt": "n\n"})
			_, err = runStep(t, NewGitCommit(), ws, "path: ./out\nmessage: m\n")
			gitWantTerminal(t, err, "configuration was changed")
			if _, err := os.Stat(filepath.Join(ws, "out", "pwned")); err == nil {
				t.Error("git ran the program of the changed configuration")
			}
		})
	}
}
