// Command promotion measures promotions end to end, through a real
// `caravan server`, a loopback git server (git http-backend) and Debian's
// docker-registry, with the rendered-manifests promotion of
// ../shared/BENCHMARKS.md (git-clone of the source commit into ./src and of
// the output branch with create: true into ./out, git-clear,
// kustomize-set-image, kustomize-build, git-commit, git-push):
//
//   - on a small repository and on the heavy one (hack/bench/heavyrepo.sh):
//     the first promotion (cold mirror: the server's Git mirrors wiped
//     before it) and later ones (warm mirror, each of a new commit and image
//     tag): wall time from the Promotion's creation to Succeeded, and the
//     bytes the git server sent during it;
//   - N Promotions (5, then 10) of different Stages pushing into their own
//     folder of one branch, created at once: time until all Succeeded, and
//     that every folder landed.
//
// It prints a table of min / median / max over -runs rounds.
//
//	bash hack/bench/heavyrepo.sh && go run ./hack/bench/promotion [-runs 5]
//
// BENCH_DEBUG=1 also copies the server's log to stderr.
package main

import (
	"bufio"
	"bytes"
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
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	runs := flag.Int("runs", 5, "rounds per figure")
	counts := flag.String("concurrent", "5,10", "numbers of Promotions pushing to one branch at once")
	heavy := flag.String("heavy", defaultHeavy(), "bare heavy repository built by hack/bench/heavyrepo.sh")
	workers := flag.Int("promotion-workers", 0, "caravan server --promotion-workers (0: the server's default)")
	flag.Parse()
	b := &bench{runs: *runs, workers: *workers}
	if err := b.run(*counts, *heavy); err != nil {
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

// maxStages is how many overlays (env/s1 …) each repository has.
const maxStages = 10

// ---- caravan server ----

type server struct {
	cmd   *exec.Cmd
	url   string
	token string
}

var urlRE = regexp.MustCompile(`https?://127\.0\.0\.1:\d+`)

func startServer(bin, dataDir string, workers int) (*server, error) {
	args := []string{"server", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}
	if workers > 0 {
		args = append(args, "--promotion-workers", strconv.Itoa(workers))
	}
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// BENCH_DEBUG=1 echoes the server's log on stderr.
	if os.Getenv("BENCH_DEBUG") != "" {
		r, w := io.Pipe()
		src := out
		go func() { _, _ = io.Copy(io.MultiWriter(w, os.Stderr), src) }()
		out = r
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

const kargo = "/apis/kargo.akuity.io/v1alpha1/namespaces/"

func (s *server) refresh(project, warehouse string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"kargo.akuity.io/refresh":%q}}}`, strconv.FormatInt(time.Now().UnixNano(), 10))
	_, err := s.do("PATCH", kargo+project+"/warehouses/"+warehouse, "application/merge-patch+json", []byte(patch))
	return err
}

// freightFor waits until the project has Freight of commit and tag, and
// returns its name.
func (s *server) freightFor(project, commit, tag string) (string, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := s.do("GET", kargo+project+"/freights", "", nil)
		if err != nil {
			return "", err
		}
		var l struct {
			Items []struct {
				Metadata struct{ Name string }
				Commits  []struct{ ID string }
				Images   []struct{ Tag string }
			}
		}
		if err := json.Unmarshal(out, &l); err != nil {
			return "", err
		}
		for _, f := range l.Items {
			if len(f.Commits) == 1 && f.Commits[0].ID == commit && len(f.Images) == 1 && f.Images[0].Tag == tag {
				return f.Metadata.Name, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return "", fmt.Errorf("no Freight of commit %s and tag %s in project %s", commit, tag, project)
}

// promote creates a Promotion and returns its name.
func (s *server) promote(project, stage, freight string) (string, error) {
	body := fmt.Sprintf(`{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Promotion","metadata":{"namespace":%q},"spec":{"stage":%q,"freight":%q}}`,
		project, stage, freight)
	out, err := s.do("POST", kargo+project+"/promotions", "application/json", []byte(body))
	if err != nil {
		return "", err
	}
	var p struct{ Metadata struct{ Name string } }
	return p.Metadata.Name, json.Unmarshal(out, &p)
}

// waitSucceeded polls a Promotion until it ends; an end other than
// Succeeded is an error carrying its message.
func (s *server) waitSucceeded(project, promo string) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := s.do("GET", kargo+project+"/promotions/"+promo, "", nil)
		if err != nil {
			return err
		}
		var p struct {
			Status struct{ Phase, Message string }
		}
		if err := json.Unmarshal(out, &p); err != nil {
			return err
		}
		switch p.Status.Phase {
		case "Succeeded":
			return nil
		case "Failed", "Errored", "Aborted":
			return fmt.Errorf("promotion %s %s: %s", promo, p.Status.Phase, p.Status.Message)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("promotion %s did not end", promo)
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

// gitCounters count what the git server did: bytes sent to fetches
// (upload-pack, ref advertisements included) and pushes (receive-pack).
type gitCounters struct{ fetchBytes, pushes atomic.Int64 }

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	if w.n != nil {
		w.n.Add(int64(len(p)))
	}
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
		var n *atomic.Int64
		switch {
		case strings.HasSuffix(r.URL.Path, "/git-upload-pack"), r.URL.Query().Get("service") == "git-upload-pack":
			n = &c.fetchBytes
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack"):
			c.pushes.Add(1)
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

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com", "GIT_CONFIG_NOSYSTEM=1")
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
	format := "%.3f"
	switch f.unit {
	case "s":
	case "kB", "MiB":
		format = "%.1f"
	default:
		format = "%.0f"
	}
	return fmt.Sprintf("| %s | "+format+" / "+format+" / "+format+" %s |", f.name, s[0], s[len(s)/2], s[len(s)-1], f.unit)
}

// ---- the workloads ----

// bench holds what every workload shares.
type bench struct {
	runs, workers int
	tmp, bin      string
	dataDir       string
	gitURL        string
	image         string // the image repository every Warehouse subscribes to
	tag           int    // the last image tag pushed: 1.0.<tag>
	gc            gitCounters
	s             *server
	figures       []*figure
}

// repo is one source repository and the project that promotes from it.
type repo struct {
	name string // the served repository's name and the project's
	work string // a clone to push commits from
}

func (b *bench) run(counts, heavy string) error {
	if _, err := os.Stat(heavy); err != nil {
		return fmt.Errorf("heavy repository %s missing: run bash hack/bench/heavyrepo.sh first", heavy)
	}
	var err error
	if b.tmp, err = os.MkdirTemp("", "caravan-bench-promotion-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)
	b.bin = filepath.Join(b.tmp, "caravan")
	if out, err := exec.Command("go", "build", "-o", b.bin, "./cmd/caravan").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v: %s", err, out)
	}
	root := filepath.Join(b.tmp, "git")
	small, err := b.smallRepo(root)
	if err != nil {
		return err
	}
	big, err := b.heavyRepo(root, heavy)
	if err != nil {
		return err
	}
	var stopGit func()
	if b.gitURL, stopGit, err = startGit(root, &b.gc); err != nil {
		return err
	}
	defer stopGit()
	regAddr, stopReg, err := startRegistry(filepath.Join(b.tmp, "registry"))
	if err != nil {
		return err
	}
	defer stopReg()
	b.image = regAddr + "/demo/app"
	if err := b.newTag(); err != nil {
		return err
	}
	b.dataDir = filepath.Join(b.tmp, "data")
	if b.s, err = startServer(b.bin, b.dataDir, b.workers); err != nil {
		return err
	}
	defer func() { b.s.stop() }()

	for _, r := range []*repo{small, big} {
		if err := b.setUp(r); err != nil {
			return err
		}
	}
	for _, r := range []*repo{small, big} {
		if err := b.cold(r); err != nil {
			return err
		}
		if err := b.warm(r); err != nil {
			return err
		}
	}
	for _, c := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 || n > maxStages {
			return fmt.Errorf("-concurrent %q: give numbers from 1 to %d", c, maxStages)
		}
		if err := b.concurrent(big, n); err != nil {
			return err
		}
	}
	mem := &figure{name: "server RSS after the runs", unit: "MiB"}
	mem.add(b.s.rssMiB())
	b.figures = append(b.figures, mem)

	fmt.Println("| figure | min / median / max |")
	fmt.Println("|---|---|")
	for _, f := range b.figures {
		fmt.Println(f.row())
	}
	return nil
}

// kustomize app files: a base Deployment and an overlay per stage, the
// heavy repository's layout.
func appFiles() map[string]string {
	files := map[string]string{
		"base/kustomization.yaml": "resources:\n- deployment.yaml\n",
		"base/deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  replicas: 1\n" +
			"  selector:\n    matchLabels: {app: app}\n  template:\n    metadata:\n      labels: {app: app}\n" +
			"    spec:\n      containers:\n      - name: app\n        image: registry.example/app:1.0.0\n",
	}
	for i := 1; i <= maxStages; i++ {
		files[fmt.Sprintf("env/s%d/kustomization.yaml", i)] = fmt.Sprintf("resources:\n- ../../base\nnamePrefix: s%d-\n", i)
	}
	return files
}

func writeFiles(dir string, files map[string]string) error {
	for p, content := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// smallRepo makes the small repository: the app in one commit.
func (b *bench) smallRepo(root string) (*repo, error) {
	bare := filepath.Join(root, "small.git")
	if _, err := git(b.tmp, "init", "-q", "--bare", "--initial-branch=main", bare); err != nil {
		return nil, err
	}
	if _, err := git(bare, "config", "http.receivepack", "true"); err != nil {
		return nil, err
	}
	work := filepath.Join(b.tmp, "work-small")
	if _, err := git(b.tmp, "clone", "-q", bare, work); err != nil {
		return nil, err
	}
	if err := writeFiles(work, appFiles()); err != nil {
		return nil, err
	}
	for _, args := range [][]string{{"checkout", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-qm", "The app"}, {"push", "-q", "origin", "main"}} {
		if _, err := git(work, args...); err != nil {
			return nil, err
		}
	}
	return &repo{name: "small", work: work}, nil
}

// heavyRepo serves a copy of the heavy repository, with overlays for every
// stage added.
func (b *bench) heavyRepo(root, heavy string) (*repo, error) {
	bare := filepath.Join(root, "heavy.git")
	if _, err := git(b.tmp, "clone", "-q", "--bare", heavy, bare); err != nil {
		return nil, err
	}
	if _, err := git(bare, "config", "http.receivepack", "true"); err != nil {
		return nil, err
	}
	work := filepath.Join(b.tmp, "work-heavy")
	if _, err := git(b.tmp, "clone", "-q", "--shared", bare, work); err != nil {
		return nil, err
	}
	if err := writeFiles(work, appFiles()); err != nil {
		return nil, err
	}
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-qm", "Overlays for every stage"}, {"push", "-q", "origin", "HEAD:main"}} {
		if _, err := git(work, args...); err != nil {
			return nil, err
		}
	}
	return &repo{name: "heavy", work: work}, nil
}

// newTag pushes the next image tag.
func (b *bench) newTag() error {
	b.tag++
	return pushTag(b.image, b.tagName())
}

func (b *bench) tagName() string { return fmt.Sprintf("1.0.%d", b.tag) }

// stageDoc is a Stage running the rendered-manifests promotion from the
// overlay env/<env> into dir of branch.
func stageDoc(project, name, repoURL, image, env, branch, out string) string {
	return fmt.Sprintf(`---
apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: app}
    sources: {direct: true}
  promotionTemplate:
    spec:
      vars:
      - {name: repo, value: "%[3]s"}
      - {name: image, value: "%[4]s"}
      - {name: env, value: "%[5]s"}
      - {name: branch, value: "%[6]s"}
      - {name: out, value: "%[7]s"}
      steps:
      - uses: git-clone
        config:
          repoURL: "${{ vars.repo }}"
          checkout:
          - {commit: "${{ commitFrom(vars.repo).ID }}", path: ./src}
          - {branch: "${{ vars.branch }}", create: true, path: ./out}
      - uses: git-clear
        config: {path: "${{ vars.out }}"}
      - uses: kustomize-set-image
        as: update-image
        config:
          path: "./src/env/${{ vars.env }}"
          images:
          - image: "${{ vars.image }}"
            name: registry.example/app
            newName: "${{ vars.image }}"
            tag: "${{ imageFrom(vars.image).Tag }}"
      - uses: kustomize-build
        config: {path: "./src/env/${{ vars.env }}", outPath: "${{ vars.out }}/manifests.yaml"}
      - uses: git-commit
        config: {path: ./out, message: "${{ ctx.stage }}: ${{ outputs['update-image'].commitMessage }}"}
      - uses: git-push
        config: {path: ./out}
`, project, name, repoURL, image, env, branch, out)
}

// setUp applies the project of r: its Warehouse, a "solo" Stage (branch
// stage/solo), Stages c1… (folders of branch "rendered") and cold-0…
// (branches stage/cold-N), and waits for the first Freight.
func (b *bench) setUp(r *repo) error {
	repoURL := b.gitURL + "/" + r.name + ".git"
	var docs strings.Builder
	fmt.Fprintf(&docs, `apiVersion: kargo.akuity.io/v1alpha1
kind: Project
metadata: {name: %[1]s}
---
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: app, namespace: %[1]s}
spec:
  interval: 1h
  subscriptions:
  - git: {repoURL: "%[2]s", branch: main, discoveryLimit: 5}
  - image: {repoURL: "%[3]s", discoveryLimit: 5}
`, r.name, repoURL, b.image)
	docs.WriteString(stageDoc(r.name, "solo", repoURL, b.image, "s1", "stage/solo", "./out"))
	for i := 1; i <= maxStages; i++ {
		env := fmt.Sprintf("s%d", i)
		docs.WriteString(stageDoc(r.name, fmt.Sprintf("c%d", i), repoURL, b.image, env, "rendered", "./out/"+env))
	}
	for i := 0; i < b.runs; i++ {
		docs.WriteString(stageDoc(r.name, fmt.Sprintf("cold-%d", i), repoURL, b.image, "s1", fmt.Sprintf("stage/cold-%d", i), "./out"))
	}
	if err := b.s.apply(docs.String()); err != nil {
		return err
	}
	head, err := git(r.work, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	_, err = b.s.freightFor(r.name, head, b.tagName())
	return err
}

// next pushes a new commit to r and a new image tag, and returns the
// Freight the Warehouse makes of them.
func (b *bench) next(r *repo) (string, error) {
	if err := b.newTag(); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(r.work, "bench.txt"), []byte(b.tagName()+"\n"), 0o644); err != nil {
		return "", err
	}
	for _, args := range [][]string{{"add", "bench.txt"}, {"commit", "-qm", "bench " + b.tagName()}, {"push", "-q", "origin", "HEAD:main"}} {
		if _, err := git(r.work, args...); err != nil {
			return "", err
		}
	}
	head, err := git(r.work, "rev-parse", "HEAD")
	if err != nil {
		return "", err
	}
	if err := b.s.refresh(r.name, "app"); err != nil {
		return "", err
	}
	return b.s.freightFor(r.name, head, b.tagName())
}

// timed promotes freight into stage and returns the wall time to Succeeded
// and the bytes the git server sent to fetches meanwhile.
func (b *bench) timed(project, stage, freight string) (float64, float64, error) {
	b0 := b.gc.fetchBytes.Load()
	start := time.Now()
	promo, err := b.s.promote(project, stage, freight)
	if err != nil {
		return 0, 0, err
	}
	if err := b.s.waitSucceeded(project, promo); err != nil {
		return 0, 0, err
	}
	return time.Since(start).Seconds(), float64(b.gc.fetchBytes.Load()-b0) / 1000, nil
}

// cold measures first promotions: before each, the server stops, its Git
// mirrors are wiped and it starts again (its Warehouses do not rediscover
// within their interval), so the promotion fetches the whole repository.
func (b *bench) cold(r *repo) error {
	t := &figure{name: r.name + " repo, first promotion (cold mirror): create → Succeeded", unit: "s"}
	kb := &figure{name: "  fetched from the git server", unit: "kB"}
	head, err := git(r.work, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	// The Freight of the newest commit and tag (another repository's
	// rounds may have pushed tags since this one's discovery).
	if err := b.s.refresh(r.name, "app"); err != nil {
		return err
	}
	freight, err := b.s.freightFor(r.name, head, b.tagName())
	if err != nil {
		return err
	}
	for i := 0; i < b.runs; i++ {
		b.s.stop()
		if err := os.RemoveAll(filepath.Join(b.dataDir, "git")); err != nil {
			return err
		}
		if b.s, err = startServer(b.bin, b.dataDir, b.workers); err != nil {
			return err
		}
		secs, fetched, err := b.timed(r.name, fmt.Sprintf("cold-%d", i), freight)
		if err != nil {
			return fmt.Errorf("cold promotion %d of %s: %w", i, r.name, err)
		}
		t.add(secs)
		kb.add(fetched)
	}
	b.figures = append(b.figures, t, kb)
	return nil
}

// warm measures later promotions, each of a new commit and tag, into the
// same Stage; the Warehouse's discovery has fetched the commit already.
func (b *bench) warm(r *repo) error {
	t := &figure{name: r.name + " repo, later promotions (warm mirror): create → Succeeded", unit: "s"}
	kb := &figure{name: "  fetched from the git server", unit: "kB"}
	for i := 0; i < b.runs; i++ {
		freight, err := b.next(r)
		if err != nil {
			return err
		}
		secs, fetched, err := b.timed(r.name, "solo", freight)
		if err != nil {
			return fmt.Errorf("warm promotion %d of %s: %w", i, r.name, err)
		}
		t.add(secs)
		kb.add(fetched)
	}
	b.figures = append(b.figures, t, kb)
	return nil
}

// concurrent measures n Promotions of Stages c1…cn, created at once, each
// pushing its folder to branch "rendered"; every folder must land.
func (b *bench) concurrent(r *repo, n int) error {
	t := &figure{name: fmt.Sprintf("%d promotions pushing to one branch at once (%s repo): all Succeeded", n, r.name), unit: "s"}
	pushes := &figure{name: "  pushes received (rejected ones included)", unit: ""}
	for i := 0; i < b.runs; i++ {
		freight, err := b.next(r)
		if err != nil {
			return err
		}
		p0 := b.gc.pushes.Load()
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, n)
		for j := 0; j < n; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				promo, err := b.s.promote(r.name, fmt.Sprintf("c%d", j+1), freight)
				if err == nil {
					err = b.s.waitSucceeded(r.name, promo)
				}
				errs[j] = err
			}()
		}
		wg.Wait()
		t.add(time.Since(start).Seconds())
		pushes.add(float64(b.gc.pushes.Load() - p0))
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("%d concurrent promotions, round %d: %w", n, i, err)
		}
		if err := b.landed(r, n); err != nil {
			return fmt.Errorf("%d concurrent promotions, round %d: %w", n, i, err)
		}
	}
	b.figures = append(b.figures, t, pushes)
	return nil
}

// landed checks that branch "rendered" of r holds the manifests of every
// stage s1…sn with the current image tag.
func (b *bench) landed(r *repo, n int) error {
	bare := filepath.Join(b.tmp, "git", r.name+".git")
	for j := 1; j <= n; j++ {
		out, err := git(bare, "show", fmt.Sprintf("rendered:s%d/manifests.yaml", j))
		if err != nil {
			return err
		}
		if want := b.image + ":" + b.tagName(); !strings.Contains(out, want) {
			return fmt.Errorf("rendered:s%d/manifests.yaml lacks %s", j, want)
		}
	}
	return nil
}
