// Command pipeline measures the Stage controller end to end, through a real
// `caravan server`, on a project of 200 Stages and 2,000 Freight:
//
//   - chain: a new Freight auto-promotes through a chain of 10 Stages
//     (chain-01 takes it from the Warehouse, each next one from the one
//     before) whose promotion steps do no work (one file-write into the
//     workspace); the other 190 Stages, 19 chains of 10 with auto-promotion
//     off, are woken by every new Freight too and say why they do not
//     promote it. Wall time from the Freight's creation until the last
//     Stage of the chain uses it.
//   - idle CPU: the server's CPU time (utime + stime from /proc/<pid>/stat)
//     over a window with nothing to do, scaled to a minute.
//
// It prints a table of min / median / max over -runs rounds.
//
//	go run ./hack/bench/pipeline [-runs 5] [-idle 30s]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caravan-dev/caravan/hack/bench/benchkit"
)

// The project's shape.
const (
	project     = "bench"
	chainLength = 10
	chains      = 20 // one auto-promoting chain, the others not
	freightN    = 2000
	batch       = 200 // Freight per apply request
	repoURL     = "http://127.0.0.1:9/app.git"
)

func main() {
	runs := flag.Int("runs", 5, "rounds per figure")
	idle := flag.Duration("idle", 30*time.Second, "length of one idle CPU window (scaled to a minute)")
	flag.Parse()
	if err := run(*runs, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// server is the caravan server under test, with the pipeline's queries.
type server struct{ *benchkit.Server }

// apply applies documents and returns the names of what they made.
func (s *server) apply(docs []string) ([]string, error) {
	return s.Apply(strings.Join(docs, "\n---\n"))
}

// current is the name of the Freight a Stage uses now, or "".
func (s *server) current(stage string) (string, error) {
	out, err := s.Do("GET", benchkit.KargoNamespaces+project+"/stages/"+stage, "", nil)
	if err != nil {
		return "", err
	}
	var st struct {
		Status struct {
			FreightHistory []struct {
				Items map[string]struct{ Name string }
			}
		}
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return "", err
	}
	if len(st.Status.FreightHistory) == 0 {
		return "", nil
	}
	return st.Status.FreightHistory[0].Items["Warehouse/w"].Name, nil
}

// waitCurrent polls a Stage until it uses the Freight want says yes to.
func (s *server) waitCurrent(stage string, within time.Duration, want func(string) bool) (string, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		cur, err := s.current(stage)
		if err != nil {
			return "", err
		}
		if want(cur) {
			return cur, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "", fmt.Errorf("stage %s did not get the Freight within %s", stage, within)
}

// figure is a row of the table: samples to three decimals, MiB whole.
func figure(name, unit string) *benchkit.Figure {
	format := "%.3f"
	if unit == "MiB" {
		format = "%.0f"
	}
	return &benchkit.Figure{Name: name, Unit: unit, Format: format}
}

// ---- the project ----

func freightDoc(i int) string {
	return fmt.Sprintf(`apiVersion: kargo.akuity.io/v1alpha1
kind: Freight
metadata: {name: x, namespace: %s}
origin: {kind: Warehouse, name: w}
commits:
- {repoURL: %q, id: "%040x"}
`, project, repoURL, i)
}

func stageDoc(name, sources string) string {
	return fmt.Sprintf(`apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {name: %s, namespace: %s}
spec:
  requestedFreight:
  - origin: {kind: Warehouse, name: w}
    sources: {%s}
  promotionTemplate:
    spec:
      steps:
      - uses: file-write
        config: {path: done.txt, contents: ok}
`, name, project, sources)
}

// chainStages returns the Stages of one chain: prefix-01 … prefix-10.
func chainStages(prefix string) []string {
	docs := make([]string, 0, chainLength)
	for i := 1; i <= chainLength; i++ {
		sources := "direct: true"
		if i > 1 {
			sources = fmt.Sprintf("stages: [%s-%02d]", prefix, i-1)
		}
		docs = append(docs, stageDoc(fmt.Sprintf("%s-%02d", prefix, i), sources))
	}
	return docs
}

func run(runs int, idle time.Duration) error {
	tmp, err := os.MkdirTemp("", "caravan-bench-pipeline-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "caravan")
	if err := benchkit.Build(bin); err != nil {
		return err
	}
	ks, err := benchkit.StartServer(bin, filepath.Join(tmp, "data"), benchkit.ServerOptions{})
	if err != nil {
		return err
	}
	s := &server{ks}
	defer s.Stop()

	// The Warehouse's repository is served by nobody: Freight is applied.
	if _, err := s.apply([]string{
		"apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata: {name: " + project + "}\n",
		fmt.Sprintf("apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: w, namespace: %s}\n"+
			"spec:\n  interval: 24h\n  subscriptions:\n  - git: {repoURL: %q, branch: main}\n", project, repoURL),
	}); err != nil {
		return err
	}
	setup := figure(fmt.Sprintf("set-up: apply %d Freight", freightN), "s")
	start := time.Now()
	for i := 0; i < freightN; i += batch {
		docs := make([]string, 0, batch)
		for j := i; j < i+batch && j < freightN; j++ {
			docs = append(docs, freightDoc(j+1))
		}
		if _, err := s.apply(docs); err != nil {
			return err
		}
	}
	setup.Add(time.Since(start).Seconds())
	stages := figure(fmt.Sprintf("set-up: apply %d Stages", chains*chainLength), "s")
	start = time.Now()
	docs := chainStages("chain")
	for c := 1; c < chains; c++ {
		docs = append(docs, chainStages(fmt.Sprintf("other%02d", c))...)
	}
	if _, err := s.apply(docs); err != nil {
		return err
	}
	stages.Add(time.Since(start).Seconds())
	// Auto-promotion for the measured chain only; the newest of the 2,000
	// Freight flows through it first.
	if _, err := s.apply([]string{fmt.Sprintf(`apiVersion: kargo.akuity.io/v1alpha1
kind: ProjectConfig
metadata: {name: %s, namespace: %s}
spec:
  promotionPolicies:
  - stageSelector: {name: "glob:chain-*"}
    autoPromotionEnabled: true
`, project, project)}); err != nil {
		return err
	}
	first, err := s.waitCurrent("chain-01", 5*time.Minute, func(c string) bool { return c != "" })
	if err != nil {
		return err
	}
	last := fmt.Sprintf("chain-%02d", chainLength)
	if _, err := s.waitCurrent(last, 5*time.Minute, func(c string) bool { return c == first }); err != nil {
		return err
	}

	chain := figure(fmt.Sprintf("new Freight → auto-promoted through a %d-Stage chain (200 Stages, 2,000+ Freight)", chainLength), "s")
	hop := figure("… per Stage", "s")
	lastCreated := time.Now()
	for r := 0; r < runs; r++ {
		// Freight are ordered by creation time to the second: make the new
		// one the newest.
		for time.Now().Truncate(time.Second).Equal(lastCreated.Truncate(time.Second)) {
			time.Sleep(10 * time.Millisecond)
		}
		start := time.Now()
		names, err := s.apply([]string{freightDoc(freightN + 1 + r)})
		if err != nil {
			return err
		}
		lastCreated = start
		if _, err := s.waitCurrent(last, 2*time.Minute, func(c string) bool { return c == names[0] }); err != nil {
			return err
		}
		d := time.Since(start).Seconds()
		chain.Add(d)
		hop.Add(d / chainLength)
	}

	cpu := figure(fmt.Sprintf("idle CPU (%s windows, scaled)", idle), "CPU s per minute")
	time.Sleep(5 * time.Second) // let the last round's stragglers finish
	for r := 0; r < runs; r++ {
		before, err := s.CPUSeconds()
		if err != nil {
			return err
		}
		time.Sleep(idle)
		after, err := s.CPUSeconds()
		if err != nil {
			return err
		}
		cpu.Add((after - before) * float64(time.Minute) / float64(idle))
	}
	mem := figure("server RSS after the runs", "MiB")
	mem.Add(s.RSSMiB())

	benchkit.PrintTable([]*benchkit.Figure{setup, stages, chain, hop, cpu, mem})
	return nil
}
