package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/caravan-dev/caravan/internal/discovery"
)

// askpassScript answers git's prompts from variables set only in the
// environment of the one command that needs them: the first prompt
// ("Username for ...") gets the username, any other the password.
const askpassScript = `#!/bin/sh
case "$1" in
Username*) printf '%s\n' "$CARAVAN_GIT_USERNAME" ;;
*) printf '%s\n' "$CARAVAN_GIT_PASSWORD" ;;
esac
`

// defaultUsername is sent when credentials have a password (a token) but no
// username; hosts that take tokens accept any non-empty username.
const defaultUsername = "git"

// inheritedEnv are the variables of Caravan's own environment that git
// commands keep: how to find programs, proxies and CA certificates. Every
// other variable (GIT_DIR, GIT_ASKPASS, SSH_AUTH_SOCK, …) is dropped, so
// that nothing outside the subscription changes what git does.
var inheritedEnv = []string{
	"PATH", "TMPDIR",
	"http_proxy", "https_proxy", "no_proxy", "all_proxy",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH",
}

// Remote is a repository as one caller may reach it: its URL and the
// credentials and TLS setting that go with them.
//
// HTTP(S) credentials reach git through a GIT_ASKPASS helper reading
// variables set only for the one command (a password without a username
// is sent with the username "git"). An SSH key is written to a 0600 file
// for the one command and used with `ssh -i FILE -o IdentitiesOnly=yes -o
// StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o
// BatchMode=yes`: as in Kargo, the server's host key is not verified.
type Remote struct {
	// URL is the repository's URL: https://, http://, ssh:// or scp-style
	// user@host:path. User information in an http(s) URL is not passed to
	// git; a password found there is used when Credentials is nil.
	URL string
	// Credentials authenticate to the repository; nil for none.
	Credentials *discovery.Credentials
	// InsecureSkipTLSVerify accepts any TLS certificate from the server.
	InsecureSkipTLSVerify bool
}

// remote is a Remote checked and prepared for git.
type remote struct {
	// key is the repository's normalized URL: one mirror per key.
	key string
	// url is what git is given, without user information for http(s).
	url   string
	creds *discovery.Credentials
	// insecure skips TLS verification.
	insecure bool
	// flightKey groups callers that may share one ls-remote: same
	// repository, same credentials, same TLS setting. It holds a hash of the
	// credentials, never the credentials.
	flightKey string
}

// prepareRemote checks r's URL and strips user information from it.
func prepareRemote(r Remote) (*remote, error) {
	raw := strings.TrimSpace(r.URL)
	if raw == "" {
		return nil, discovery.NewError(discovery.ErrInvalid,
			"the Git subscription has no repoURL: set it to the repository's URL, e.g. https://github.com/example/repo.git")
	}
	creds := r.Credentials
	access := raw
	lower := strings.ToLower(raw)
	switch {
	case strings.HasPrefix(lower, "https://"), strings.HasPrefix(lower, "http://"):
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return nil, discovery.NewError(discovery.ErrInvalid,
				"repoURL %q is not a valid URL: write it as https://host/path", scrubText(raw, r.Credentials))
		}
		if u.User != nil {
			if pw, ok := u.User.Password(); ok && creds == nil {
				creds = &discovery.Credentials{Username: u.User.Username(), Password: pw}
			}
			u.User = nil
		}
		access = u.String()
	case strings.HasPrefix(lower, "ssh://"):
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return nil, discovery.NewError(discovery.ErrInvalid,
				"repoURL %q is not a valid URL: write it as ssh://user@host/path", scrubText(raw, r.Credentials))
		}
		if u.User != nil {
			// A user name is part of an ssh address; a password is not.
			u.User = url.User(u.User.Username())
		}
		access = u.String()
	case strings.Contains(raw, "://"), !scpLike.MatchString(raw):
		return nil, discovery.NewError(discovery.ErrInvalid,
			"repoURL %q is not a supported Git URL: use https://host/path, http://host/path, "+
				"ssh://user@host/path or user@host:path (local paths and other transports are refused)",
			scrubText(raw, r.Credentials))
	}
	return &remote{
		key:       normalizedKey(raw),
		url:       access,
		creds:     creds,
		insecure:  r.InsecureSkipTLSVerify,
		flightKey: normalizedKey(raw) + "\x00" + credsFingerprint(creds, r.InsecureSkipTLSVerify),
	}, nil
}

// scpLike matches scp-style addresses, user@host:path, with the user
// required so that a local path containing ':' is not taken for one.
var scpLike = regexp.MustCompile(`^[\w.~-]+@[\w.-]+:.+$`)

// gitEnv is what a git command needs to run: extra arguments, environment
// variables, and files to remove when it is done.
type gitEnv struct {
	args    []string
	env     []string
	cleanup func()
}

// baseEnv is the environment of every git command: no user or system
// configuration, no prompts, C locale, only the network transports a
// repository URL may use.
func (m *Mirrors) baseEnv() []string {
	env := make([]string, 0, 24)
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env,
		"HOME="+m.home,
		"XDG_CONFIG_HOME="+filepath.Join(m.home, ".config"),
		"GIT_CONFIG_NOSYSTEM=1",
		// Commands outside a mirror (ls-remote) must not pick up a repository
		// that happens to enclose the data directory.
		"GIT_CEILING_DIRECTORIES="+m.dir,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ALLOW_PROTOCOL=http:https:ssh",
		"LC_ALL=C",
		"LANG=C",
	)
}

// authEnv prepares the credentials and TLS setting of r for one command.
// Secrets go only into that command's environment (HTTP) or a 0600 file
// removed afterwards (SSH): never into arguments, URLs or configuration.
//
// SSH runs with StrictHostKeyChecking=no and no known_hosts file, as Kargo
// does: the server's host key is not verified, so SSH gives no protection
// against a man in the middle beyond what the transport offers. Use https
// where that matters.
func (m *Mirrors) authEnv(r *remote) (*gitEnv, error) {
	ge := &gitEnv{cleanup: func() {}}
	if r.insecure {
		ge.args = append(ge.args, "-c", "http.sslVerify=false")
	}
	ssh := "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
	c := r.creds
	switch {
	case c != nil && c.SSHPrivateKey != "":
		f, err := os.CreateTemp(m.tmp, "key-")
		if err != nil {
			return nil, fmt.Errorf("create ssh key file: %w", err)
		}
		name := f.Name()
		ge.cleanup = func() { _ = os.Remove(name) }
		key := c.SSHPrivateKey
		if !strings.HasSuffix(key, "\n") {
			key += "\n" // ssh refuses keys without the final newline
		}
		_, werr := f.WriteString(key)
		cerr := f.Close()
		if err := errors.Join(werr, cerr, os.Chmod(name, 0o600)); err != nil {
			ge.cleanup()
			return nil, fmt.Errorf("write ssh key file: %w", err)
		}
		ssh += " -o IdentitiesOnly=yes -i '" + name + "'"
	case c != nil && c.Password != "":
		user := c.Username
		if user == "" {
			user = defaultUsername
		}
		ge.env = append(ge.env,
			"GIT_ASKPASS="+m.askpass,
			"CARAVAN_GIT_USERNAME="+user,
			"CARAVAN_GIT_PASSWORD="+c.Password,
		)
	}
	ge.env = append(ge.env, "GIT_SSH_COMMAND="+ssh)
	return ge, nil
}

// commonArgs go before every git subcommand.
var commonArgs = []string{
	"-c", "protocol.version=2",
	"-c", "credential.helper=",
	"-c", "core.askPass=",
}

// command runs git in dir with r's credentials (r may be nil for local
// commands) and returns its standard output. stdin, if not nil, is fed to
// it. Standard error is kept, scrubbed, for the error.
func (m *Mirrors) command(ctx context.Context, dir string, r *remote, stdin []byte, args ...string) ([]byte, error) {
	cmd, cleanup, err := m.newCmd(ctx, dir, r, args...)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	start := time.Now()
	err = cmd.Run()
	m.log.Debug("git", "cmd", args[0], "dir", filepath.Base(dir), "duration", time.Since(start), "err", err != nil)
	if err != nil {
		return stdout.Bytes(), m.cmdError(ctx, r, args[0], err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// newCmd builds a git command. The command runs in its own process group,
// which is killed when ctx ends, so helpers (git-remote-https, ssh) do not
// outlive it.
func (m *Mirrors) newCmd(ctx context.Context, dir string, r *remote, args ...string) (*exec.Cmd, func(), error) {
	env := m.baseEnv()
	all := append([]string(nil), commonArgs...)
	cleanup := func() {}
	if r != nil {
		ge, err := m.authEnv(r)
		if err != nil {
			return nil, nil, err
		}
		env = append(env, ge.env...)
		all = append(all, ge.args...)
		cleanup = ge.cleanup
	}
	all = append(all, args...)
	cmd := exec.CommandContext(ctx, m.gitBinary, all...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd, cleanup, nil
}

// gitError is a failed git command, its standard error scrubbed of
// credentials.
type gitError struct {
	cmd    string
	stderr string
	err    error
}

func (e *gitError) Error() string {
	msg := lastLines(e.stderr, 3)
	if msg == "" {
		msg = e.err.Error()
	}
	return "git " + e.cmd + ": " + msg
}

func (e *gitError) Unwrap() error { return e.err }

// cmdError turns a failed command into an error: a discovery.Error of the
// right kind when the cause is recognisable (authentication, not found,
// unreachable), else a *gitError.
func (m *Mirrors) cmdError(ctx context.Context, r *remote, cmd string, err error, stderr string) error {
	var creds *discovery.Credentials
	if r != nil {
		creds = r.creds
	}
	gerr := &gitError{cmd: cmd, stderr: scrubText(stderr, creds), err: err}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && r != nil {
			return &discovery.Error{Kind: discovery.ErrUnreachable, Err: ctx.Err(), Msg: fmt.Sprintf(
				"%s did not answer in time: check that the host is up and reachable", r.url)}
		}
		return fmt.Errorf("git %s: %w", cmd, ctx.Err())
	}
	if r == nil {
		return gerr
	}
	if kind, msg := classify(stderr, r); kind != nil {
		return &discovery.Error{Kind: kind, Msg: msg, Err: gerr}
	}
	return gerr
}

// Patterns of git's and curl's messages, in the C locale.
var (
	authPatterns = []string{
		"authentication failed", "could not read username", "could not read password",
		"terminal prompts disabled", "permission denied (publickey", "http 401", "http 403",
		"the requested url returned error: 401", "the requested url returned error: 403",
		"invalid username or password", "access denied", "host key verification failed",
	}
	notFoundPatterns = []string{
		"not found", "does not appear to be a git repository", "the requested url returned error: 404",
		"no such repository", "repository does not exist",
	}
	tlsPatterns = []string{
		"ssl certificate problem", "server certificate verification failed", "certificate verify failed",
		"unable to get local issuer certificate", "self-signed certificate", "self signed certificate",
	}
	unreachablePatterns = []string{
		"could not resolve host", "could not resolve hostname", "failed to connect", "couldn't connect",
		"connection refused", "connection timed out", "operation timed out", "timed out",
		"network is unreachable", "no route to host", "connection reset", "empty reply from server",
		"name or service not known", "temporary failure in name resolution", "could not read from remote repository",
		"ssl_connect", "gnutls", "tls connection",
	}
)

// classify names the kind of a remote failure from git's standard error and
// words the message users see.
func classify(stderr string, r *remote) (error, string) {
	s := strings.ToLower(stderr)
	has := func(patterns []string) bool {
		for _, p := range patterns {
			if strings.Contains(s, p) {
				return true
			}
		}
		return false
	}
	switch {
	case has(authPatterns):
		return discovery.ErrAuth, authMessage(r)
	case has(tlsPatterns):
		return discovery.ErrUnreachable, fmt.Sprintf(
			"the TLS certificate of %s could not be verified: make its CA trusted on the Caravan host, "+
				"or set insecureSkipTLSVerify: true on the subscription if you accept an unverified server", r.url)
	case has(notFoundPatterns):
		return discovery.ErrNotFound, fmt.Sprintf(
			"repository %s not found: check repoURL; a private repository may also look missing "+
				"to credentials that cannot read it", r.url)
	case has(unreachablePatterns):
		return discovery.ErrUnreachable, fmt.Sprintf(
			"cannot reach %s: check the host name and port, and that the network (proxy, firewall) lets Caravan through", r.url)
	}
	return nil, ""
}

// authMessage says what to fix when r's server refused the credentials.
func authMessage(r *remote) string {
	c := r.creds
	switch {
	case c == nil || (c.Password == "" && c.SSHPrivateKey == ""):
		return fmt.Sprintf("authentication to %s failed: the repository needs credentials: "+
			"create a Secret labelled kargo.akuity.io/cred-type: git whose repoURL matches it, "+
			"with username and password (or sshPrivateKey for ssh URLs)", r.url)
	case c.SSHPrivateKey != "":
		return fmt.Sprintf("authentication to %s failed: check that the sshPrivateKey of the git "+
			"credentials Secret for this repository is authorized to read it", r.url)
	default:
		return fmt.Sprintf("authentication to %s failed: check the username and password of the git "+
			"credentials Secret for this repository", r.url)
	}
}

// userInfo matches the user information of URLs in free text.
var userInfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'"]+@`)

// scrubText removes credentials from text git may have printed: the user
// information of any URL, and the literal secrets of creds.
func scrubText(s string, creds *discovery.Credentials) string {
	s = userInfo.ReplaceAllString(s, "$1")
	if creds != nil {
		for _, secret := range []string{creds.Password, creds.SSHPrivateKey} {
			if len(secret) >= 4 {
				s = strings.ReplaceAll(s, secret, "***")
			}
		}
	}
	return s
}

// lastLines returns the last n non-empty lines of s, joined with "; ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string { return string(b.buf) }
