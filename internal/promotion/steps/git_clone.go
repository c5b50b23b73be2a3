package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/discovery/git"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

// gitCloneSchema is the config of git-clone, as Kargo defines it: one
// repository, and the branches, tags or commits to check out at paths of
// the workspace.
const gitCloneSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "git-clone",
  "type": "object",
  "additionalProperties": false,
  "required": ["repoURL", "checkout"],
  "properties": {
    "repoURL": {"type": "string", "minLength": 1, "description": "The URL of the repository to clone."},
    "insecureSkipTLSVerify": {"type": "boolean", "description": "Accept any TLS certificate from the server, for this step and the git-push of its checkouts."},
    "recurseSubmodules": {"type": "boolean", "description": "Check out the submodules of every checkout too, with the repository's credentials."},
    "author": ` + gitIdentitySchema + `,
    "checkout": {
      "type": "array",
      "minItems": 1,
      "description": "What to check out where. With none of branch, commit and tag, the default branch.",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["path"],
        "properties": {
          "as": {"type": "string", "description": "The key of this checkout in the commits output; the path when empty."},
          "branch": {"type": "string", "description": "A branch to check out. Exclusive with commit and tag."},
          "commit": {"type": "string", "description": "A commit ID to check out. Exclusive with branch and tag."},
          "tag": {"type": "string", "description": "A tag to check out. Exclusive with branch and commit."},
          "create": {"type": "boolean", "description": "Start the branch as a new, empty branch when the repository does not have it."},
          "path": {"type": "string", "minLength": 1, "description": "Where to check out, relative to the workspace."},
          "sparse": {
            "type": "array",
            "minItems": 1,
            "description": "Check out only these directories (and the files at the top of the repository).",
            "items": {"type": "string", "minLength": 1}
          }
        }
      }
    }
  }
}`

// gitCloneConfig is git-clone's config.
type gitCloneConfig struct {
	RepoURL               string        `json:"repoURL"`
	InsecureSkipTLSVerify bool          `json:"insecureSkipTLSVerify,omitempty"`
	RecurseSubmodules     bool          `json:"recurseSubmodules,omitempty"`
	Author                *gitIdentity  `json:"author,omitempty"`
	Checkout              []gitCheckout `json:"checkout"`
}

// gitCheckout is one entry of git-clone's checkout list.
type gitCheckout struct {
	As     string   `json:"as,omitempty"`
	Branch string   `json:"branch,omitempty"`
	Commit string   `json:"commit,omitempty"`
	Tag    string   `json:"tag,omitempty"`
	Create bool     `json:"create,omitempty"`
	Path   string   `json:"path"`
	Sparse []string `json:"sparse,omitempty"`
}

// gitClone is the git-clone step.
type gitClone struct {
	mirrors *git.Mirrors
	creds   discovery.CredentialsLookup
}

// NewGitClone returns the git-clone step. It fetches through mirrors, the
// shared bare mirrors of discovery, so a promotion transfers only what the
// mirror lacks; its checkouts are worktrees of a repository in the
// workspace that borrows the mirror's objects. Credentials are looked up in
// creds by the promotion's project (type git); creds may be nil when no
// repository needs any.
//
// Outputs: commits, a map from each checkout's alias (its `as`, else its
// path as written) to the commit checked out there. A branch created with
// create: true starts with an empty "Initial commit" whose date is fixed,
// so that every run and every concurrent promotion that creates it makes the
// same commit; it reaches the remote with the first git-push.
//
// Each run replaces the working trees at its paths, so running it again
// gives the same outcome. A path that holds anything else is refused. The
// Git state behind the working trees lives in the workspace under .caravan/
// (see the layout notes in gitwork.go); a password written into repoURL is
// used for this step only and never stored, so git-push needs a credentials
// Secret for the repository.
func NewGitClone(mirrors *git.Mirrors, creds discovery.CredentialsLookup) promotion.Step {
	return &gitClone{mirrors: mirrors, creds: creds}
}

// Name implements promotion.Step.
func (*gitClone) Name() string { return "git-clone" }

// Schema implements promotion.Step.
func (*gitClone) Schema() []byte { return []byte(gitCloneSchema) }

// gitCheckoutPlan is a checkout, checked and resolved.
type gitCheckoutPlan struct {
	field  string // checkout[i], for messages
	key    string // in the commits output
	path   string // absolute
	branch string // the branch to check out; "" for a commit or tag
	ref    string // what the mirror must hold: a full ref or commit ID; "" when nothing
	rev    string // what to resolve in the mirror
	create bool   // start branch as a new, empty branch if the remote lacks it
	fresh  bool   // the remote lacks branch: start it
	rel    string // the path as written
	id     string // the commit to check out
	sparse []string
}

// gitFullID matches a full SHA-1 or SHA-256 object name.
var gitFullID = regexp.MustCompile(`^(?i:[0-9a-f]{40}|[0-9a-f]{64})$`)

// gitShortID matches an abbreviated object name.
var gitShortID = regexp.MustCompile(`^(?i:[0-9a-f]{4,63})$`)

// parse checks the config and plans the checkouts.
func (g *gitClone) parse(space *gitSpace, raw []byte) (*gitCloneConfig, []*gitCheckoutPlan, error) {
	const step = "git-clone"
	var cfg gitCloneConfig
	if err := gitDecode(step, raw, &cfg); err != nil {
		return nil, nil, err
	}
	if strings.TrimSpace(cfg.RepoURL) == "" {
		return nil, nil, gitTerminal(step, "repoURL is required: set it to the repository's URL")
	}
	if err := cfg.Author.check("author"); err != nil {
		return nil, nil, retry.Terminal(fmt.Errorf("%s: %w", step, err))
	}
	if len(cfg.Checkout) == 0 {
		return nil, nil, gitTerminal(step, "checkout is empty: list at least one branch, commit or tag with the path to check it out at")
	}
	keys := map[string]string{}
	var plans []*gitCheckoutPlan
	for i, c := range cfg.Checkout {
		p := &gitCheckoutPlan{field: "checkout[" + strconv.Itoa(i) + "]", key: c.Path, rel: c.Path}
		if c.As != "" {
			p.key = c.As
		}
		if other, dup := keys[p.key]; dup {
			return nil, nil, gitTerminal(step, "%s and %s both have the alias %q in the commits output: give one of them another `as`",
				other, p.field, p.key)
		}
		keys[p.key] = p.field
		set := 0
		for _, v := range []string{c.Branch, c.Commit, c.Tag} {
			if v != "" {
				set++
			}
		}
		if set > 1 {
			return nil, nil, gitTerminal(step, "%s sets more than one of branch, commit and tag: keep only one", p.field)
		}
		switch {
		case c.Branch != "":
			if err := gitRefName(c.Branch); err != nil {
				return nil, nil, gitTerminal(step, "%s.branch %q is not a valid branch name: %v", p.field, c.Branch, err)
			}
			p.branch, p.ref, p.create = c.Branch, "refs/heads/"+c.Branch, c.Create
			p.rev = p.ref
		case c.Tag != "":
			if err := gitRefName(c.Tag); err != nil {
				return nil, nil, gitTerminal(step, "%s.tag %q is not a valid tag name: %v", p.field, c.Tag, err)
			}
			p.ref, p.rev = "refs/tags/"+c.Tag, "refs/tags/"+c.Tag
		case c.Commit != "":
			id := strings.ToLower(strings.TrimSpace(c.Commit))
			switch {
			case gitFullID.MatchString(id):
				p.ref, p.rev = id, id
			case gitShortID.MatchString(id):
				p.rev = id // resolved in the mirror after a full sync
			default:
				return nil, nil, gitTerminal(step, "%s.commit %q is not a commit ID: give the commit's hexadecimal ID, "+
					"or use branch or tag for names", p.field, c.Commit)
			}
		}
		abs, err := space.resolve(step, p.field+".path", c.Path)
		if err != nil {
			return nil, nil, err
		}
		if abs == space.workDir || space.inState(abs) {
			return nil, nil, gitTerminal(step, "%s.path %q: check out into a directory inside the workspace, such as ./out "+
				"(not the workspace itself, nor %s/)", p.field, c.Path, gitStateDir)
		}
		for _, q := range plans {
			if q.path == abs || strings.HasPrefix(abs, q.path+string(os.PathSeparator)) ||
				strings.HasPrefix(q.path, abs+string(os.PathSeparator)) {
				return nil, nil, gitTerminal(step, "%s.path %q overlaps %s.path: give each checkout its own directory, "+
					"none inside another", p.field, c.Path, q.field)
			}
		}
		p.path = abs
		for j, s := range c.Sparse {
			clean, err := gitSparseDir(s)
			if err != nil {
				return nil, nil, gitTerminal(step, "%s.sparse[%d] %q: %v", p.field, j, s, err)
			}
			p.sparse = append(p.sparse, clean)
		}
		plans = append(plans, p)
	}
	return &cfg, plans, nil
}

// gitSparseDir checks a directory of a sparse checkout.
func gitSparseDir(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "*?[\\!\n") {
		return "", errors.New("patterns are not supported: list directories, such as base or env/prod")
	}
	if strings.HasPrefix(s, "/") {
		return "", errors.New("give the directory relative to the repository's root, without a leading '/'")
	}
	clean := filepath.ToSlash(filepath.Clean(s))
	if clean == "." {
		return "", errors.New("it names the whole repository: leave sparse out to check out everything")
	}
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", errors.New("it leads outside the repository")
	}
	return clean, nil
}

// Run implements promotion.Step.
func (g *gitClone) Run(ctx context.Context, sc *promotion.StepContext) (promotion.StepResult, error) {
	const step = "git-clone"
	space, err := newGitSpace(sc.WorkDir)
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", step, err)
	}
	cfg, plans, err := g.parse(space, sc.Config)
	if err != nil {
		return promotion.StepResult{}, err
	}
	var creds *discovery.Credentials
	if g.creds != nil {
		if creds, err = g.creds.Lookup(ctx, sc.Project, discovery.CredentialTypeGit, cfg.RepoURL); err != nil {
			return promotion.StepResult{}, fmt.Errorf("%s: look up credentials: %w", step, err)
		}
	}
	remote, err := newGitRemote(step, cfg.RepoURL, creds, cfg.InsecureSkipTLSVerify)
	if err != nil {
		return promotion.StepResult{}, err
	}
	mirror, err := g.sync(ctx, space, cfg, remote, plans)
	if err != nil {
		return promotion.StepResult{}, err
	}
	repo, err := space.ensureRepo(remote.url, mirror)
	if err != nil {
		return promotion.StepResult{}, fmt.Errorf("%s: %w", step, err)
	}
	if err := g.resolve(ctx, space, mirror, remote, plans); err != nil {
		return promotion.StepResult{}, err
	}
	author := cfg.Author
	if author == nil {
		author = &gitIdentity{Name: DefaultGitAuthorName, Email: DefaultGitAuthorEmail}
	}
	commits := map[string]any{}
	for _, p := range plans {
		if err := g.checkout(ctx, space, repo, remote, cfg, author, p); err != nil {
			return promotion.StepResult{}, err
		}
		commits[p.key] = p.id
		gitLogger(sc).Debug("checked out", "repo", remote.url, "path", p.key, "commit", p.id, "sparse", len(p.sparse) > 0)
	}
	return promotion.StepResult{Status: promotion.StepStatusSucceeded, Output: map[string]any{"commits": commits}}, nil
}

// sync brings what the checkouts need into the repository's mirror and
// returns the mirror's path ("" when nothing had to be fetched). A branch
// that the remote lacks is planned as a new branch when create is set.
func (g *gitClone) sync(ctx context.Context, space *gitSpace, cfg *gitCloneConfig, remote *gitRemote,
	plans []*gitCheckoutPlan) (string, error) {
	const step = "git-clone"
	var defaultBranch string
	for _, p := range plans {
		if p.ref != "" || p.rev != "" {
			continue
		}
		if defaultBranch == "" {
			_, head, err := space.lsRemote(ctx, remote)
			if err != nil {
				return "", fmt.Errorf("%s: %w", step, err)
			}
			if head == "" {
				return "", gitTerminal(step, "%s names no branch, commit or tag, and %s has no default branch: name one",
					p.field, remote.url)
			}
			defaultBranch = head
		}
		p.branch, p.ref, p.rev = defaultBranch, "refs/heads/"+defaultBranch, "refs/heads/"+defaultBranch
	}
	short := false
	refs := func() []string {
		var out []string
		seen := map[string]bool{}
		for _, p := range plans {
			if p.ref == "" && p.rev != "" {
				short = true
			}
			if p.ref != "" && !p.fresh && !seen[p.ref] {
				seen[p.ref] = true
				out = append(out, p.ref)
			}
		}
		return out
	}
	want := refs()
	if len(want) == 0 && !short {
		return "", nil
	}
	r := git.Remote{URL: cfg.RepoURL, Credentials: remote.creds, InsecureSkipTLSVerify: cfg.InsecureSkipTLSVerify}
	if short {
		want = nil // an abbreviated commit ID can be anywhere: sync every branch and tag
	}
	mirror, err := g.mirrors.Sync(ctx, r, want...)
	if errors.Is(err, discovery.ErrNotFound) {
		// Which branches are missing? Only they may be created.
		var patterns []string
		for _, p := range plans {
			if p.branch != "" {
				patterns = append(patterns, p.ref)
			}
		}
		if len(patterns) == 0 {
			return "", gitSyncError(err)
		}
		have, _, lerr := space.lsRemote(ctx, remote, patterns...)
		if lerr != nil {
			return "", fmt.Errorf("%s: %w", step, lerr)
		}
		missing := false
		for _, p := range plans {
			if p.branch == "" || have[p.ref] != "" {
				continue
			}
			if !p.create {
				return "", gitTerminal(step, "%s.branch: %s has no branch %q: set create: true to start it as a new, "+
					"empty branch, or check the name", p.field, remote.url, p.branch)
			}
			p.fresh, missing = true, true
		}
		if !missing {
			return "", gitSyncError(err)
		}
		if want = refs(); len(want) == 0 && !short {
			return "", nil
		}
		if short {
			want = nil
		}
		mirror, err = g.mirrors.Sync(ctx, r, want...)
	}
	if err != nil {
		return "", gitSyncError(err)
	}
	return mirror, nil
}

// gitSyncError words a failed mirror sync; an invalid repository URL is
// terminal.
func gitSyncError(err error) error {
	err = fmt.Errorf("git-clone: %w", err)
	if errors.Is(err, discovery.ErrInvalid) {
		return retry.Terminal(err)
	}
	return err
}

// resolve finds the commit of every checkout in the mirror.
func (g *gitClone) resolve(ctx context.Context, space *gitSpace, mirror string, remote *gitRemote, plans []*gitCheckoutPlan) error {
	var input strings.Builder
	var todo []*gitCheckoutPlan
	for _, p := range plans {
		if p.fresh {
			continue
		}
		todo = append(todo, p)
		input.WriteString(p.rev + "^{commit}\n")
	}
	if len(todo) == 0 {
		return nil
	}
	out, err := space.run(ctx, gitExec{gitDir: mirror, stdin: []byte(input.String()),
		args: []string{"cat-file", "--batch-check=%(objectname) %(objecttype)"}})
	if err != nil {
		return fmt.Errorf("git-clone: resolve checkouts in the mirror: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, p := range todo {
		var id, what string
		if i < len(lines) {
			id, what, _ = strings.Cut(lines[i], " ")
		}
		switch {
		case what == "commit":
			p.id = id
		case p.branch != "" && p.create && what == "missing":
			p.fresh = true // the remote lacks it (seen after syncing every branch)
		case p.branch != "" && what == "missing":
			return gitTerminal("git-clone", "%s.branch: %s has no branch %q: set create: true to start it as a new, "+
				"empty branch, or check the name", p.field, remote.url, p.branch)
		case what == "ambiguous":
			return gitTerminal("git-clone", "%s.commit %q is ambiguous in %s: give more of the commit ID", p.field, p.rev, remote.url)
		case p.branch == "" && !strings.HasPrefix(p.rev, "refs/"):
			return gitTerminal("git-clone", "%s.commit %q not found in %s: check the commit ID", p.field, p.rev, remote.url)
		default:
			return fmt.Errorf("git-clone: %s: %s is not a commit in %s", p.field, p.rev, remote.url)
		}
	}
	return nil
}

// checkout creates the working tree of p, replacing one an earlier run
// made. The worktree's files are written directly (what `git worktree add
// --no-checkout` writes: its administrative directory in the promotion
// repository and the .git file), then one `git reset --hard` checks it out:
// one process where `git worktree add` runs four.
func (g *gitClone) checkout(ctx context.Context, space *gitSpace, repo string, remote *gitRemote, cfg *gitCloneConfig,
	author *gitIdentity, p *gitCheckoutPlan) error {
	const step = "git-clone"
	if err := gitClearCheckoutPath(space, p); err != nil {
		return err
	}
	if p.fresh {
		id, err := gitInitialCommit(ctx, space, repo, author)
		if err != nil {
			return fmt.Errorf("%s: %s: start branch %q: %w", step, p.field, p.branch, err)
		}
		p.id = id
	}
	fail := func(err error) error { return fmt.Errorf("%s: %s: create working tree: %w", step, p.field, err) }
	head := p.id + "\n"
	if p.branch != "" {
		if other := gitCheckedOutAt(repo, p.branch); other != "" {
			return gitTerminal(step, "%s: branch %q is checked out at %s already: a branch can be checked out at one "+
				"path only", p.field, p.branch, other)
		}
		if err := gitWriteRef(repo, "refs/heads/"+p.branch, p.id); err != nil {
			return fail(err)
		}
		head = "ref: refs/heads/" + p.branch + "\n"
	}
	admin := filepath.Join(repo, "worktrees", gitWorktreeID(p.path))
	if err := os.RemoveAll(admin); err != nil {
		return fail(err)
	}
	meta, err := json.Marshal(gitCheckoutMeta{RepoURL: remote.url, InsecureSkipTLSVerify: cfg.InsecureSkipTLSVerify})
	if err != nil {
		return fail(err)
	}
	files := []struct{ path, content string }{
		{filepath.Join(admin, "gitdir"), filepath.Join(p.path, ".git") + "\n"},
		{filepath.Join(admin, "commondir"), "../..\n"},
		{filepath.Join(admin, "HEAD"), head},
		{filepath.Join(admin, "config.worktree"), "[user]\n\tname = " + gitQuote(author.Name) + "\n\temail = " + gitQuote(author.Email) + "\n"},
		{filepath.Join(admin, gitCheckoutFile), string(meta) + "\n"},
		{filepath.Join(p.path, ".git"), "gitdir: " + admin + "\n"},
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(f.path, []byte(f.content), 0o644); err != nil {
			return fail(err)
		}
	}
	t := &gitTree{space: space, path: p.path, sub: ".", gitDir: admin, repo: repo, url: remote.url, insecure: cfg.InsecureSkipTLSVerify}
	if len(p.sparse) > 0 {
		if _, err := t.git(ctx, []byte(strings.Join(p.sparse, "\n")+"\n"), nil, "sparse-checkout", "set", "--cone", "--stdin"); err != nil {
			return fmt.Errorf("%s: %s: set up sparse checkout: %w", step, p.field, err)
		}
	}
	if _, err := t.git(ctx, nil, nil, "reset", "--quiet", "--hard", "--no-recurse-submodules"); err != nil {
		return fmt.Errorf("%s: %s: check out: %w", step, p.field, err)
	}
	if cfg.RecurseSubmodules {
		if _, err := t.remoteGit(ctx, remote, "submodule", "update", "--init", "--recursive", "--quiet"); err != nil {
			return gitRemoteError(step+": "+p.field+": check out submodules", remote, err)
		}
	}
	return nil
}

// gitWorktreeID names the administrative directory of the worktree at
// path: its base name and a hash of the whole path, so that reruns reuse
// it and two checkouts never share one.
func gitWorktreeID(path string) string {
	base := []byte(filepath.Base(path))
	for i, c := range base {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			base[i] = '_'
		}
	}
	sum := sha256.Sum256([]byte(path))
	return string(base) + "-" + hex.EncodeToString(sum[:4])
}

// gitCheckedOutAt returns the path of the worktree of repo that has branch
// checked out, "" when none has. Worktrees whose files are gone (a later
// step deleted them) do not count, and their leftovers are removed, as
// `git worktree prune` would.
func gitCheckedOutAt(repo, branch string) string {
	entries, _ := os.ReadDir(filepath.Join(repo, "worktrees"))
	for _, e := range entries {
		admin := filepath.Join(repo, "worktrees", e.Name())
		head, err := os.ReadFile(filepath.Join(admin, "HEAD"))
		if err != nil || strings.TrimSpace(string(head)) != "ref: refs/heads/"+branch {
			continue
		}
		gitdir, err := os.ReadFile(filepath.Join(admin, "gitdir"))
		if err == nil {
			if _, err = os.Stat(strings.TrimSpace(string(gitdir))); err == nil {
				return filepath.Dir(strings.TrimSpace(string(gitdir)))
			}
		}
		_ = os.RemoveAll(admin)
	}
	return ""
}

// gitWriteRef points ref (a refs/heads/… name checked by gitRefName) of
// repo at id, as a loose ref.
func gitWriteRef(repo, ref, id string) error {
	file := filepath.Join(repo, filepath.FromSlash(ref))
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", ref, err)
	}
	tmp := file + ".lock"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", ref, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", ref, err)
	}
	return nil
}

// gitClearCheckoutPath removes the working tree that an earlier run left
// at p's path. Anything else there, but an empty directory, is refused.
func gitClearCheckoutPath(space *gitSpace, p *gitCheckoutPlan) error {
	const step = "git-clone"
	info, err := os.Lstat(p.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %s.path: %w", step, p.field, err)
	}
	occupied := gitTerminal(step, "%s.path %q already exists and is not empty: check out into another path, "+
		"or remove what is there first", p.field, p.rel)
	if !info.IsDir() {
		return occupied
	}
	entries, err := os.ReadDir(p.path)
	if err != nil {
		return fmt.Errorf("%s: %s.path: %w", step, p.field, err)
	}
	if len(entries) == 0 {
		return nil
	}
	t, err := space.openTreeAt(step, p.field+".path", p.rel, p.path)
	if err != nil || t.path != p.path {
		return occupied
	}
	for _, dir := range []string{p.path, t.gitDir} {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("%s: %s: remove the working tree of an earlier run: %w", step, p.field, err)
		}
	}
	return nil
}

// gitInitialCommit makes the first commit of a new branch: empty, by
// author, dated at the Unix epoch so that it is the same commit every time.
func gitInitialCommit(ctx context.Context, space *gitSpace, repo string, author *gitIdentity) (string, error) {
	tree, err := space.run(ctx, gitExec{gitDir: repo, stdin: []byte{}, args: []string{"mktree"}})
	if err != nil {
		return "", err
	}
	env := append(gitIdentityEnv(author), "GIT_AUTHOR_DATE=@0 +0000", "GIT_COMMITTER_DATE=@0 +0000")
	id, err := space.run(ctx, gitExec{gitDir: repo, env: env,
		args: []string{"commit-tree", "-m", gitInitialMessage, strings.TrimSpace(string(tree))}})
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(id)), nil
}
