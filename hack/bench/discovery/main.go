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
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/caravan-dev/caravan/hack/bench/benchkit"
)

func main() {
	runs := flag.Int("runs", 5, "rounds per figure")
	counts := flag.String("warehouses", "10,50", "Warehouse counts for shared-repo discovery")
	heavy := flag.String("heavy", benchkit.DefaultHeavy(), "bare heavy repository built by hack/bench/heavyrepo.sh")
	flag.Parse()
	if err := run(*runs, *counts, *heavy); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// server is the caravan server under test, with discovery's Freight
// queries.
type server struct{ *benchkit.Server }

type freight struct {
	Origin  struct{ Name string }  `json:"origin"`
	Commits []struct{ ID string }  `json:"commits"`
	Images  []struct{ Tag string } `json:"images"`
}

func (s *server) freight(project string) ([]freight, error) {
	out, err := s.Do("GET", benchkit.KargoNamespaces+project+"/freights", "", nil)
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

// figure is a row of the table: seconds to two decimals, counts whole.
func figure(name, unit string) *benchkit.Figure {
	format := "%.2f"
	if unit != "s" {
		format = "%.0f"
	}
	return &benchkit.Figure{Name: name, Unit: unit, Format: format}
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
	if err := benchkit.Build(bin); err != nil {
		return err
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
	var gc benchkit.GitCounters
	gitURL, stopGit, err := benchkit.StartGit(root, &gc)
	if err != nil {
		return err
	}
	defer stopGit()

	regAddr, stopReg, err := benchkit.StartRegistry(filepath.Join(tmp, "registry"))
	if err != nil {
		return err
	}
	defer stopReg()

	ks, err := benchkit.StartServer(bin, filepath.Join(tmp, "data"), benchkit.ServerOptions{})
	if err != nil {
		return err
	}
	s := &server{ks}
	defer s.Stop()

	var figures []*benchkit.Figure
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
		if _, err := s.Apply(docs.String()); err != nil {
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
		t := figure(fmt.Sprintf("shared-repo discovery, %d Warehouses: push → all have Freight", n), "s")
		fetches := figure(fmt.Sprintf("  git fetches per round (%d Warehouses)", n), "")
		lsrefs := figure(fmt.Sprintf("  git ls-refs per round (%d Warehouses)", n), "")
		kb := figure(fmt.Sprintf("  bytes served per round (%d Warehouses)", n), "B")
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
			f0, l0, b0 := gc.Fetches.Load(), gc.LsRefs.Load(), gc.Bytes.Load()
			start := time.Now()
			for i := 0; i < n; i++ {
				if err := s.Refresh(project, fmt.Sprintf("w%02d", i)); err != nil {
					return err
				}
			}
			if err := s.waitFor(project, allHave(n, head)); err != nil {
				return fmt.Errorf("round %d, %d Warehouses: %w", r, n, err)
			}
			t.Add(time.Since(start).Seconds())
			fetches.Add(float64(gc.Fetches.Load() - f0))
			lsrefs.Add(float64(gc.LsRefs.Load() - l0))
			kb.Add(float64(gc.Bytes.Load() - b0))
		}
		figures = append(figures, t, fetches, lsrefs, kb)
	}

	// Small image repository: refresh → new Freight.
	repo := regAddr + "/bench/app"
	for i := 0; i < 5; i++ {
		if err := benchkit.PushTag(repo, fmt.Sprintf("1.0.%d", i)); err != nil {
			return err
		}
	}
	if _, err := s.Apply(fmt.Sprintf("apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata: {name: small}\n---\n"+
		"apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: app, namespace: small}\n"+
		"spec:\n  interval: 1h\n  subscriptions:\n  - image: {repoURL: %s}\n", repo)); err != nil {
		return err
	}
	if err := s.waitFor("small", hasTag("1.0.4")); err != nil {
		return err
	}
	img := figure("small image repo: refresh → new Freight listed", "s")
	for r := 0; r < runs; r++ {
		tag := fmt.Sprintf("1.1.%d", r)
		if err := benchkit.PushTag(repo, tag); err != nil {
			return err
		}
		start := time.Now()
		if err := s.Refresh("small", "app"); err != nil {
			return err
		}
		if err := s.waitFor("small", hasTag(tag)); err != nil {
			return err
		}
		img.Add(time.Since(start).Seconds())
	}
	figures = append(figures, img)
	mem := figure(fmt.Sprintf("server RSS after the runs (%d Warehouses)", total+1), "MiB")
	mem.Add(s.RSSMiB())
	figures = append(figures, mem)

	benchkit.PrintTable(figures)
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

// git runs a git command in dir.
func git(dir string, args ...string) (string, error) { return benchkit.Git(nil, dir, args...) }
