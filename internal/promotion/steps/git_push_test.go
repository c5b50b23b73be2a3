package steps

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caravan-dev/caravan/internal/discovery/git"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
	"github.com/caravan-dev/caravan/internal/testserver"
)

func TestGitPushValidation(t *testing.T) {
	checkValidation(t, NewGitPush(nil, nil), []validationCase{
		{name: "valid", config: "path: ./out\n"},
		{name: "valid everything", config: "path: ./out\ntargetBranch: main\nmaxAttempts: 3\nforce: true\nprovider: gitlab\n"},
		{name: "no path", config: "targetBranch: main\n", want: "path"},
		{name: "zero attempts", config: "path: ./out\nmaxAttempts: 0\n", want: "/maxAttempts"},
		{name: "unknown provider", config: "path: ./out\nprovider: sourceforge\n", want: "/provider"},
		{name: "unknown field", config: "path: ./out\nforcePush: true\n", want: "forcePush"},
		{name: "target and generated", config: "path: ./out\ntargetBranch: main\ngenerateTargetBranch: true\n",
			want: "targetBranch and generateTargetBranch: true exclude each other"},
		{name: "tag and force", config: "path: ./out\ntag: v1\nforce: true\n", want: "tag pushes a tag only"},
		{name: "not a working tree", config: "path: ./out\n", files: map[string]string{"out/a": "a"},
			want: "is not inside a Git working tree made by git-clone"},
	})
}

// gitPromotion clones for one promotion (the usual ./src and ./out with
// branch stage/<stage>), lets change write into ./out and commits it. It
// returns the workspace.
func (f *gitFixture) gitPromotion(t *testing.T, clone promotion.Step, stage string, files map[string]string) string {
	t.Helper()
	ws := t.TempDir()
	f.mustRun(t, clone, ws, f.cloneConfig(f.main, stage))
	writeFiles(t, filepath.Join(ws, "out"), files)
	f.mustRun(t, NewGitCommit(), ws, "path: ./out\nmessage: render "+stage+"\n")
	return ws
}

// pushCtx is the StepContext of a git-push run with attempt.
func (f *gitFixture) pushCtx(t *testing.T, ws, config string, attempt int) *promotion.StepContext {
	sc := f.ctx(t, ws, config)
	sc.Attempt = attempt
	return sc
}

func TestGitPushBranch(t *testing.T) {
	f := newGitFixture(t)
	clone, push := NewGitClone(f.mirrors, f.creds), NewGitPush(f.mirrors, f.creds)
	tests := []struct {
		name   string
		config string
		branch string
		setup  func(t *testing.T) string // returns the workspace
	}{
		{"new branch of git-clone", "path: ./out\n", "stage/test", func(t *testing.T) string {
			return f.gitPromotion(t, clone, "test", map[string]string{"app.yaml": "test\n"})
		}},
		{"existing branch", "path: ./out\n", "main", func(t *testing.T) string {
			ws := t.TempDir()
			f.mustRun(t, clone, ws, "repoURL: "+f.repo.URL+"\ncheckout:\n- branch: main\n  path: ./out\n")
			writeFiles(t, filepath.Join(ws, "out"), map[string]string{"CHANGELOG": "more\n"})
			f.mustRun(t, NewGitCommit(), ws, "path: ./out\nmessage: changelog\n")
			return ws
		}},
		{"generated branch", "path: ./out\ngenerateTargetBranch: true\n", "kargo/promotion/test.01j00000000000000000000000.abc1234",
			func(t *testing.T) string {
				return f.gitPromotion(t, clone, "gen", map[string]string{"app.yaml": "gen\n"})
			}},
		{"target branch from a detached commit", "path: ./src\ntargetBranch: release/1\n", "release/1", func(t *testing.T) string {
			ws := t.TempDir()
			f.mustRun(t, clone, ws, f.cloneConfig(f.v1, "x"))
			return ws
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := tc.setup(t)
			dir := strings.TrimSpace(strings.SplitN(tc.config, "\n", 2)[0][len("path:"):])
			head := gitTestCmd(t, filepath.Join(ws, dir), "rev-parse", "HEAD")
			before := f.srv.Stats().Pushes
			first := f.mustRun(t, push, ws, tc.config)
			pushed := f.srv.Stats().Pushes
			second := f.mustRun(t, push, ws, tc.config)
			if n := f.srv.Stats().Pushes - pushed; n != 0 {
				t.Errorf("the second run pushed %d times, want 0", n)
			}
			if n := pushed - before; n != 1 {
				t.Errorf("the first run pushed %d times, want 1", n)
			}
			want := map[string]any{"branch": tc.branch, "commit": head, "commitURL": ""}
			if fmt.Sprint(first.Output) != fmt.Sprint(want) || fmt.Sprint(second.Output) != fmt.Sprint(want) {
				t.Errorf("outputs = %v and %v, want %v", first.Output, second.Output, want)
			}
			if got := f.remote(t, "rev-parse", "refs/heads/"+tc.branch); got != head {
				t.Errorf("remote %s = %s, want %s", tc.branch, got, head)
			}
		})
	}

	t.Run("detached without a target", func(t *testing.T) {
		ws := t.TempDir()
		f.mustRun(t, clone, ws, f.cloneConfig(f.v1, "y"))
		_, err := f.run(t, push, f.ctx(t, ws, "path: ./src\n"))
		gitWantTerminal(t, err, "./src has a commit or tag checked out, not a branch: set targetBranch")
	})
}

// TestGitPushConcurrent pushes five promotions, each rendering into a
// folder of its own, to one branch at once: all must land, once each. In
// one process the pushes take turns; as separate processes (a step and a
// mirror each) they race, and the losers rebase and retry.
func TestGitPushConcurrent(t *testing.T) {
	for _, mode := range []string{"one process", "separate processes", "one process, new branch"} {
		t.Run(mode, func(t *testing.T) {
			branch, clone := "main", "repoURL: %s\ncheckout:\n- branch: main\n  path: ./out\n"
			if strings.HasSuffix(mode, "new branch") {
				branch, clone = "stage/all", "repoURL: %s\ncheckout:\n- branch: stage/all\n  create: true\n  path: ./out\n"
			}
			f := newGitFixture(t)
			const n = 5
			shared := NewGitPush(f.mirrors, f.creds)
			type worker struct {
				ws   string
				push promotion.Step
			}
			workers := make([]worker, n)
			for i := range workers {
				mirrors := f.mirrors
				if mode == "separate processes" {
					var err error
					if mirrors, err = git.NewMirrors(t.TempDir(), git.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
						t.Fatal(err)
					}
				}
				ws := t.TempDir()
				f.mustRun(t, NewGitClone(mirrors, f.creds), ws, fmt.Sprintf(clone, f.repo.URL))
				writeFiles(t, ws, map[string]string{fmt.Sprintf("out/stages/s%d/manifests.yaml", i): fmt.Sprintf("stage: %d\n", i)})
				f.mustRun(t, NewGitCommit(), ws, fmt.Sprintf("path: ./out\nmessage: render s%d\n", i))
				workers[i] = worker{ws: ws, push: shared}
				if mode == "separate processes" {
					workers[i].push = NewGitPush(mirrors, f.creds)
				}
			}
			start := make(chan struct{})
			results := make([]promotion.StepResult, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i, w := range workers {
				sc := f.ctx(t, w.ws, "path: ./out\n")
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i], errs[i] = w.push.Run(t.Context(), sc)
				}()
			}
			began := time.Now()
			close(start)
			wg.Wait()
			elapsed := time.Since(began)
			for i, err := range errs {
				if err != nil {
					t.Fatalf("push %d: %v", i, err)
				}
			}
			head := f.remote(t, "rev-parse", branch)
			base := f.main
			if branch != "main" {
				base = f.remote(t, "rev-list", "--max-parents=0", branch)
				if msg := f.remote(t, "log", "-1", "--format=%s", base); msg != "Initial commit" {
					t.Errorf("%s starts with %q, want one initial commit", branch, msg)
				}
			}
			if got := f.remote(t, "rev-list", "--count", base+".."+branch); got != fmt.Sprint(n) {
				t.Errorf("%s has %s new commits, want %d", branch, got, n)
			}
			files := f.remote(t, "ls-tree", "-r", "--name-only", branch, "stages")
			for i := range n {
				if !strings.Contains(files, fmt.Sprintf("stages/s%d/manifests.yaml", i)) {
					t.Errorf("stage s%d's manifests did not land:\n%s", i, files)
				}
				commit, _ := results[i].Output["commit"].(string)
				if got := f.remote(t, "merge-base", commit, head); got != commit {
					t.Errorf("output commit %d (%s) is not on main", i, commit)
				}
			}
			t.Logf("%s: %d promotions pushed in %v with %d pushes", mode, n, elapsed.Round(time.Millisecond), f.srv.Stats().Pushes)
		})
	}
}

// TestGitPushResume runs git-push again as a promotion resumed after a
// crash would: nothing is pushed twice.
func TestGitPushResume(t *testing.T) {
	f := newGitFixture(t)
	clone, push := NewGitClone(f.mirrors, f.creds), NewGitPush(f.mirrors, f.creds)

	t.Run("the branch moved on since", func(t *testing.T) {
		ws := f.gitPromotion(t, clone, "a", map[string]string{"a.yaml": "a\n"})
		ours := f.mustRun(t, push, ws, "path: ./out\n").Output["commit"]
		// Another promotion pushes on top before we resume.
		other := t.TempDir()
		f.mustRun(t, clone, other, f.cloneConfig(f.main, "a"))
		writeFiles(t, other, map[string]string{"out/b.yaml": "b\n"})
		f.mustRun(t, NewGitCommit(), other, "path: ./out\nmessage: other\n")
		f.mustRun(t, push, other, "path: ./out\n")
		remoteHead := f.remote(t, "rev-parse", "stage/a")

		pushes := f.srv.Stats().Pushes
		res, err := f.run(t, push, f.pushCtx(t, ws, "path: ./out\n", 2))
		if err != nil {
			t.Fatal(err)
		}
		if n := f.srv.Stats().Pushes - pushes; n != 0 {
			t.Errorf("the resumed run pushed %d times, want 0", n)
		}
		if got := res.Output["commit"]; got != remoteHead || got == ours {
			t.Errorf("commit = %v, want the branch's head %s", got, remoteHead)
		}
		if got := gitTestCmd(t, filepath.Join(ws, "out"), "rev-parse", "HEAD"); got != remoteHead {
			t.Errorf("./out is at %s, want the branch's head %s", got, remoteHead)
		}
	})

	t.Run("the commit was made again", func(t *testing.T) {
		// The workspace was lost after the push: the promotion rendered
		// the same change again, from the same start, by another author.
		start := f.remote(t, "rev-parse", "main")
		first := t.TempDir()
		f.mustRun(t, clone, first, "repoURL: "+f.repo.URL+"\ncheckout:\n- commit: "+start+"\n  path: ./out\n")
		writeFiles(t, first, map[string]string{"out/same.yaml": "same\n"})
		f.mustRun(t, NewGitCommit(), first, "path: ./out\nmessage: same change\n")
		f.mustRun(t, push, first, "path: ./out\ntargetBranch: main\n")
		pushed := f.remote(t, "rev-parse", "main")

		again := t.TempDir()
		f.mustRun(t, clone, again, "repoURL: "+f.repo.URL+"\nauthor: {name: Again, email: again@example.com}\n"+
			"checkout:\n- commit: "+start+"\n  path: ./out\n")
		writeFiles(t, again, map[string]string{"out/same.yaml": "same\n"})
		f.mustRun(t, NewGitCommit(), again, "path: ./out\nmessage: same change\n")
		if gitTestCmd(t, filepath.Join(again, "out"), "rev-parse", "HEAD") == pushed {
			t.Fatal("the test needs a commit with another ID")
		}
		pushes := f.srv.Stats().Pushes
		res, err := f.run(t, push, f.pushCtx(t, again, "path: ./out\ntargetBranch: main\n", 2))
		if err != nil {
			t.Fatal(err)
		}
		if n := f.srv.Stats().Pushes - pushes; n != 0 {
			t.Errorf("pushed %d times, want 0: the change is on main already", n)
		}
		if got := f.remote(t, "rev-parse", "main"); got != pushed || res.Output["commit"] != pushed {
			t.Errorf("main = %s, output commit = %v; want both %s", got, res.Output["commit"], pushed)
		}
	})

	t.Run("force: the commit was made again", func(t *testing.T) {
		ws := f.gitPromotion(t, clone, "f", map[string]string{"f.yaml": "f\n"})
		f.mustRun(t, push, ws, "path: ./out\nforce: true\n")
		pushed := f.remote(t, "rev-parse", "stage/f")

		again := t.TempDir()
		f.mustRun(t, clone, again, strings.Replace(f.cloneConfig(f.main, "g"), "checkout:",
			"author: {name: Again, email: again@example.com}\ncheckout:", 1))
		writeFiles(t, again, map[string]string{"out/f.yaml": "f\n"})
		f.mustRun(t, NewGitCommit(), again, "path: ./out\nmessage: render f\n")
		pushes := f.srv.Stats().Pushes
		res, err := f.run(t, push, f.pushCtx(t, again, "path: ./out\ntargetBranch: stage/f\nforce: true\n", 2))
		if err != nil {
			t.Fatal(err)
		}
		if n := f.srv.Stats().Pushes - pushes; n != 0 {
			t.Errorf("pushed %d times, want 0: the branch holds the same content", n)
		}
		if got := f.remote(t, "rev-parse", "stage/f"); got != pushed || res.Output["commit"] != pushed {
			t.Errorf("stage/f = %s, output commit = %v; want both %s", got, res.Output["commit"], pushed)
		}
	})
}

func TestGitPushConflict(t *testing.T) {
	f := newGitFixture(t)
	clone, push := NewGitClone(f.mirrors, f.creds), NewGitPush(f.mirrors, f.creds)
	ours := f.gitPromotion(t, clone, "c", map[string]string{"shared.yaml": "ours\n"})
	theirs := f.gitPromotion(t, clone, "c", map[string]string{"shared.yaml": "theirs\n"})
	f.mustRun(t, push, theirs, "path: ./out\n")
	landed := f.remote(t, "rev-parse", "stage/c")

	res, err := f.run(t, push, f.ctx(t, ours, "path: ./out\n"))
	gitWantTerminal(t, err, "change the same lines (in shared.yaml)")
	if res.Status != promotion.StepStatusFailed {
		t.Errorf("status = %s, want Failed", res.Status)
	}
	if got := f.remote(t, "rev-parse", "stage/c"); got != landed {
		t.Errorf("the branch moved to %s", got)
	}
	out := filepath.Join(ours, "out")
	if st := gitTestCmd(t, out, "status", "--porcelain"); st != "" {
		t.Errorf("the working tree was left mid-rebase:\n%s", st)
	}
	if got := readFile(t, out, "shared.yaml"); got != "ours\n" {
		t.Errorf("shared.yaml = %q, want ours back", got)
	}
}

func TestGitPushTag(t *testing.T) {
	f := newGitFixture(t)
	clone, push := NewGitClone(f.mirrors, f.creds), NewGitPush(f.mirrors, f.creds)
	ws := t.TempDir()
	f.mustRun(t, clone, ws, "repoURL: "+f.repo.URL+"\ncheckout:\n- branch: main\n  path: ./out\n")
	f.mustRun(t, NewGitTag(), ws, "path: ./out\ntag: v2.0.0\nmessage: two\n")

	pushes := f.srv.Stats().Pushes
	res := runTwice(t, push, ws, "path: ./out\ntag: v2.0.0\n")
	if n := f.srv.Stats().Pushes - pushes; n != 1 {
		t.Errorf("two runs pushed %d times, want 1", n)
	}
	if res.Output["commit"] != f.main || res.Output["tag"] != "v2.0.0" {
		t.Errorf("output = %v", res.Output)
	}
	if got := f.remote(t, "rev-parse", "v2.0.0^{commit}"); got != f.main {
		t.Errorf("remote tag v2.0.0 is on %s, want %s", got, f.main)
	}

	// The remote's v1.0.0 is on another commit: it is not moved.
	f.mustRun(t, NewGitTag(), ws, "path: ./out\ntag: v1.0.1\n")
	gitTestCmd(t, filepath.Join(ws, "out"), "tag", "--force", "v1.0.0", "HEAD")
	res, err := f.run(t, push, f.ctx(t, ws, "path: ./out\ntag: v1.0.0\n"))
	gitWantTerminal(t, err, "the repository has that tag on another commit")
	if res.Status != promotion.StepStatusFailed {
		t.Errorf("status = %s, want Failed", res.Status)
	}
	_, err = f.run(t, push, f.ctx(t, ws, "path: ./out\ntag: v9\n"))
	gitWantTerminal(t, err, `has no tag "v9": create it with a git-tag step first`)
}

func TestGitPushCredentials(t *testing.T) {
	f := newGitFixture(t)
	ws := f.gitPromotion(t, NewGitClone(f.mirrors, f.creds), "test", map[string]string{"a": "a"})
	tests := []struct {
		name string
		push promotion.Step
		want string
	}{
		{"none", NewGitPush(f.mirrors, nil), "the repository needs credentials"},
		{"wrong", NewGitPush(f.mirrors, gitCredsLookup(t, f.repo.URL, "bot", "wrong-"+gitTestPassword)), "may push to the repository"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.run(t, tc.push, f.ctx(t, ws, "path: ./out\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if retry.IsTerminal(err) {
				t.Error("an authentication failure is terminal; fixing the Secret and retrying must work")
			}
			if f.remoteHas(t, "refs/heads/stage/test") {
				t.Error("the push went through")
			}
		})
	}
}

func TestGitCommitURL(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		url, provider, want string
	}{
		{"https://github.com/org/repo.git", "", "https://github.com/org/repo/commit/" + id},
		{"git@github.com:org/repo.git", "", "https://github.com/org/repo/commit/" + id},
		{"ssh://git@github.com/org/repo", "", "https://github.com/org/repo/commit/" + id},
		{"https://gitlab.com/group/sub/repo.git", "", "https://gitlab.com/group/sub/repo/-/commit/" + id},
		{"https://bitbucket.org/team/repo.git", "", "https://bitbucket.org/team/repo/commits/" + id},
		{"https://dev.azure.com/org/proj/_git/repo", "", "https://dev.azure.com/org/proj/_git/repo/commit/" + id},
		{"https://git.example.com/org/repo.git", "gitea", "https://git.example.com/org/repo/commit/" + id},
		{"https://git.example.com:8443/org/repo.git", "gitlab", "https://git.example.com:8443/org/repo/-/commit/" + id},
		{"https://bb.example.com/scm/PROJ/repo.git", "bitbucket-datacenter", "https://bb.example.com/projects/PROJ/repos/repo/commits/" + id},
		{"https://git.example.com/org/repo.git", "", ""},
		{"http://127.0.0.1:8080/app.git", "", ""},
	}
	for _, tc := range tests {
		if got := gitCommitURL(tc.url, tc.provider, id); got != tc.want {
			t.Errorf("gitCommitURL(%q, %q) = %q, want %q", tc.url, tc.provider, got, tc.want)
		}
	}
}

func TestGitPushMaxAttempts(t *testing.T) {
	f := newGitFixture(t)
	clone, push := NewGitClone(f.mirrors, f.creds), NewGitPush(f.mirrors, f.creds)
	ours := f.gitPromotion(t, clone, "m", map[string]string{"ours.yaml": "ours\n"})
	theirs := f.gitPromotion(t, clone, "m", map[string]string{"theirs.yaml": "theirs\n"})
	f.mustRun(t, push, theirs, "path: ./out\n")

	// A fresh step knows nothing of the push above: its one push is refused.
	_, err := f.run(t, NewGitPush(f.mirrors, f.creds), f.ctx(t, ours, "path: ./out\nmaxAttempts: 1\n"))
	if err == nil || retry.IsTerminal(err) || !strings.Contains(err.Error(), "gave up after 1 pushes (maxAttempts)") {
		t.Fatalf("err = %v, want a retriable error saying it gave up", err)
	}
	res := f.mustRun(t, push, ours, "path: ./out\nmaxAttempts: 2\n")
	head := f.remote(t, "rev-parse", "stage/m")
	if res.Output["commit"] != head {
		t.Errorf("commit = %v, want the branch's head %s", res.Output["commit"], head)
	}
	if files := f.remote(t, "ls-tree", "--name-only", "stage/m"); files != "ours.yaml\ntheirs.yaml" {
		t.Errorf("stage/m holds %q", files)
	}
}

// TestGitInsecureSkipTLSVerify clones from and pushes to a server with a
// self-signed certificate: refused unless git-clone says to skip the check,
// which git-push then follows too.
func TestGitInsecureSkipTLSVerify(t *testing.T) {
	srv := testserver.NewGitServer(t, testserver.GitServerOptions{TLS: true})
	repo := srv.CreateRepo(t, "tls")
	repo.Commit(t, testserver.Commit{Files: map[string]string{"a.txt": "a\n"}})
	repo.Push(t)
	mirrors, err := git.NewMirrors(t.TempDir(), git.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	clone, push := NewGitClone(mirrors, nil), NewGitPush(mirrors, nil)
	config := "repoURL: " + repo.URL + "\ncheckout:\n- branch: main\n  path: ./out\n"

	_, err = runStep(t, clone, t.TempDir(), config)
	if err == nil || !strings.Contains(err.Error(), "TLS certificate") {
		t.Fatalf("err = %v, want one about the TLS certificate", err)
	}
	ws := t.TempDir()
	if _, err := runStep(t, clone, ws, "insecureSkipTLSVerify: true\n"+config); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, ws, map[string]string{"out/b.txt": "b\n"})
	if _, err := runStep(t, NewGitCommit(), ws, "path: ./out\nmessage: b\n"); err != nil {
		t.Fatal(err)
	}
	res, err := runStep(t, push, ws, "path: ./out\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := gitTestCmd(t, repo.Dir, "rev-parse", "main"); got != res.Output["commit"] {
		t.Errorf("main = %s, want the pushed %v", got, res.Output["commit"])
	}
}
