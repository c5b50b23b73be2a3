package benchkit

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
)

// GitCounters count what the git server of StartGit did.
type GitCounters struct {
	LsRefs     atomic.Int64 // ref listings: protocol v2 ls-refs and v0/v1 advertisements
	Fetches    atomic.Int64 // protocol v2 fetch commands
	Bytes      atomic.Int64 // bytes sent, all requests
	FetchBytes atomic.Int64 // bytes sent to fetches (upload-pack, ref advertisements included)
	Pushes     atomic.Int64 // pushes received (receive-pack POSTs)
}

type countingWriter struct {
	http.ResponseWriter
	n []*atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	for _, n := range w.n {
		n.Add(int64(len(p)))
	}
	return w.ResponseWriter.Write(p)
}

func (w countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// StartGit serves the repositories under root over HTTP with
// git http-backend on a loopback port, counting into c. It returns the
// base URL (a repository root/x.git is at <URL>/x.git) and a stop function.
func StartGit(root string, c *GitCounters) (string, func(), error) {
	backend := &cgi.Handler{Path: "/usr/lib/git-core/git-http-backend", Root: "/",
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			body, _ := io.ReadAll(r.Body)
			plain := body
			if r.Header.Get("Content-Encoding") == "gzip" {
				if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
					plain, _ = io.ReadAll(zr)
				}
			}
			switch {
			case bytes.Contains(plain, []byte("command=ls-refs")):
				c.LsRefs.Add(1)
			case bytes.Contains(plain, []byte("command=fetch")):
				c.Fetches.Add(1)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/info/refs") && r.Header.Get("Git-Protocol") == "" {
			c.LsRefs.Add(1) // protocol v0/v1 advertisement
		}
		n := []*atomic.Int64{&c.Bytes}
		switch {
		case strings.HasSuffix(r.URL.Path, "/git-upload-pack"), r.URL.Query().Get("service") == "git-upload-pack":
			n = append(n, &c.FetchBytes)
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack"):
			c.Pushes.Add(1)
		}
		backend.ServeHTTP(countingWriter{w, n}, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// Git runs git in dir as committer "bench", with env added to its
// environment, and returns its trimmed output.
func Git(env []string, dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
