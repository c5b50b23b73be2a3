package steps

// This file holds what the git-* steps share: the layout of a promotion's
// Git state, running git without leaking credentials, and finding the
// working tree a step's path names.
//
// Layout. git-clone keeps, per repository URL, one bare repository in the
// workspace at .caravan/git/<hash>.git (the "promotion repository"). Its
// objects/info/alternates names the objects of the repository's shared
// mirror (internal/discovery/git), so it borrows every object the mirror
// has and stores only what the promotion adds (its commits). Each checkout
// is a worktree of the promotion repository (written the way `git worktree
// add` writes one): branches are real local branches of it, commits and
// tags detached worktrees. remote.origin.url holds the repository's URL
// (never with credentials); each worktree's own configuration
// (extensions.worktreeConfig) holds the author git-clone was given, and
// caravan-checkout.json in its git directory the URL and TLS setting, for
// git-commit, git-tag and git-push.
//
// Safety. Every git command runs with no system or global configuration,
// no hooks, no fsmonitor, no credential helpers but ours, prompts disabled,
// the C locale and only the http, https and ssh transports. Credentials
// reach git only through the environment of the one command that needs
// them (an inline credential helper reads them from there) or, for SSH
// keys, through a 0600 file removed after that command: never through
// arguments, URLs, configuration files, logs or errors.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/promotion"
	"github.com/caravan-dev/caravan/internal/retry"
)

// The identity of commits, tags and rebases when git-clone's config has no
// author (Kargo's default is "Kargo <no-reply@kargo.io>"; Caravan uses its
// own name on a host-local address so that no real mailbox is implied).
const (
	DefaultGitAuthorName  = "Caravan"
	DefaultGitAuthorEmail = "caravan@localhost"
)

const (
	// gitStateDir is where the git steps keep their state, relative to the
	// workspace; checkouts may not be placed inside it.
	gitStateDir = ".caravan"
	// gitCommandTimeout bounds each git command on top of the step's own
	// context: enough for a first checkout of a large repository.
	gitCommandTimeout = 10 * time.Minute
	// gitInitialMessage is the message of the empty first commit of a
	// branch that git-clone creates (create: true), as in Kargo.
	gitInitialMessage = "Initial commit"
)

// gitIdentity is an author (or tagger) in a step's config.
type gitIdentity struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	// SigningKey is a GPG private key. Caravan does not sign yet; a config
	// that asks for it is refused rather than silently left unsigned.
	SigningKey string `json:"signingKey,omitempty"`
}

// gitIdentitySchema is the JSON schema of gitIdentity.
const gitIdentitySchema = `{
      "type": "object",
      "additionalProperties": false,
      "required": ["name", "email"],
      "properties": {
        "name": {"type": "string", "minLength": 1, "description": "The name of the author."},
        "email": {"type": "string", "minLength": 1, "description": "The email address of the author."},
        "signingKey": {"type": "string", "description": "A GPG private key to sign with (not supported yet)."}
      }
    }`

// check refuses what Caravan cannot honour.
func (id *gitIdentity) check(field string) error {
	if id == nil {
		return nil
	}
	if strings.TrimSpace(id.Name) == "" || strings.TrimSpace(id.Email) == "" {
		return fmt.Errorf("%s: name and email are both required: set %s.name and %s.email", field, field, field)
	}
	if strings.ContainsAny(id.Name+id.Email, "<>\n\x00") {
		return fmt.Errorf("%s: name and email may not contain '<', '>' or line breaks", field)
	}
	if id.SigningKey != "" {
		return fmt.Errorf("%s.signingKey: commit signing is not supported by Caravan yet: remove signingKey to make unsigned commits", field)
	}
	return nil
}

// gitDecode decodes a step's config into v, refusing unknown fields. The
// engine has validated the config against the step's schema already; this
// catches direct callers.
func gitDecode(step string, raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return retry.Terminal(fmt.Errorf("%s: read config: %w: fix the step's config", step, err))
	}
	return nil
}

// gitTerminal marks a config or workspace problem that retrying cannot fix.
func gitTerminal(step, format string, args ...any) error {
	return retry.Terminal(fmt.Errorf(step+": "+format, args...))
}

// gitSpace is the Git state of one promotion's workspace.
type gitSpace struct {
	workDir string // absolute, symlinks resolved
	root    string // workDir/.caravan/git: the promotion repositories
	home    string // workDir/.caravan/home: an empty HOME for git
}

// newGitSpace returns the Git state of workDir, creating its directories.
func newGitSpace(workDir string) (*gitSpace, error) {
	if workDir == "" || !filepath.IsAbs(workDir) {
		return nil, fmt.Errorf("open workspace: the workspace %q is not an absolute path", workDir)
	}
	real, err := filepath.EvalSymlinks(workDir)
	if err != nil {
		return nil, fmt.Errorf("open workspace: %w", err)
	}
	s := &gitSpace{
		workDir: real,
		root:    filepath.Join(real, gitStateDir, "git"),
		home:    filepath.Join(real, gitStateDir, "home"),
	}
	for _, d := range []string{s.root, s.home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open workspace: %w", err)
		}
	}
	return s, nil
}

// resolve resolves a path of a step's config inside the workspace.
func (s *gitSpace) resolve(step, field, p string) (string, error) {
	abs, err := promotion.SecurePath(s.workDir, p)
	if err != nil {
		return "", retry.Terminal(fmt.Errorf("%s: %s: %w", step, field, err))
	}
	return abs, nil
}

// inState reports whether abs is the state directory or inside it.
func (s *gitSpace) inState(abs string) bool {
	state := filepath.Join(s.workDir, gitStateDir)
	return abs == state || strings.HasPrefix(abs, state+string(os.PathSeparator))
}

// repoDir is the promotion repository of a repository URL.
func (s *gitSpace) repoDir(repoURL string) string {
	sum := sha256.Sum256([]byte(v1alpha1.NormalizeGitURL(repoURL)))
	return filepath.Join(s.root, hex.EncodeToString(sum[:])[:24]+".git")
}

// gitExec is one git command.
type gitExec struct {
	dir      string     // working directory; the space's home when empty
	gitDir   string     // GIT_DIR, when set
	workTree string     // GIT_WORK_TREE, when set
	remote   *gitRemote // credentials and TLS setting for network commands
	stdin    []byte
	env      []string // more variables, e.g. an identity
	args     []string
}

// gitInheritedEnv are the variables of Caravan's environment that git
// commands keep: how to find programs, proxies and CA certificates.
var gitInheritedEnv = []string{
	"PATH", "TMPDIR",
	"http_proxy", "https_proxy", "no_proxy", "all_proxy",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH",
}

// gitSafetyArgs go before every subcommand: nothing configured in a
// repository may run programs or answer prompts.
var gitSafetyArgs = []string{
	"-c", "core.hooksPath=/dev/null",
	"-c", "core.fsmonitor=false",
	"-c", "credential.helper=",
	"-c", "core.askPass=",
	"-c", "protocol.version=2",
	"-c", "advice.detachedHead=false",
	"-c", "gc.auto=0",
	"-c", "maintenance.auto=false",
}

// gitCredentialHelper answers git's credential requests from variables set
// only for the one command (git runs it with the command's environment).
const gitCredentialHelper = `!f() { test "$1" = get || return 0; ` +
	`printf 'username=%s\npassword=%s\n' "$CARAVAN_GIT_USERNAME" "$CARAVAN_GIT_PASSWORD"; }; f`

// gitSSH is the ssh command of every git command. As in Kargo (and
// Caravan's discovery), the server's host key is not verified.
const gitSSH = "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"

// run runs git and returns its standard output. Its standard error is kept,
// scrubbed of credentials, for the error.
func (s *gitSpace) run(ctx context.Context, x gitExec) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, gitCommandTimeout)
	defer cancel()
	env := make([]string, 0, 32)
	for _, k := range gitInheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env,
		"HOME="+s.home,
		"XDG_CONFIG_HOME="+filepath.Join(s.home, ".config"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CEILING_DIRECTORIES="+s.workDir,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ALLOW_PROTOCOL=http:https:ssh",
		"LC_ALL=C",
		"LANG=C",
	)
	if x.gitDir != "" {
		env = append(env, "GIT_DIR="+x.gitDir)
	}
	if x.workTree != "" {
		env = append(env, "GIT_WORK_TREE="+x.workTree)
	}
	args := append([]string(nil), gitSafetyArgs...)
	ssh := gitSSH
	if r := x.remote; r != nil {
		if r.insecure {
			args = append(args, "-c", "http.sslVerify=false")
		}
		switch c := r.creds; {
		case c != nil && c.SSHPrivateKey != "":
			keyFile, err := gitWriteKey(c.SSHPrivateKey)
			if err != nil {
				return nil, err
			}
			defer os.Remove(keyFile)
			ssh += " -o IdentitiesOnly=yes -i '" + keyFile + "'"
		case c != nil && c.Password != "":
			user := c.Username
			if user == "" {
				user = "git" // hosts that take tokens accept any user name
			}
			args = append(args, "-c", "credential.helper="+gitCredentialHelper)
			env = append(env, "CARAVAN_GIT_USERNAME="+user, "CARAVAN_GIT_PASSWORD="+c.Password)
		}
	}
	env = append(env, "GIT_SSH_COMMAND="+ssh)
	env = append(env, x.env...)
	args = append(args, x.args...)

	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = x.dir
	if cmd.Dir == "" {
		cmd.Dir = s.home
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout bytes.Buffer
	stderr := &gitTail{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if x.stdin != nil {
		cmd.Stdin = bytes.NewReader(x.stdin)
	}
	if err := cmd.Run(); err != nil {
		var creds *discovery.Credentials
		if x.remote != nil {
			creds = x.remote.creds
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return stdout.Bytes(), &gitError{cmd: gitSubcommand(x.args), stderr: gitScrub(stderr.String(), creds), err: err}
	}
	return stdout.Bytes(), nil
}

// gitSubcommand names the subcommand of args for errors.
func gitSubcommand(args []string) string {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return "command"
}

// gitWriteKey writes an SSH private key to a new 0600 file.
func gitWriteKey(key string) (string, error) {
	f, err := os.CreateTemp("", "caravan-ssh-")
	if err != nil {
		return "", fmt.Errorf("write ssh key file: %w", err)
	}
	if !strings.HasSuffix(key, "\n") {
		key += "\n" // ssh refuses keys without the final newline
	}
	_, werr := f.WriteString(key)
	err = errors.Join(werr, f.Close(), os.Chmod(f.Name(), 0o600))
	if err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("write ssh key file: %w", err)
	}
	return f.Name(), nil
}

// gitError is a failed git command.
type gitError struct {
	cmd    string
	stderr string // scrubbed
	err    error
}

func (e *gitError) Error() string {
	msg := gitLastLines(e.stderr, 3)
	if msg == "" {
		msg = e.err.Error()
	}
	return "git " + e.cmd + ": " + msg
}

func (e *gitError) Unwrap() error { return e.err }

// gitStderr returns the standard error of a failed git command in err.
func gitStderr(err error) string {
	var ge *gitError
	if errors.As(err, &ge) {
		return ge.stderr
	}
	return ""
}

// gitExitCode returns the exit status of a failed git command, -1 if it
// did not exit.
func gitExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// gitLastLines returns the last n non-empty lines of s, joined with "; ",
// leaving out git's hints.
func gitLastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "hint:") {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// gitTail keeps the last max bytes written to it.
type gitTail struct {
	max int
	buf []byte
}

func (b *gitTail) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *gitTail) String() string { return string(b.buf) }

// ensureRepo returns the promotion repository of repoURL, creating it if
// needed, with the objects of mirror (a bare repository; "" for none yet)
// among its alternates. The repository is written directly (what
// `git init --bare --template=` would write), one process fewer per
// promotion; it is made under a temporary name and renamed into place, so
// a crash never leaves half of one.
func (s *gitSpace) ensureRepo(repoURL, mirror string) (string, error) {
	dir := s.repoDir(repoURL)
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err != nil {
		tmp, err := os.MkdirTemp(s.root, ".new-")
		if err != nil {
			return "", fmt.Errorf("create promotion repository: %w", err)
		}
		defer os.RemoveAll(tmp)
		for _, d := range []string{"objects/info", "objects/pack", "refs/heads", "refs/tags", "worktrees"} {
			if err := os.MkdirAll(filepath.Join(tmp, d), 0o700); err != nil {
				return "", fmt.Errorf("create promotion repository: %w", err)
			}
		}
		// core.bare goes to config.worktree, the main worktree's own
		// configuration: in the shared one it would make every linked
		// worktree bare too (extensions.worktreeConfig).
		config := gitRepoConfigHead + "[remote \"origin\"]\n\turl = " + gitQuote(repoURL) + "\n"
		files := map[string]string{"HEAD": "ref: refs/heads/main\n", "config": config, "config.worktree": gitRepoBareConfig}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(tmp, name), []byte(content), 0o600); err != nil {
				return "", fmt.Errorf("create promotion repository: %w", err)
			}
		}
		_ = os.RemoveAll(dir) // a directory without HEAD is debris of a crash
		if err := os.Rename(tmp, dir); err != nil {
			return "", fmt.Errorf("create promotion repository: %w", err)
		}
	}
	if mirror != "" {
		if err := gitAddAlternate(dir, filepath.Join(mirror, "objects")); err != nil {
			return "", fmt.Errorf("borrow objects from the mirror: %w", err)
		}
	}
	return dir, nil
}

// The configuration of a promotion repository: gitRepoConfigHead, then
// its remote.origin.url; and gitRepoBareConfig for the main worktree.
const (
	gitRepoConfigHead = "[core]\n\trepositoryformatversion = 1\n\tlogAllRefUpdates = false\n" +
		"[extensions]\n\tworktreeConfig = true\n" +
		"[gc]\n\tauto = 0\n"
	gitRepoBareConfig = "[core]\n\tbare = true\n"
)

// gitOriginConfig matches the rest of a promotion repository's config.
var gitOriginConfig = regexp.MustCompile(`^\[remote "origin"\]\n\turl = "(?:[^"\\\n]|\\.)*"\n$`)

// gitWorktreeConfigLine matches what a worktree's config.worktree may hold:
// the author git-clone wrote, and what `git sparse-checkout` adds.
var gitWorktreeConfigLine = regexp.MustCompile(`(?i)^(\[user\]|\[core\]|\t(name|email) = "(?:[^"\\\n]|\\.)*"|` +
	`\tsparsecheckout(cone)? = (true|false))$`)

// gitCheckConfig refuses a promotion repository or worktree whose Git
// configuration holds anything Caravan did not write. Configuration can make
// git run programs (filter drivers, diff and merge drivers, signing
// programs); other steps may write anywhere in the workspace, this
// directory included, so the git steps check before they run git there.
func gitCheckConfig(repo, gitDir string) error {
	config, err := os.ReadFile(filepath.Join(repo, "config"))
	if err != nil {
		return err
	}
	rest, ok := strings.CutPrefix(string(config), gitRepoConfigHead)
	if !ok || !gitOriginConfig.MatchString(rest) {
		return errors.New("its configuration was changed")
	}
	bare, err := os.ReadFile(filepath.Join(repo, "config.worktree"))
	if err != nil || string(bare) != gitRepoBareConfig {
		return errors.New("its configuration was changed")
	}
	wt, err := os.ReadFile(filepath.Join(gitDir, "config.worktree"))
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(wt), "\n"), "\n") {
		if !gitWorktreeConfigLine.MatchString(line) {
			return errors.New("the working tree's configuration was changed")
		}
	}
	return nil
}

// gitAddAlternate adds objects to the alternates of repo if missing.
func gitAddAlternate(repo, objects string) error {
	file := filepath.Join(repo, "objects", "info", "alternates")
	data, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if line == objects {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
		data = append(data, '\n')
	}
	data = append(data, objects+"\n"...)
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// gitQuote quotes a value for a git configuration file.
func gitQuote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(v) + `"`
}

// gitTree is a working tree made by git-clone.
type gitTree struct {
	space    *gitSpace
	path     string // the working tree's root, absolute
	sub      string // the directory the step named, relative to path ("." for the root)
	gitDir   string // the worktree's git directory: <repo>/worktrees/<name>
	repo     string // the promotion repository
	url      string // remote.origin.url
	insecure bool
}

// openTree finds the working tree that contains p, a path of the step's
// config. It refuses paths outside the workspace and working trees that
// git-clone did not make.
func (s *gitSpace) openTree(ctx context.Context, step, field, p string) (*gitTree, error) {
	abs, err := s.resolve(step, field, p)
	if err != nil {
		return nil, err
	}
	return s.openTreeAt(step, field, p, abs)
}

// openTreeAt is openTree of abs, the resolved form of p.
func (s *gitSpace) openTreeAt(step, field, p, abs string) (*gitTree, error) {
	notTree := gitTerminal(step, "%s %q is not inside a Git working tree made by git-clone: "+
		"check the path, or check the repository out there with a git-clone step first", field, p)
	for dir := abs; ; dir = filepath.Dir(dir) {
		if dir == s.workDir || !strings.HasPrefix(dir, s.workDir+string(os.PathSeparator)) {
			return nil, notTree
		}
		if s.inState(dir) {
			return nil, notTree
		}
		info, err := os.Lstat(filepath.Join(dir, ".git"))
		if err != nil {
			continue
		}
		if !info.Mode().IsRegular() {
			return nil, notTree
		}
		data, err := os.ReadFile(filepath.Join(dir, ".git"))
		if err != nil {
			return nil, fmt.Errorf("%s: read %s: %w", step, field, err)
		}
		gitDir, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir: ")
		if !ok || !filepath.IsAbs(gitDir) {
			return nil, notTree
		}
		if gitDir, err = filepath.EvalSymlinks(gitDir); err != nil {
			return nil, notTree
		}
		repo := filepath.Dir(filepath.Dir(gitDir))
		if filepath.Base(filepath.Dir(gitDir)) != "worktrees" || filepath.Dir(repo) != s.root {
			return nil, notTree
		}
		sub, _ := filepath.Rel(dir, abs)
		t := &gitTree{space: s, path: dir, sub: sub, gitDir: gitDir, repo: repo}
		data, err = os.ReadFile(filepath.Join(gitDir, gitCheckoutFile))
		if err != nil {
			return nil, notTree
		}
		var meta gitCheckoutMeta
		if err := json.Unmarshal(data, &meta); err != nil || meta.RepoURL == "" {
			return nil, notTree
		}
		t.url, t.insecure = meta.RepoURL, meta.InsecureSkipTLSVerify
		if err := gitCheckConfig(repo, gitDir); err != nil {
			return nil, gitTerminal(step, "%s %q: refusing to run git in it: %v, and Caravan runs git only with the "+
				"configuration it wrote: do not write into %s/ with other steps; run git-clone again", field, p, err, gitStateDir)
		}
		return t, nil
	}
}

// gitCheckoutFile, in a worktree's git directory, holds what git-clone
// knew about the checkout that later steps need (gitCheckoutMeta).
const gitCheckoutFile = "caravan-checkout.json"

// gitCheckoutMeta is the content of gitCheckoutFile.
type gitCheckoutMeta struct {
	// RepoURL is the repository's URL, without user information.
	RepoURL string `json:"repoURL"`
	// InsecureSkipTLSVerify is git-clone's TLS setting.
	InsecureSkipTLSVerify bool `json:"insecureSkipTLSVerify,omitempty"`
}

// git runs a local git command in the working tree.
func (t *gitTree) git(ctx context.Context, stdin []byte, env []string, args ...string) ([]byte, error) {
	return t.space.run(ctx, gitExec{dir: t.path, gitDir: t.gitDir, workTree: t.path, stdin: stdin, env: env, args: args})
}

// remoteGit runs a network git command in the working tree.
func (t *gitTree) remoteGit(ctx context.Context, r *gitRemote, args ...string) ([]byte, error) {
	return t.space.run(ctx, gitExec{dir: t.path, gitDir: t.gitDir, workTree: t.path, remote: r, args: args})
}

// revParse resolves rev in the working tree; "" when it does not exist.
func (t *gitTree) revParse(ctx context.Context, rev string) (string, error) {
	out, err := t.git(ctx, nil, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", rev)
	if err != nil {
		if gitExitCode(err) == 1 {
			return "", nil
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// branch returns the branch checked out in the working tree, "" when its
// HEAD is detached.
func (t *gitTree) branch(ctx context.Context) (string, error) {
	out, err := t.git(ctx, nil, nil, "symbolic-ref", "--quiet", "HEAD")
	if err != nil {
		if gitExitCode(err) == 1 {
			return "", nil
		}
		return "", err
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "refs/heads/"), nil
}

// gitRefName checks a branch or tag name the way git does
// (git check-ref-format), and refuses names that git would read as
// options.
func gitRefName(name string) error {
	switch {
	case name == "":
		return errors.New("it is empty")
	case name == "@" || strings.HasPrefix(name, "-"):
		return errors.New("it may not be '@' or start with '-'")
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//"):
		return errors.New("it may not start or end with '/' or contain '//'")
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, ".lock"):
		return errors.New("it may not end with '.' or '.lock'")
	case strings.Contains(name, "..") || strings.Contains(name, "@{"):
		return errors.New("it may not contain '..' or '@{'")
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f || strings.ContainsRune(" ~^:?*[\\", c) {
			return fmt.Errorf("it may not contain %q", c)
		}
	}
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") {
			return errors.New("no part of it may start with '.'")
		}
	}
	return nil
}

// gitIdentityEnv sets author and committer to id.
func gitIdentityEnv(id *gitIdentity) []string {
	if id == nil {
		return nil
	}
	return []string{
		"GIT_AUTHOR_NAME=" + id.Name, "GIT_AUTHOR_EMAIL=" + id.Email,
		"GIT_COMMITTER_NAME=" + id.Name, "GIT_COMMITTER_EMAIL=" + id.Email,
	}
}

// gitLogger returns the step's logger, or one that discards.
func gitLogger(sc *promotion.StepContext) *slog.Logger {
	if sc.Logger != nil {
		return sc.Logger
	}
	return slog.New(slog.DiscardHandler)
}
