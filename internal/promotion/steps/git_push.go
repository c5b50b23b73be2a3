package steps

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/discovery/git"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

// gitPushSchema is the config of git-push.
const gitPushSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "git-push",
  "type": "object",
  "additionalProperties": false,
  "required": ["path"],
  "properties": {
    "path": {"type": "string", "minLength": 1, "description": "A working tree made by git-clone, with the commits to push."},
    "targetBranch": {"type": "string", "description": "The branch to push to; the branch checked out at path when empty. Exclusive with generateTargetBranch and tag."},
    "generateTargetBranch": {"type": "boolean", "description": "Push to the branch kargo/promotion/<promotion name>. Exclusive with targetBranch and tag."},
    "maxAttempts": {"type": "integer", "minimum": 1, "maximum": 2147483647, "description": "How many pushes to try while the branch keeps moving, rebasing before each retry. Default 10."},
    "force": {"type": "boolean", "description": "Overwrite the branch instead of rebasing onto its new commits. Exclusive with tag."},
    "tag": {"type": "string", "description": "Push this tag instead of a branch. Exclusive with targetBranch, generateTargetBranch and force."},
    "provider": {"type": "string", "enum": ["azure", "bitbucket", "bitbucket-datacenter", "gitea", "github", "gitlab"], "description": "The Git host's kind, for the commitURL output; guessed from the URL when empty."}
  }
}`

// gitDefaultMaxAttempts is git-push's maxAttempts when unset, as in Kargo.
const gitDefaultMaxAttempts = 10

// gitPushConfig is git-push's config.
type gitPushConfig struct {
	Path                 string `json:"path"`
	TargetBranch         string `json:"targetBranch,omitempty"`
	GenerateTargetBranch bool   `json:"generateTargetBranch,omitempty"`
	MaxAttempts          *int64 `json:"maxAttempts,omitempty"`
	Force                bool   `json:"force,omitempty"`
	Tag                  string `json:"tag,omitempty"`
	Provider             string `json:"provider,omitempty"`
}

// gitPush is the git-push step.
type gitPush struct {
	mirrors *git.Mirrors
	creds   discovery.CredentialsLookup
	locks   gitLocks

	// pushed remembers, by lock key, the head this process last pushed to
	// a branch: a promotion whose HEAD does not descend from it would be
	// refused, so it fetches and rebases before its first push instead.
	pushedMu sync.Mutex
	pushed   map[string]string
}

// NewGitPush returns the git-push step. It pushes the HEAD of a working
// tree made by git-clone to targetBranch, to kargo/promotion/<promotion>
// (generateTargetBranch, force-pushed as in Kargo), or to the branch checked
// out there; or, with tag, pushes that tag. Credentials are looked up in
// creds (may be nil) by the promotion's project for the repository's URL.
//
// When the branch moved since the clone, the push is refused as not a fast
// forward; the step then brings the branch's new commits in through mirrors,
// rebases onto them and pushes again, up to maxAttempts times, so that
// promotions writing to different files of one branch all land. Pushes of
// this process to one branch take turns. A rebase that conflicts fails the
// step at once. The repository's URL and TLS setting are those git-clone
// used for the working tree.
//
// Running it again pushes nothing twice: a branch that already holds HEAD
// (or commits with the same changes, as after a crash between the push and
// recording it) is left alone, and with force a branch whose head has the
// same content and message as HEAD is not overwritten on a resumed run.
//
// Outputs: branch, commit (the branch's head after the push: HEAD after any
// rebase) and commitURL (empty when the host's kind is unknown); for a tag,
// tag, commit and commitURL.
func NewGitPush(mirrors *git.Mirrors, creds discovery.CredentialsLookup) promotion.Step {
	return &gitPush{mirrors: mirrors, creds: creds}
}

// Name implements promotion.Step.
func (*gitPush) Name() string { return "git-push" }

// Schema implements promotion.Step.
func (*gitPush) Schema() []byte { return []byte(gitPushSchema) }

// Run implements promotion.Step.
func (g *gitPush) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	const step = "git-push"
	var cfg gitPushConfig
	if err := gitDecode(step, sc.Config, &cfg); err != nil {
		return promotion.StepResult{}, err
	}
	switch {
	case cfg.Path == "":
		return promotion.StepResult{}, gitTerminal(step, "path is required: set it to a working tree made by git-clone, such as ./out")
	case cfg.TargetBranch != "" && cfg.GenerateTargetBranch:
		return promotion.StepResult{}, gitTerminal(step, "targetBranch and generateTargetBranch: true exclude each other: keep one")
	case cfg.Tag != "" && (cfg.TargetBranch != "" || cfg.GenerateTargetBranch || cfg.Force):
		return promotion.StepResult{}, gitTerminal(step, "tag pushes a tag only: remove targetBranch, generateTargetBranch and force, "+
			"or push the branch in a git-push step of its own")
	case cfg.MaxAttempts != nil && *cfg.MaxAttempts < 1:
		return promotion.StepResult{}, gitTerminal(step, "maxAttempts must be at least 1")
	}
	space, err := newGitSpace(sc.WorkDir)
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", step, err)
	}
	t, err := space.openTree(ctx, step, "path", cfg.Path)
	if err != nil {
		return promotion.StepResult{}, err
	}
	var creds *discovery.Credentials
	if g.creds != nil {
		if creds, err = g.creds.Lookup(ctx, sc.Project, discovery.CredentialTypeGit, t.url); err != nil {
			return promotion.StepResult{}, fmt.Errorf("%s: look up credentials: %w", step, err)
		}
	}
	remote, err := newGitRemote(step, t.url, creds, t.insecure)
	if err != nil {
		return promotion.StepResult{}, err
	}
	if cfg.Tag != "" {
		return g.pushTag(ctx, t, remote, &cfg)
	}

	target := cfg.TargetBranch
	force := cfg.Force
	switch {
	case cfg.GenerateTargetBranch:
		if sc.Promotion == "" {
			return promotion.StepResult{}, gitTerminal(step, "generateTargetBranch needs the promotion's name, and there is none")
		}
		// The branch is the promotion's own: overwriting it is safe, and
		// lets a promotion that restarts from its first step push again.
		target, force = "kargo/promotion/"+sc.Promotion, true
	case target == "":
		if target, err = t.branch(ctx); err != nil {
			return promotion.StepResult{}, fmt.Errorf("%s: read the branch of %s: %w", step, cfg.Path, err)
		}
		if target == "" {
			return promotion.StepResult{}, gitTerminal(step, "%s has a commit or tag checked out, not a branch: "+
				"set targetBranch, or generateTargetBranch: true", cfg.Path)
		}
	}
	if err := gitRefName(target); err != nil {
		return promotion.StepResult{}, gitTerminal(step, "target branch %q is not a valid branch name: %v", target, err)
	}
	maxAttempts := gitDefaultMaxAttempts
	if cfg.MaxAttempts != nil {
		maxAttempts = int(min(*cfg.MaxAttempts, 1<<31-1))
	}
	key := v1alpha1.NormalizeGitURL(t.url) + "\x00" + target
	unlock, err := g.locks.lock(ctx, key)
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: wait for other pushes to %s: %w", step, target, err)
	}
	defer unlock()
	var commit string
	if force {
		commit, err = g.forcePush(ctx, sc, t, remote, target)
	} else {
		commit, err = g.pushRebase(ctx, sc, t, remote, target, maxAttempts, g.lastPushed(key))
	}
	switch {
	case retry.IsTerminal(err):
		return promotion.StepResult{Status: promotion.StepStatusFailed, Message: err.Error()}, err
	case err != nil:
		return promotion.StepResult{}, err
	}
	g.setPushed(key, commit)
	gitLogger(sc).Debug("pushed", "repo", remote.url, "branch", target, "commit", commit)
	return promotion.StepResult{Status: promotion.StepStatusSucceeded, Output: map[string]any{
		"branch":    target,
		"commit":    commit,
		"commitURL": gitCommitURL(t.url, cfg.Provider, commit),
	}}, nil
}

// lastPushed returns what this process last pushed under key, "" if
// nothing.
func (g *gitPush) lastPushed(key string) string {
	g.pushedMu.Lock()
	defer g.pushedMu.Unlock()
	return g.pushed[key]
}

// setPushed records that key's branch is at commit.
func (g *gitPush) setPushed(key, commit string) {
	g.pushedMu.Lock()
	defer g.pushedMu.Unlock()
	if g.pushed == nil {
		g.pushed = map[string]string{}
	}
	g.pushed[key] = commit
}

// pushRebase pushes HEAD to target, rebasing onto target's new commits
// while the push is refused as not a fast forward. known is the branch's
// head as this process last pushed it ("" if unknown): when HEAD does not
// descend from it, a push is bound to be refused, so the step rebases first.
func (g *gitPush) pushRebase(ctx context.Context, sc *promotion.StepContext, t *gitTree, r *gitRemote,
	target string, maxAttempts int, known string) (string, error) {
	const step = "git-push"
	head, err := t.revParse(ctx, "HEAD")
	if err != nil || head == "" {
		return "", gitNoHead(t, err)
	}
	if known != "" && known != head {
		// A commit we do not have is no ancestor either.
		if _, err := t.git(ctx, nil, nil, "merge-base", "--is-ancestor", known, head); err != nil {
			landed, err := g.integrate(ctx, sc, t, r, target, &head)
			if landed != "" || err != nil {
				return landed, err
			}
		}
	}
	for attempt := 1; ; attempt++ {
		res, err := g.push(ctx, t, r, "HEAD:refs/heads/"+target, false)
		switch {
		case err != nil:
			return "", err
		case res.ok:
			return head, nil
		case !res.retriable:
			return "", fmt.Errorf("%s: %s refused the push to %s: %s", step, r.url, target, res.summary)
		case attempt >= maxAttempts:
			return "", fmt.Errorf("%s: gave up after %d pushes (maxAttempts): branch %s of %s kept moving: "+
				"raise maxAttempts, or let fewer promotions push to one branch at once", step, attempt, target, r.url)
		}
		if attempt > 1 {
			if err := gitBackoff(ctx, attempt); err != nil {
				return "", err
			}
		}
		gitLogger(sc).Debug("branch moved; rebasing", "branch", target, "attempt", attempt)
		landed, err := g.integrate(ctx, sc, t, r, target, &head)
		if landed != "" || err != nil {
			return landed, err
		}
	}
}

// integrate brings in the new commits of target and rebases HEAD (*head)
// onto them. When the branch holds our commits already (or commits with the
// same changes: an earlier run pushed them), it returns the branch's head,
// moving the working tree there: nothing is left to push.
func (g *gitPush) integrate(ctx context.Context, sc *promotion.StepContext, t *gitTree, r *gitRemote,
	target string, head *string) (landed string, err error) {
	remoteHead, err := g.fetch(ctx, t, r, target)
	if err != nil || remoteHead == "" {
		return "", err // no branch: the next push creates it
	}
	if ok, err := gitIsAncestor(ctx, t, *head, remoteHead); err != nil {
		return "", err
	} else if ok {
		return remoteHead, gitMoveTo(ctx, t, remoteHead)
	}
	if err := gitRebase(ctx, t, r, target, remoteHead); err != nil {
		return "", err
	}
	if *head, err = t.revParse(ctx, "HEAD"); err != nil {
		return "", fmt.Errorf("git-push: read HEAD after the rebase: %w", err)
	}
	if *head == remoteHead {
		return remoteHead, nil // every commit of ours had an equal there
	}
	gitLogger(sc).Debug("rebased", "branch", target, "onto", remoteHead, "head", *head)
	return "", nil
}

// forcePush overwrites target with HEAD. A resumed run first checks whether
// the branch already holds an equal commit, so as not to push again.
func (g *gitPush) forcePush(ctx context.Context, sc *promotion.StepContext, t *gitTree, r *gitRemote, target string) (string, error) {
	const step = "git-push"
	head, err := t.revParse(ctx, "HEAD")
	if err != nil || head == "" {
		return "", gitNoHead(t, err)
	}
	if sc.Attempt > 1 {
		remoteHead, err := g.fetch(ctx, t, r, target)
		if err != nil {
			return "", err
		}
		if remoteHead != "" && remoteHead != head {
			same, err := gitSameCommit(ctx, t, head, remoteHead)
			if err != nil {
				return "", err
			}
			if same {
				return remoteHead, gitMoveTo(ctx, t, remoteHead)
			}
		}
	}
	res, err := g.push(ctx, t, r, "HEAD:refs/heads/"+target, true)
	if err != nil {
		return "", err
	}
	if !res.ok {
		return "", fmt.Errorf("%s: %s refused the push to %s: %s", step, r.url, target, res.summary)
	}
	return head, nil
}

// pushTag pushes a tag of the working tree.
func (g *gitPush) pushTag(ctx context.Context, t *gitTree, r *gitRemote, cfg *gitPushConfig) (promotion.StepResult, error) {
	const step = "git-push"
	if err := gitRefName(cfg.Tag); err != nil {
		return promotion.StepResult{}, gitTerminal(step, "tag %q is not a valid tag name: %v", cfg.Tag, err)
	}
	commit, err := t.revParse(ctx, "refs/tags/"+cfg.Tag+"^{commit}")
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: look up tag %q: %w", step, cfg.Tag, err)
	}
	if commit == "" {
		return promotion.StepResult{}, gitTerminal(step, "%s has no tag %q: create it with a git-tag step first", cfg.Path, cfg.Tag)
	}
	ref := "refs/tags/" + cfg.Tag
	res, err := g.push(ctx, t, r, ref+":"+ref, false)
	if err != nil {
		return promotion.StepResult{}, err
	}
	if !res.ok {
		// An earlier run may have pushed a tag of its own on this commit.
		refs, _, err := t.space.lsRemote(ctx, r, ref)
		if err != nil {
			return promotion.StepResult{}, fmt.Errorf("%s: %w", step, err)
		}
		peeled := refs[ref+"^{}"]
		if peeled == "" {
			peeled = refs[ref]
		}
		if peeled != commit {
			err := gitTerminal(step, "%s refused tag %q (%s): the repository has that tag on another commit; "+
				"tags are not moved: choose another tag name", r.url, cfg.Tag, res.summary)
			return promotion.StepResult{Status: promotion.StepStatusFailed, Message: err.Error()}, err
		}
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded, Output: map[string]any{
		"tag":       cfg.Tag,
		"commit":    commit,
		"commitURL": gitCommitURL(t.url, cfg.Provider, commit),
	}}, nil
}

// gitLocks are in-process locks by key, so that promotions of this process
// that push to one branch take turns instead of racing.
type gitLocks struct {
	mu    sync.Mutex
	locks map[string]chan struct{}
}

// lock takes the lock of key, or gives up when ctx ends.
func (l *gitLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]chan struct{}{}
	}
	ch, ok := l.locks[key]
	if !ok {
		ch = make(chan struct{}, 1)
		l.locks[key] = ch
	}
	l.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// gitPushResult is how the remote answered a push of one ref.
type gitPushResult struct {
	ok        bool   // pushed, or already up to date
	retriable bool   // refused because the ref moved: fetch, rebase, retry
	summary   string // git's word on it
}

// push pushes refspec (src:dst) and reads the outcome from git's porcelain
// output.
func (g *gitPush) push(ctx context.Context, t *gitTree, r *gitRemote, refspec string, force bool) (gitPushResult, error) {
	args := []string{"push", "--porcelain", "--no-verify"}
	if force {
		args = append(args, "--force")
	}
	out, err := t.remoteGit(ctx, r, append(args, r.url, refspec)...)
	_, dst, _ := strings.Cut(refspec, ":")
	for _, line := range strings.Split(string(out), "\n") {
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) < 3 || !strings.HasSuffix(parts[1], ":"+dst) {
			continue
		}
		res := gitPushResult{summary: parts[2]}
		switch parts[0] {
		case "=", " ", "+", "*":
			res.ok = true
		case "!":
			s := strings.ToLower(parts[2])
			res.retriable = strings.Contains(s, "fetch first") || strings.Contains(s, "non-fast-forward") ||
				strings.Contains(s, "stale info") ||
				(strings.Contains(s, "remote rejected") && (strings.Contains(s, "lock") ||
					strings.Contains(s, "old value") || strings.Contains(s, "failed to update ref")))
		}
		if res.ok || parts[0] == "!" {
			return res, nil
		}
	}
	if err != nil {
		return gitPushResult{}, gitRemoteError("git-push: push to "+r.url, r, err)
	}
	return gitPushResult{}, fmt.Errorf("git-push: push to %s: git did not report on %s", r.url, dst)
}

// fetch brings branch target of the remote into the shared mirror (the
// promotion repository borrows its objects) and returns its head; "" when
// the remote has no such branch.
func (g *gitPush) fetch(ctx context.Context, t *gitTree, r *gitRemote, target string) (string, error) {
	const step = "git-push"
	ref := "refs/heads/" + target
	mirror, err := g.mirrors.Sync(ctx, git.Remote{URL: t.url, Credentials: r.creds, InsecureSkipTLSVerify: r.insecure}, ref)
	if errors.Is(err, discovery.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: fetch branch %s: %w", step, target, err)
	}
	if err := gitAddAlternate(t.repo, filepath.Join(mirror, "objects")); err != nil {
		return "", fmt.Errorf("%s: borrow objects from the mirror: %w", step, err)
	}
	out, err := t.space.run(ctx, gitExec{gitDir: mirror, args: []string{"rev-parse", "--verify", "--quiet", ref + "^{commit}"}})
	if err != nil {
		if gitExitCode(err) == 1 {
			return "", nil
		}
		return "", fmt.Errorf("%s: read branch %s in the mirror: %w", step, target, err)
	}
	id := strings.TrimSpace(string(out))
	if _, err := t.git(ctx, nil, nil, "update-ref", "refs/remotes/origin/"+target, id); err != nil {
		return "", fmt.Errorf("%s: record branch %s: %w", step, target, err)
	}
	return id, nil
}

// gitRebase rebases HEAD onto onto. A conflict aborts the rebase and fails
// the step: no retry can resolve it.
func gitRebase(ctx context.Context, t *gitTree, r *gitRemote, target, onto string) error {
	const step = "git-push"
	_, err := t.git(ctx, nil, nil, "rebase", "--quiet", "--no-keep-empty", "--no-autostash", onto)
	if err == nil {
		return nil
	}
	out, _ := t.git(ctx, nil, nil, "diff", "--name-only", "--diff-filter=U")
	conflicts := strings.Fields(string(out))
	if _, aerr := t.git(ctx, nil, nil, "rebase", "--abort"); aerr != nil && len(conflicts) == 0 {
		return fmt.Errorf("%s: rebase onto branch %s: %w", step, target, err)
	}
	if len(conflicts) == 0 {
		return fmt.Errorf("%s: rebase onto branch %s: %w", step, target, err)
	}
	if len(conflicts) > 5 {
		conflicts = append(conflicts[:5], "…")
	}
	return gitTerminal(step, "branch %s of %s has new commits that change the same lines (in %s): "+
		"the rebase needs a person to resolve it; let promotions that push to one branch write to different files",
		target, r.url, strings.Join(conflicts, ", "))
}

// gitIsAncestor reports whether commit a is an ancestor of (or is) b.
func gitIsAncestor(ctx context.Context, t *gitTree, a, b string) (bool, error) {
	_, err := t.git(ctx, nil, nil, "merge-base", "--is-ancestor", a, b)
	switch {
	case err == nil:
		return true, nil
	case gitExitCode(err) == 1:
		return false, nil
	default:
		return false, fmt.Errorf("git-push: compare commits: %w", err)
	}
}

// gitSameCommit reports whether two commits have the same tree and message.
func gitSameCommit(ctx context.Context, t *gitTree, a, b string) (bool, error) {
	var seen [2]string
	for i, id := range []string{a, b} {
		out, err := t.git(ctx, nil, nil, "show", "--no-patch", "--format=%T%n%B", id)
		if err != nil {
			return false, fmt.Errorf("git-push: read commit %s: %w", id, err)
		}
		seen[i] = string(out)
	}
	return seen[0] == seen[1], nil
}

// gitMoveTo moves the working tree's HEAD (and branch) to id, keeping what
// is uncommitted.
func gitMoveTo(ctx context.Context, t *gitTree, id string) error {
	if _, err := t.git(ctx, nil, nil, "reset", "--quiet", "--keep", id); err != nil {
		return fmt.Errorf("git-push: move %s to the branch's head: %w", t.path, err)
	}
	return nil
}

// gitNoHead is the error of a working tree without a commit to push.
func gitNoHead(t *gitTree, err error) error {
	if err != nil {
		return fmt.Errorf("git-push: read HEAD of %s: %w", t.path, err)
	}
	return gitTerminal("git-push", "the working tree has no commit to push: commit first with git-commit")
}

// gitBackoff waits a little, more on later attempts, with jitter, so that
// pushers of several processes racing for one branch spread out.
func gitBackoff(ctx context.Context, attempt int) error {
	d := min(25*time.Millisecond<<min(attempt-1, 7), 2*time.Second)
	d = d/2 + rand.N(d/2+1)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gitCommitURL returns the web page of a commit on the repository's host,
// "" when the host's kind is neither given nor recognisable.
func gitCommitURL(repoURL, provider, commit string) string {
	host, path := gitWebLocation(repoURL)
	if host == "" || path == "" || commit == "" {
		return ""
	}
	if provider == "" {
		h := strings.ToLower(host)
		switch {
		case h == "github.com" || strings.HasPrefix(h, "github."):
			provider = "github"
		case h == "gitlab.com" || strings.HasPrefix(h, "gitlab."):
			provider = "gitlab"
		case h == "bitbucket.org":
			provider = "bitbucket"
		case h == "dev.azure.com" || strings.HasSuffix(h, ".visualstudio.com"):
			provider = "azure"
		case h == "gitea.com" || strings.HasPrefix(h, "gitea."):
			provider = "gitea"
		default:
			return ""
		}
	}
	base := "https://" + host + "/" + path
	switch provider {
	case "gitlab":
		return base + "/-/commit/" + commit
	case "bitbucket":
		return base + "/commits/" + commit
	case "bitbucket-datacenter":
		// https://host/scm/PROJECT/repo.git → https://host/projects/PROJECT/repos/repo
		parts := strings.Split(strings.TrimPrefix(path, "scm/"), "/")
		if len(parts) != 2 {
			return ""
		}
		return "https://" + host + "/projects/" + parts[0] + "/repos/" + parts[1] + "/commits/" + commit
	case "github", "gitea", "azure":
		return base + "/commit/" + commit
	}
	return ""
}

// gitWebLocation splits a repository URL into its host and its path
// without ".git", for web pages.
func gitWebLocation(repoURL string) (host, path string) {
	raw := strings.TrimSpace(repoURL)
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return "", ""
		}
		host, path = u.Hostname(), u.Path
		if u.Scheme != "ssh" && u.Port() != "" {
			host = u.Host
		}
	} else if m := gitSCPLike.MatchString(raw); m {
		_, rest, _ := strings.Cut(raw, "@")
		host, path, _ = strings.Cut(rest, ":")
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	return host, path
}
