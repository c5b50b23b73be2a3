// Package benchkit holds the helpers the benchmark programs under hack/bench
// share: a `caravan server` started on a loopback port and its API, the
// server process's RSS and CPU time from /proc, a loopback git server
// (git http-backend) that counts what it serves, Debian's docker-registry
// with random images pushed to it, git commands, and the figures the
// programs print as a table of min / median / max.
package benchkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// KargoNamespaces is the path prefix of namespaced Kargo resources; a
// project's name follows it.
const KargoNamespaces = "/apis/kargo.akuity.io/v1alpha1/namespaces/"

// DefaultHeavy is where hack/bench/heavyrepo.sh leaves the bare heavy
// repository: $XDG_CACHE_HOME (or ~/.cache)/caravan-test/heavy.git.
func DefaultHeavy() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "caravan-test", "heavy.git")
}

// Server is a running `caravan server`.
type Server struct {
	Cmd   *exec.Cmd     // the server process
	URL   string        // base URL, http://127.0.0.1:<port>
	Token string        // the admin token from the data dir
	Ready time.Duration // from process start to its ready line
}

// ServerOptions tune StartServer.
type ServerOptions struct {
	Args []string  // extra arguments after `server --data-dir … --listen …`
	Log  io.Writer // if not nil, also receives the server's output
}

var urlRE = regexp.MustCompile(`https?://127\.0\.0\.1:\d+`)

// StartServer launches bin as `caravan server` on dataDir, listening on a
// free loopback port, and returns once its ready line is printed.
func StartServer(bin, dataDir string, opts ServerOptions) (*Server, error) {
	args := append([]string{"server", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, opts.Args...)
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if opts.Log != nil {
		r, w := io.Pipe()
		src := out
		go func() { _, _ = io.Copy(io.MultiWriter(w, opts.Log), src) }()
		out = r
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u := urlRE.FindString(sc.Text()); u != "" && strings.Contains(sc.Text(), "ready") {
			ready := time.Since(t0)
			go func() { _, _ = io.Copy(io.Discard, out) }()
			tok, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
			if err != nil {
				return nil, err
			}
			return &Server{Cmd: cmd, URL: u, Token: strings.TrimSpace(string(tok)), Ready: ready}, nil
		}
	}
	_ = cmd.Process.Kill()
	return nil, errors.New("server exited before its ready line")
}

// Stop interrupts the server and waits for it to exit.
func (s *Server) Stop() { _ = s.Cmd.Process.Signal(os.Interrupt); _ = s.Cmd.Wait() }

// Do sends an authenticated request (Content-Type ctype unless empty) and
// returns the response body; a status of 300 or more is an error.
func (s *Server) Do(method, path, ctype string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b, nil
}

// Apply applies YAML documents through POST /caravan/v1/apply and returns
// the names of what they made; a document the server refused is an error.
func (s *Server) Apply(docs string) ([]string, error) {
	out, err := s.Do("POST", "/caravan/v1/apply", "application/yaml", []byte(docs))
	if err != nil {
		return nil, err
	}
	var r struct {
		Results []struct {
			Kind, Name string
			Status     *struct{ Message string }
		}
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(r.Results))
	for _, x := range r.Results {
		if x.Status != nil {
			return nil, fmt.Errorf("apply %s/%s: %s", x.Kind, x.Name, x.Status.Message)
		}
		names = append(names, x.Name)
	}
	return names, nil
}

// Refresh asks a Warehouse to discover now, by setting its
// kargo.akuity.io/refresh annotation.
func (s *Server) Refresh(project, warehouse string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"kargo.akuity.io/refresh":%q}}}`, strconv.FormatInt(time.Now().UnixNano(), 10))
	_, err := s.Do("PATCH", KargoNamespaces+project+"/warehouses/"+warehouse, "application/merge-patch+json", []byte(patch))
	return err
}

// RSSKiB is the server's resident set size (VmRSS) in KiB, or -1.
func (s *Server) RSSKiB() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Cmd.Process.Pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return n
		}
	}
	return -1
}

// RSSMiB is the server's resident set size in MiB, or -1.
func (s *Server) RSSMiB() float64 {
	n := s.RSSKiB()
	if n < 0 {
		return -1
	}
	return float64(n) / 1024
}

// CPUSeconds is the server's CPU time, utime + stime from /proc/<pid>/stat.
func (s *Server) CPUSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.Cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis start at field 3 (state).
	rest := string(b[bytes.LastIndexByte(b, ')')+2:])
	f := strings.Fields(rest)
	utime, err1 := strconv.ParseFloat(f[11], 64) // field 14
	stime, err2 := strconv.ParseFloat(f[12], 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const clockTicks = 100 // sysconf(_SC_CLK_TCK) on Linux
	return (utime + stime) / clockTicks, nil
}

// Build builds ./cmd/caravan (run from the module root) into bin.
func Build(bin string) error {
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/caravan").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v: %s", err, out)
	}
	return nil
}
