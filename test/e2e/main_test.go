// Package e2e holds whole-system tests: they build the caravan binary once,
// run `caravan server` as a child process on a temporary data directory and
// drive it with the CLI, checking output, exit codes and persistence.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the caravan binary TestMain builds.
var binary string

// e2eVersion is stamped into the binary to check `caravan version`.
const e2eVersion = "v0.0.0-e2e"

// Deadlines: generous, since CI machines are slow; tests poll, never sleep.
const (
	startDeadline = 30 * time.Second
	stopDeadline  = 30 * time.Second
	cliDeadline   = 60 * time.Second
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "caravan-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: make temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "caravan")
	cmd := exec.Command("go", "build", "-o", binary,
		"-ldflags", "-X github.com/caravan-dev/caravan/internal/cli.version="+e2eVersion,
		"github.com/caravan-dev/caravan/cmd/caravan")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build caravan:", err)
		return 1
	}
	return m.Run()
}

// env is an isolated environment for CLI and server processes: HOME and
// XDG_DATA_HOME point into a temp dir, and no CARAVAN_* variable leaks in.
type env struct {
	home    string
	xdgData string
	vars    []string // extra KEY=VALUE entries
}

func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{home: filepath.Join(root, "home"), xdgData: filepath.Join(root, "xdg-data")}
	for _, d := range []string{e.home, e.xdgData} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// defaultDataDir is where `caravan server` keeps data without --data-dir.
func (e *env) defaultDataDir() string { return filepath.Join(e.xdgData, "caravan") }

func (e *env) environ(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "CARAVAN_"), k == "HOME", k == "XDG_DATA_HOME":
			continue
		}
		out = append(out, kv)
	}
	out = append(out, "HOME="+e.home, "XDG_DATA_HOME="+e.xdgData)
	out = append(out, e.vars...)
	return append(out, extra...)
}

// result is the outcome of one CLI run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// caravan runs the CLI with args and stdin (may be nil).
func (e *env) caravan(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = e.environ()
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	default:
		t.Fatalf("caravan %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustCaravan runs the CLI and fails the test unless it exits 0.
func (e *env) mustCaravan(t *testing.T, args ...string) result {
	t.Helper()
	r := e.caravan(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("caravan %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// server is a running `caravan server` child process.
type server struct {
	cmd     *exec.Cmd
	url     string
	dataDir string
	logs    *syncBuffer
	exited  chan struct{}
	waitErr error
}

var readyURL = regexp.MustCompile(`msg="caravan server ready".*\burl=(\S+)`)

// startServer starts `caravan server` with args and waits for its ready line.
func (e *env) startServer(t *testing.T, args ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"server", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = e.environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, logs: &syncBuffer{}, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start caravan server: %v", err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			s.logs.WriteString(line + "\n")
			if m := readyURL.FindStringSubmatch(line); m != nil && !sent {
				urlc <- m[1]
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() { s.kill() })
	select {
	case s.url = <-urlc:
	case <-s.exited:
		t.Fatalf("caravan server exited before it was ready: %v\n%s", s.waitErr, s.logs)
	case <-time.After(startDeadline):
		t.Fatalf("caravan server not ready within %s:\n%s", startDeadline, s.logs)
	}
	return s
}

// stop sends sig and waits for the process to exit, returning its exit code.
func (s *server) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal caravan server: %v", err)
	}
	select {
	case <-s.exited:
	case <-time.After(stopDeadline):
		t.Fatalf("caravan server did not stop within %s of %v:\n%s", stopDeadline, sig, s.logs)
	}
	var exitErr *exec.ExitError
	switch {
	case s.waitErr == nil:
		return 0
	case errors.As(s.waitErr, &exitErr):
		return exitErr.ExitCode()
	default:
		t.Fatalf("wait for caravan server: %v", s.waitErr)
		return -1
	}
}

func (s *server) kill() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.exited
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.WriteString(s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// repoFile returns the path of a file in the repository.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
