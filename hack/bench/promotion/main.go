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
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caravan-dev/caravan/hack/bench/benchkit"
)

func main() {
	runs := flag.Int("runs", 5, "rounds per figure")
	counts := flag.String("concurrent", "5,10", "numbers of Promotions pushing to one branch at once")
	heavy := flag.String("heavy", benchkit.DefaultHeavy(), "bare heavy repository built by hack/bench/heavyrepo.sh")
	workers := flag.Int("promotion-workers", 0, "caravan server --promotion-workers (0: the server's default)")
	flag.Parse()
	b := &bench{runs: *runs, workers: *workers}
	if err := b.run(*counts, *heavy); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// maxStages is how many overlays (env/s1 …) each repository has.
const maxStages = 10

// ---- caravan server ----

// server is the caravan server under test, with the Promotion calls.
type server struct{ *benchkit.Server }

// startServer starts the server, with --promotion-workers if workers > 0;
// BENCH_DEBUG=1 echoes the server's log on stderr.
func startServer(bin, dataDir string, workers int) (*server, error) {
	var opts benchkit.ServerOptions
	if workers > 0 {
		opts.Args = []string{"--promotion-workers", strconv.Itoa(workers)}
	}
	if os.Getenv("BENCH_DEBUG") != "" {
		opts.Log = os.Stderr
	}
	s, err := benchkit.StartServer(bin, dataDir, opts)
	if err != nil {
		return nil, err
	}
	return &server{s}, nil
}

const kargo = benchkit.KargoNamespaces

// freightFor waits until the project has Freight of commit and tag, and
// returns its name.
func (s *server) freightFor(project, commit, tag string) (string, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := s.Do("GET", kargo+project+"/freights", "", nil)
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
	out, err := s.Do("POST", kargo+project+"/promotions", "application/json", []byte(body))
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
		out, err := s.Do("GET", kargo+project+"/promotions/"+promo, "", nil)
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

// git runs a git command in dir, without the system's git configuration.
func git(dir string, args ...string) (string, error) {
	return benchkit.Git([]string{"GIT_CONFIG_NOSYSTEM=1"}, dir, args...)
}

// figure is a row of the table: seconds to three decimals, kB and MiB to
// one, counts whole.
func figure(name, unit string) *benchkit.Figure {
	format := "%.3f"
	switch unit {
	case "s":
	case "kB", "MiB":
		format = "%.1f"
	default:
		format = "%.0f"
	}
	return &benchkit.Figure{Name: name, Unit: unit, Format: format}
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
	gc            benchkit.GitCounters
	s             *server
	figures       []*benchkit.Figure
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
	if err := benchkit.Build(b.bin); err != nil {
		return err
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
	if b.gitURL, stopGit, err = benchkit.StartGit(root, &b.gc); err != nil {
		return err
	}
	defer stopGit()
	regAddr, stopReg, err := benchkit.StartRegistry(filepath.Join(b.tmp, "registry"))
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
	defer func() { b.s.Stop() }()

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
	mem := figure("server RSS after the runs", "MiB")
	mem.Add(b.s.RSSMiB())
	b.figures = append(b.figures, mem)

	benchkit.PrintTable(b.figures)
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
	return benchkit.PushTag(b.image, b.tagName())
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
	if _, err := b.s.Apply(docs.String()); err != nil {
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
	if err := b.s.Refresh(r.name, "app"); err != nil {
		return "", err
	}
	return b.s.freightFor(r.name, head, b.tagName())
}

// timed promotes freight into stage and returns the wall time to Succeeded
// and the bytes the git server sent to fetches meanwhile.
func (b *bench) timed(project, stage, freight string) (float64, float64, error) {
	b0 := b.gc.FetchBytes.Load()
	start := time.Now()
	promo, err := b.s.promote(project, stage, freight)
	if err != nil {
		return 0, 0, err
	}
	if err := b.s.waitSucceeded(project, promo); err != nil {
		return 0, 0, err
	}
	return time.Since(start).Seconds(), float64(b.gc.FetchBytes.Load()-b0) / 1000, nil
}

// cold measures first promotions: before each, the server stops, its Git
// mirrors are wiped and it starts again (its Warehouses do not rediscover
// within their interval), so the promotion fetches the whole repository.
func (b *bench) cold(r *repo) error {
	t := figure(r.name+" repo, first promotion (cold mirror): create → Succeeded", "s")
	kb := figure("  fetched from the git server", "kB")
	head, err := git(r.work, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	// The Freight of the newest commit and tag (another repository's
	// rounds may have pushed tags since this one's discovery).
	if err := b.s.Refresh(r.name, "app"); err != nil {
		return err
	}
	freight, err := b.s.freightFor(r.name, head, b.tagName())
	if err != nil {
		return err
	}
	for i := 0; i < b.runs; i++ {
		b.s.Stop()
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
		t.Add(secs)
		kb.Add(fetched)
	}
	b.figures = append(b.figures, t, kb)
	return nil
}

// warm measures later promotions, each of a new commit and tag, into the
// same Stage; the Warehouse's discovery has fetched the commit already.
func (b *bench) warm(r *repo) error {
	t := figure(r.name+" repo, later promotions (warm mirror): create → Succeeded", "s")
	kb := figure("  fetched from the git server", "kB")
	for i := 0; i < b.runs; i++ {
		freight, err := b.next(r)
		if err != nil {
			return err
		}
		secs, fetched, err := b.timed(r.name, "solo", freight)
		if err != nil {
			return fmt.Errorf("warm promotion %d of %s: %w", i, r.name, err)
		}
		t.Add(secs)
		kb.Add(fetched)
	}
	b.figures = append(b.figures, t, kb)
	return nil
}

// concurrent measures n Promotions of Stages c1…cn, created at once, each
// pushing its folder to branch "rendered"; every folder must land.
func (b *bench) concurrent(r *repo, n int) error {
	t := figure(fmt.Sprintf("%d promotions pushing to one branch at once (%s repo): all Succeeded", n, r.name), "s")
	pushes := figure("  pushes received (rejected ones included)", "")
	for i := 0; i < b.runs; i++ {
		freight, err := b.next(r)
		if err != nil {
			return err
		}
		p0 := b.gc.Pushes.Load()
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
		t.Add(time.Since(start).Seconds())
		pushes.Add(float64(b.gc.Pushes.Load() - p0))
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
