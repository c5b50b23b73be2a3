package testserver

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// GitServerOptions configure NewGitServer.
type GitServerOptions struct {
	// Username and Password, when Username is set, are required on every
	// request (HTTP basic authentication); other requests get 401 with a
	// WWW-Authenticate challenge, as real Git hosts answer.
	Username string
	Password string
	// TLS serves HTTPS with httptest's self-signed certificate, which git
	// accepts only with http.sslVerify=false.
	TLS bool
}

// GitServer serves the bare repositories under Root over Git's smart HTTP
// protocol: `git http-backend` run through net/http/cgi behind httptest, on
// 127.0.0.1. It is closed when the test ends. Repositories accept pushes
// over HTTP too.
type GitServer struct {
	// URL is the server's base URL, without a trailing slash; a repository
	// named "app" is at URL + "/app.git".
	URL string
	// Root is the directory holding the bare repositories.
	Root string

	base    string // temporary directory: Root, HOME, work clones
	opts    GitServerOptions
	srv     *httptest.Server
	backend http.Handler

	counts struct {
		requests, unauthorized, lsRefs, fetches, pushes, bytes atomic.Int64
	}

	holdMu  sync.Mutex
	holdCh  chan struct{} // closed to release held requests; nil when not holding
	holding atomic.Int64  // requests waiting on holdCh
}

// GitServerStats count what a GitServer served.
type GitServerStats struct {
	// Requests counts every HTTP request, refused ones included.
	Requests int64
	// Unauthorized counts requests answered 401.
	Unauthorized int64
	// LsRefs counts protocol-v2 ls-refs commands: one per `git ls-remote`,
	// and one per `git fetch` (which lists the refs it asks for first).
	LsRefs int64
	// Fetches counts protocol-v2 fetch commands; a fetch that negotiates
	// over several rounds counts each round.
	Fetches int64
	// Pushes counts receive-pack requests (pushes over HTTP).
	Pushes int64
	// BytesServed counts response body bytes.
	BytesServed int64
}

// gitDefaultIdentity is the author, committer and tagger of helper commits
// and tags that do not name one.
const gitDefaultIdentity = "Caravan Test <test@caravan.invalid>"

// gitEpoch is the date of the first helper commit or tag that does not
// give one; each later one is a minute later, so dates are distinct and
// ordered without depending on the wall clock.
var gitEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// NewGitServer starts a Git server for the test. When git or
// git-http-backend is missing, the test is skipped, or fails in CI.
func NewGitServer(tb testing.TB, opts GitServerOptions) *GitServer {
	tb.Helper()
	backend := gitRequire(tb)
	base := tb.TempDir()
	s := &GitServer{Root: filepath.Join(base, "repos"), base: base, opts: opts}
	for _, d := range []string{s.Root, filepath.Join(base, "home"), filepath.Join(base, "work")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatalf("create git server directory: %v", err)
		}
	}
	s.backend = &cgi.Handler{
		Path:   backend,
		Stderr: io.Discard, // its complaints reach the client, which reports them
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.Root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + filepath.Join(base, "home"),
		},
	}
	if opts.TLS {
		s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	} else {
		s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	}
	s.URL = s.srv.URL
	tb.Cleanup(func() {
		s.release()
		s.srv.Close()
	})
	return s
}

// gitRequire finds git and git-http-backend, or skips (fails in CI).
func gitRequire(tb testing.TB) string {
	tb.Helper()
	missing := func(what string, err error) string {
		msg := fmt.Sprintf("%s not found (%v): install git (apt-get install git)", what, err)
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
		return ""
	}
	if _, err := exec.LookPath("git"); err != nil {
		return missing("git", err)
	}
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return missing("git --exec-path", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return missing("git-http-backend", err)
	}
	return backend
}

// serve authenticates, counts and holds requests, then hands them to
// git-http-backend.
func (s *GitServer) serve(w http.ResponseWriter, r *http.Request) {
	s.counts.requests.Add(1)
	if s.opts.Username != "" {
		user, pass, ok := r.BasicAuth()
		if !ok || user != s.opts.Username || pass != s.opts.Password {
			s.counts.unauthorized.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="caravan-test-git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
	}
	s.wait(r)
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/git-upload-pack"):
			command := gitCommandOf(body, r.Header.Get("Content-Encoding"))
			if command == "ls-refs" {
				s.counts.lsRefs.Add(1)
			} else if command == "fetch" {
				s.counts.fetches.Add(1)
			}
		case strings.HasSuffix(r.URL.Path, "/git-receive-pack"):
			s.counts.pushes.Add(1)
		}
		// Hand git-http-backend a body of known length: Go's CGI handler
		// sets CONTENT_LENGTH only from it.
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.TransferEncoding = nil
	}
	s.backend.ServeHTTP(&gitCountingWriter{ResponseWriter: w, n: &s.counts.bytes}, r)
}

// gitCommandOf returns the protocol-v2 command of an upload-pack request
// body ("ls-refs", "fetch"), decompressing it if the client gzipped it.
func gitCommandOf(body []byte, encoding string) string {
	if encoding == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return ""
		}
		head := make([]byte, 64)
		n, _ := io.ReadFull(zr, head)
		body = head[:n]
	}
	// The first pkt-line: four hex digits of length (its own included),
	// then "command=<name>", with or without a newline.
	if len(body) < 4 {
		return ""
	}
	n, err := strconv.ParseUint(string(body[:4]), 16, 16)
	if err != nil || n < 4 || int(n) > len(body) {
		return ""
	}
	line := strings.TrimSuffix(string(body[4:n]), "\n")
	if command, ok := strings.CutPrefix(line, "command="); ok {
		return command
	}
	return ""
}

// gitCountingWriter counts the bytes of a response body.
type gitCountingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *gitCountingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// Flush lets git-http-backend's streamed responses through.
func (w *gitCountingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Stats returns what the server served so far.
func (s *GitServer) Stats() GitServerStats {
	return GitServerStats{
		Requests:     s.counts.requests.Load(),
		Unauthorized: s.counts.unauthorized.Load(),
		LsRefs:       s.counts.lsRefs.Load(),
		Fetches:      s.counts.fetches.Load(),
		Pushes:       s.counts.pushes.Load(),
		BytesServed:  s.counts.bytes.Load(),
	}
}

// Hold makes requests that pass authentication wait until the returned
// function is called (or the test ends), so that a test can line up
// concurrent clients behind one request. Held reports how many wait.
func (s *GitServer) Hold() (release func()) {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	if s.holdCh == nil {
		s.holdCh = make(chan struct{})
	}
	return s.release
}

// Held returns the number of requests waiting because of Hold.
func (s *GitServer) Held() int { return int(s.holding.Load()) }

func (s *GitServer) release() {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	if s.holdCh != nil {
		close(s.holdCh)
		s.holdCh = nil
	}
}

func (s *GitServer) wait(r *http.Request) {
	s.holdMu.Lock()
	ch := s.holdCh
	s.holdMu.Unlock()
	if ch == nil {
		return
	}
	s.holding.Add(1)
	defer s.holding.Add(-1)
	select {
	case <-ch:
	case <-r.Context().Done():
	}
}

// GitRepo is a bare repository served by a GitServer, with a work clone
// on disk for helpers to commit and tag in. Commits and tags reach the
// served repository when pushed.
type GitRepo struct {
	// Name is the repository's name, without ".git".
	Name string
	// URL is the repository's URL on the server.
	URL string
	// Dir is the bare repository on disk.
	Dir string

	server *GitServer
	work   string
	mu     sync.Mutex
	clock  time.Time
}

// CreateRepo creates an empty bare repository name.git whose HEAD names
// branch main.
func (s *GitServer) CreateRepo(tb testing.TB, name string) *GitRepo {
	tb.Helper()
	r := s.newRepo(name)
	s.git(tb, s.Root, "init", "--bare", "--quiet", "--initial-branch=main", r.Dir)
	s.git(tb, r.Dir, "config", "http.receivepack", "true")
	return r
}

// CreateRepoFrom creates name.git as a copy of the bare repository at
// source that shares its objects (git clone --shared), so that even a large
// fixture is ready at once and never modified.
func (s *GitServer) CreateRepoFrom(tb testing.TB, name, source string) *GitRepo {
	tb.Helper()
	r := s.newRepo(name)
	s.git(tb, s.Root, "clone", "--bare", "--shared", "--quiet", source, r.Dir)
	s.git(tb, r.Dir, "config", "http.receivepack", "true")
	return r
}

func (s *GitServer) newRepo(name string) *GitRepo {
	return &GitRepo{
		Name:   name,
		URL:    s.URL + "/" + name + ".git",
		Dir:    filepath.Join(s.Root, name+".git"),
		server: s,
		work:   filepath.Join(s.base, "work", name),
		clock:  gitEpoch,
	}
}

// git runs git in dir with an isolated configuration and returns its
// trimmed output; env adds variables.
func (s *GitServer) git(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	return s.gitEnv(tb, dir, nil, args...)
}

func (s *GitServer) gitEnv(tb testing.TB, dir string, env []string, args ...string) string {
	tb.Helper()
	cmd := exec.Command("git", append([]string{"-c", "init.defaultBranch=main", "-c", "advice.detachedHead=false"}, args...)...)
	cmd.Dir = dir
	name, email := splitIdentity(gitDefaultIdentity)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Join(s.base, "home"),
		"GIT_CONFIG_NOSYSTEM=1",
		"LC_ALL=C",
		"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + email,
		"GIT_COMMITTER_NAME=" + name, "GIT_COMMITTER_EMAIL=" + email,
	}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// splitIdentity splits "Name <email>".
func splitIdentity(id string) (name, email string) {
	name, email, _ = strings.Cut(id, "<")
	return strings.TrimSpace(name), strings.TrimSuffix(strings.TrimSpace(email), ">")
}

// Git runs git in the work clone and returns its trimmed output.
func (r *GitRepo) Git(tb testing.TB, args ...string) string {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ensureWork(tb)
	return r.server.git(tb, r.work, args...)
}

// ensureWork clones the served repository into the work clone once.
func (r *GitRepo) ensureWork(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(r.work, ".git")); err == nil {
		return
	}
	r.server.git(tb, filepath.Dir(r.work), "clone", "--quiet", "--shared", r.Dir, r.work)
}

// next returns the date to use for a helper commit or tag: when, or the
// repository's clock, which then moves a minute on.
func (r *GitRepo) next(when time.Time) time.Time {
	if !when.IsZero() {
		return when
	}
	t := r.clock
	r.clock = r.clock.Add(time.Minute)
	return t
}

// Commit describes a commit made by GitRepo.Commit.
type Commit struct {
	// Branch is the branch to commit to; the work clone's current branch
	// (main in a new repository) when empty. A branch that does not exist
	// yet starts from the current commit.
	Branch string
	// Message is the commit message; "commit" when empty.
	Message string
	// Files maps paths to the content to write there.
	Files map[string]string
	// Delete lists paths to remove.
	Delete []string
	// Author and Committer are "Name <email>"; a default identity when empty.
	Author    string
	Committer string
	// Date is the author and committer date; the repository's clock when zero.
	Date time.Time
}

// Commit commits c in the work clone (not yet pushed) and returns the
// commit's ID. A commit with no files is allowed.
func (r *GitRepo) Commit(tb testing.TB, c Commit) string {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ensureWork(tb)
	s := r.server
	if c.Branch != "" && s.git(tb, r.work, "branch", "--show-current") != c.Branch {
		if s.git(tb, r.work, "branch", "--list", c.Branch) != "" {
			s.git(tb, r.work, "checkout", "--quiet", c.Branch)
		} else if s.gitOK(r.work, "rev-parse", "--verify", "--quiet", "HEAD") {
			s.git(tb, r.work, "checkout", "--quiet", "-b", c.Branch)
		} else {
			s.git(tb, r.work, "symbolic-ref", "HEAD", "refs/heads/"+c.Branch)
		}
	}
	for p, content := range c.Files {
		full := filepath.Join(r.work, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatalf("write %s: %v", p, err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			tb.Fatalf("write %s: %v", p, err)
		}
	}
	for _, p := range c.Delete {
		s.git(tb, r.work, "rm", "--quiet", "-r", "--", p)
	}
	s.git(tb, r.work, "add", "--all")
	msg := c.Message
	if msg == "" {
		msg = "commit"
	}
	date := r.next(c.Date).Format(time.RFC3339)
	env := []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}
	if c.Author != "" {
		n, e := splitIdentity(c.Author)
		env = append(env, "GIT_AUTHOR_NAME="+n, "GIT_AUTHOR_EMAIL="+e)
	}
	if c.Committer != "" {
		n, e := splitIdentity(c.Committer)
		env = append(env, "GIT_COMMITTER_NAME="+n, "GIT_COMMITTER_EMAIL="+e)
	}
	s.gitEnv(tb, r.work, env, "commit", "--quiet", "--allow-empty", "-m", msg)
	return s.git(tb, r.work, "rev-parse", "HEAD")
}

func (s *GitServer) gitOK(dir string, args ...string) bool {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(s.base, "home"), "GIT_CONFIG_NOSYSTEM=1"}
	return cmd.Run() == nil
}

// Tag describes a tag made by GitRepo.Tag.
type Tag struct {
	// Name is the tag's name.
	Name string
	// Target is the commit (or any revision) to tag; HEAD when empty.
	Target string
	// Message makes an annotated tag with this message; empty makes a
	// lightweight one.
	Message string
	// Tagger is "Name <email>" for annotated tags; a default identity when
	// empty.
	Tagger string
	// Date is an annotated tag's date; the repository's clock when zero.
	// A lightweight tag has its commit's date.
	Date time.Time
	// Force replaces an existing tag of the same name.
	Force bool
}

// Tag creates t in the work clone (not yet pushed).
func (r *GitRepo) Tag(tb testing.TB, t Tag) {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ensureWork(tb)
	target := t.Target
	if target == "" {
		target = "HEAD"
	}
	args := []string{"tag"}
	if t.Force {
		args = append(args, "--force")
	}
	if t.Message == "" {
		r.server.git(tb, r.work, append(args, t.Name, target)...)
		return
	}
	env := []string{"GIT_COMMITTER_DATE=" + r.next(t.Date).Format(time.RFC3339)}
	if t.Tagger != "" {
		n, e := splitIdentity(t.Tagger)
		env = append(env, "GIT_COMMITTER_NAME="+n, "GIT_COMMITTER_EMAIL="+e)
	}
	r.server.gitEnv(tb, r.work, env, append(args, "--annotate", "--message", t.Message, t.Name, target)...)
}

// Push pushes every branch and tag of the work clone to the served
// repository, replacing what differs and deleting branches and tags the
// work clone no longer has. It goes through the filesystem, not HTTP, so
// it does not count in Stats.
func (r *GitRepo) Push(tb testing.TB) {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ensureWork(tb)
	r.server.git(tb, r.work, "push", "--quiet", "--prune", "origin",
		"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
}

// SetHead points the served repository's HEAD (its default branch) at
// branch.
func (r *GitRepo) SetHead(tb testing.TB, branch string) {
	tb.Helper()
	r.server.git(tb, r.Dir, "symbolic-ref", "HEAD", "refs/heads/"+branch)
}
