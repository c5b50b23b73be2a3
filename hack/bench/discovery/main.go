// Command discovery measures Warehouse discovery end to end, through a real
// `caravan server`, a loopback git server (git http-backend) and Debian's
// docker-registry:
//
//   - shared-repo discovery: N Warehouses (10, then 50) subscribed to the
//     heavy repository's main branch; push one commit, refresh all N, time
//     until all N have Freight for it; git requests and bytes per round.
//   - refresh → new Freight on a small image repository: push a new tag,
//     `kargo.akuity.io/refresh` the Warehouse, time until the Freight is listed.
//
// It prints a table of min / median / max over -runs rounds.
//
//	bash hack/bench/heavyrepo.sh && go run ./hack/bench/discovery [-runs 5]
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	runs := flag.Int("runs", 5, "rounds per figure")
	counts := flag.String("warehouses", "10,50", "Warehouse counts for shared-repo discovery")
	heavy := flag.String("heavy", defaultHeavy(), "bare heavy repository built by hack/bench/heavyrepo.sh")
	flag.Parse()
	if err := run(*runs, *counts, *heavy); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func defaultHeavy() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "caravan-test", "heavy.git")
}

// ---- caravan server ----

type server struct {
	cmd   *exec.Cmd
	url   string
	token string
}

var urlRE = regexp.MustCompile(`https?://127\.0\.0\.1:\d+`)

func startServer(bin, dataDir string) (*server, error) {
	cmd := exec.Command(bin, "server", "--data-dir", dataDir, "--listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if u := urlRE.FindString(sc.Text()); u != "" && strings.Contains(sc.Text(), "ready") {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			tok, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
			if err != nil {
				return nil, err
			}
			return &server{cmd: cmd, url: u, token: strings.TrimSpace(string(tok))}, nil
		}
	}
	_ = cmd.Process.Kill()
	return nil, errors.New("server exited before its ready line")
}

func (s *server) stop() { _ = s.cmd.Process.Signal(os.Interrupt); _ = s.cmd.Wait() }

func (s *server) do(method, path, ctype string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
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

func (s *server) apply(docs string) error {
	out, err := s.do("POST", "/caravan/v1/apply", "application/yaml", []byte(docs))
	if err != nil {
		return err
	}
	var r struct {
		Results []struct {
			Kind, Name string
			Status     *struct{ Message string }
		}
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return err
	}
	for _, x := range r.Results {
		if x.Status != nil {
			return fmt.Errorf("apply %s/%s: %s", x.Kind, x.Name, x.Status.Message)
		}
	}
	return nil
}

func (s *server) refresh(project, warehouse string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"kargo.akuity.io/refresh":%q}}}`, strconv.FormatInt(time.Now().UnixNano(), 10))
	_, err := s.do("PATCH", "/apis/kargo.akuity.io/v1alpha1/namespaces/"+project+"/warehouses/"+warehouse,
		"application/merge-patch+json", []byte(patch))
	return err
}

type freight struct {
	Origin  struct{ Name string }  `json:"origin"`
	Commits []struct{ ID string }  `json:"commits"`
	Images  []struct{ Tag string } `json:"images"`
}

func (s *server) freight(project string) ([]freight, error) {
	out, err := s.do("GET", "/apis/kargo.akuity.io/v1alpha1/namespaces/"+project+"/freights", "", nil)
	if err != nil {
		return nil, err
	}
	var l struct{ Items []freight }
	return l.Items, json.Unmarshal(out, &l)
}

// waitFor polls the project's Freight until done says so, or a minute passes.
func (s *server) waitFor(project string, done func([]freight) bool) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		fs, err := s.freight(project)
		if err != nil {
			return err
		}
		if done(fs) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("timed out waiting for Freight")
}

func (s *server) rssMiB() float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(l)[1])
			return float64(n) / 1024
		}
	}
	return -1
}

// ---- git server ----

type gitCounters struct{ lsRefs, fetches, bytesOut atomic.Int64 }

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return w.ResponseWriter.Write(p)
}

func (w countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func startGit(root string, c *gitCounters) (string, func(), error) {
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
				c.lsRefs.Add(1)
			case bytes.Contains(plain, []byte("command=fetch")):
				c.fetches.Add(1)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/info/refs") && r.Header.Get("Git-Protocol") == "" {
			c.lsRefs.Add(1) // protocol v0/v1 advertisement
		}
		backend.ServeHTTP(countingWriter{w, &c.bytesOut}, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// ---- registry ----

func startRegistry(dir string) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf("version: 0.1\nstorage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}\nhttp: {addr: %s}\nlog: {level: error}\n",
		filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("docker-registry", "serve", cfg)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start docker-registry (apt-get install docker-registry): %w", err)
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for i := 0; i < 500; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr, stop, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("docker-registry did not become ready")
}

func pushTag(repo, tag string) error {
	img, err := random.Image(512, 1)
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(repo + ":" + tag)
	if err != nil {
		return err
	}
	return remote.Write(ref, img)
}

// ---- figures ----

type figure struct {
	name, unit string
	samples    []float64
}

func (f *figure) add(v float64) { f.samples = append(f.samples, v) }

func (f *figure) row() string {
	s := append([]float64(nil), f.samples...)
	sort.Float64s(s)
	if len(s) == 0 {
		return "| " + f.name + " | n/a |"
	}
	format := "%.2f"
	if f.unit != "s" {
		format = "%.0f"
	}
	return fmt.Sprintf("| %s | "+format+" / "+format+" / "+format+" %s |", f.name, s[0], s[len(s)/2], s[len(s)-1], f.unit)
}

func run(runs int, counts, heavy string) error {
	if _, err := os.Stat(heavy); err != nil {
		return fmt.Errorf("heavy repository %s missing: run bash hack/bench/heavyrepo.sh first", heavy)
	}
	tmp, err := os.MkdirTemp("", "caravan-bench-discovery-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "caravan")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/caravan").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v: %s", err, out)
	}

	// Git: a served copy of the heavy repository and a work clone to push from.
	root := filepath.Join(tmp, "git")
	if _, err := git(tmp, "clone", "-q", "--bare", heavy, filepath.Join(root, "heavy.git")); err != nil {
		return err
	}
	work := filepath.Join(tmp, "work")
	if _, err := git(tmp, "clone", "-q", "--shared", filepath.Join(root, "heavy.git"), work); err != nil {
		return err
	}
	var gc gitCounters
	gitURL, stopGit, err := startGit(root, &gc)
	if err != nil {
		return err
	}
	defer stopGit()

	regAddr, stopReg, err := startRegistry(filepath.Join(tmp, "registry"))
	if err != nil {
		return err
	}
	defer stopReg()

	s, err := startServer(bin, filepath.Join(tmp, "data"))
	if err != nil {
		return err
	}
	defer s.stop()

	var figures []*figure
	total := 0
	for _, c := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil {
			return err
		}
		project := fmt.Sprintf("shared-%d", n)
		var docs strings.Builder
		fmt.Fprintf(&docs, "apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata: {name: %s}\n", project)
		for i := 0; i < n; i++ {
			fmt.Fprintf(&docs, "---\napiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: w%02d, namespace: %s}\n"+
				"spec:\n  interval: 1h\n  subscriptions:\n  - git: {repoURL: %s/heavy.git, branch: main, discoveryLimit: 5}\n", i, project, gitURL)
		}
		if err := s.apply(docs.String()); err != nil {
			return err
		}
		total += n
		head, err := git(work, "rev-parse", "HEAD")
		if err != nil {
			return err
		}
		if err := s.waitFor(project, allHave(n, head)); err != nil {
			return fmt.Errorf("initial Freight for %d Warehouses: %w", n, err)
		}
		t := &figure{name: fmt.Sprintf("shared-repo discovery, %d Warehouses: push → all have Freight", n), unit: "s"}
		fetches := &figure{name: fmt.Sprintf("  git fetches per round (%d Warehouses)", n), unit: ""}
		lsrefs := &figure{name: fmt.Sprintf("  git ls-refs per round (%d Warehouses)", n), unit: ""}
		kb := &figure{name: fmt.Sprintf("  bytes served per round (%d Warehouses)", n), unit: "B"}
		for r := 0; r < runs; r++ {
			if err := os.WriteFile(filepath.Join(work, "bench.txt"), []byte(fmt.Sprintf("%d-%d\n", n, r)), 0o644); err != nil {
				return err
			}
			if _, err := git(work, "commit", "-qam", fmt.Sprintf("bench %d %d", n, r)); err != nil {
				if _, err := git(work, "add", "bench.txt"); err != nil {
					return err
				}
				if _, err := git(work, "commit", "-qm", fmt.Sprintf("bench %d %d", n, r)); err != nil {
					return err
				}
			}
			if _, err := git(work, "push", "-q", "origin", "HEAD:main"); err != nil {
				return err
			}
			head, err := git(work, "rev-parse", "HEAD")
			if err != nil {
				return err
			}
			f0, l0, b0 := gc.fetches.Load(), gc.lsRefs.Load(), gc.bytesOut.Load()
			start := time.Now()
			for i := 0; i < n; i++ {
				if err := s.refresh(project, fmt.Sprintf("w%02d", i)); err != nil {
					return err
				}
			}
			if err := s.waitFor(project, allHave(n, head)); err != nil {
				return fmt.Errorf("round %d, %d Warehouses: %w", r, n, err)
			}
			t.add(time.Since(start).Seconds())
			fetches.add(float64(gc.fetches.Load() - f0))
			lsrefs.add(float64(gc.lsRefs.Load() - l0))
			kb.add(float64(gc.bytesOut.Load() - b0))
		}
		figures = append(figures, t, fetches, lsrefs, kb)
	}

	// Small image repository: refresh → new Freight.
	repo := regAddr + "/bench/app"
	for i := 0; i < 5; i++ {
		if err := pushTag(repo, fmt.Sprintf("1.0.%d", i)); err != nil {
			return err
		}
	}
	if err := s.apply(fmt.Sprintf("apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata: {name: small}\n---\n"+
		"apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: app, namespace: small}\n"+
		"spec:\n  interval: 1h\n  subscriptions:\n  - image: {repoURL: %s}\n", repo)); err != nil {
		return err
	}
	if err := s.waitFor("small", hasTag("1.0.4")); err != nil {
		return err
	}
	img := &figure{name: "small image repo: refresh → new Freight listed", unit: "s"}
	for r := 0; r < runs; r++ {
		tag := fmt.Sprintf("1.1.%d", r)
		if err := pushTag(repo, tag); err != nil {
			return err
		}
		start := time.Now()
		if err := s.refresh("small", "app"); err != nil {
			return err
		}
		if err := s.waitFor("small", hasTag(tag)); err != nil {
			return err
		}
		img.add(time.Since(start).Seconds())
	}
	figures = append(figures, img)
	mem := &figure{name: fmt.Sprintf("server RSS after the runs (%d Warehouses)", total+1), unit: "MiB"}
	mem.add(s.rssMiB())
	figures = append(figures, mem)

	fmt.Println("| figure | min / median / max |")
	fmt.Println("|---|---|")
	for _, f := range figures {
		fmt.Println(f.row())
	}
	return nil
}

func allHave(n int, commit string) func([]freight) bool {
	return func(fs []freight) bool {
		got := map[string]bool{}
		for _, f := range fs {
			for _, c := range f.Commits {
				if c.ID == commit {
					got[f.Origin.Name] = true
				}
			}
		}
		return len(got) == n
	}
}

func hasTag(tag string) func([]freight) bool {
	return func(fs []freight) bool {
		for _, f := range fs {
			for _, i := range f.Images {
				if i.Tag == tag {
					return true
				}
			}
		}
		return false
	}
}
