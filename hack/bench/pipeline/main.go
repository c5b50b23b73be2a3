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
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
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

// apply applies documents and returns the names of what they made.
func (s *server) apply(docs []string) ([]string, error) {
	out, err := s.do("POST", "/caravan/v1/apply", "application/yaml", []byte(strings.Join(docs, "\n---\n")))
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

// current is the name of the Freight a Stage uses now, or "".
func (s *server) current(stage string) (string, error) {
	out, err := s.do("GET", "/apis/kargo.akuity.io/v1alpha1/namespaces/"+project+"/stages/"+stage, "", nil)
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

// cpuSeconds is the server's utime + stime.
func (s *server) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
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
	if f.unit == "MiB" {
		format = "%.0f"
	}
	return fmt.Sprintf("| %s | "+format+" / "+format+" / "+format+" %s |", f.name, s[0], s[len(s)/2], s[len(s)-1], f.unit)
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
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/caravan").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v: %s", err, out)
	}
	s, err := startServer(bin, filepath.Join(tmp, "data"))
	if err != nil {
		return err
	}
	defer s.stop()

	// The Warehouse's repository is served by nobody: Freight is applied.
	if _, err := s.apply([]string{
		"apiVersion: kargo.akuity.io/v1alpha1\nkind: Project\nmetadata: {name: " + project + "}\n",
		fmt.Sprintf("apiVersion: kargo.akuity.io/v1alpha1\nkind: Warehouse\nmetadata: {name: w, namespace: %s}\n"+
			"spec:\n  interval: 24h\n  subscriptions:\n  - git: {repoURL: %q, branch: main}\n", project, repoURL),
	}); err != nil {
		return err
	}
	setup := &figure{name: fmt.Sprintf("set-up: apply %d Freight", freightN), unit: "s"}
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
	setup.add(time.Since(start).Seconds())
	stages := &figure{name: fmt.Sprintf("set-up: apply %d Stages", chains*chainLength), unit: "s"}
	start = time.Now()
	docs := chainStages("chain")
	for c := 1; c < chains; c++ {
		docs = append(docs, chainStages(fmt.Sprintf("other%02d", c))...)
	}
	if _, err := s.apply(docs); err != nil {
		return err
	}
	stages.add(time.Since(start).Seconds())
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

	chain := &figure{name: fmt.Sprintf("new Freight → auto-promoted through a %d-Stage chain (200 Stages, 2,000+ Freight)", chainLength), unit: "s"}
	hop := &figure{name: "… per Stage", unit: "s"}
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
		chain.add(d)
		hop.add(d / chainLength)
	}

	cpu := &figure{name: fmt.Sprintf("idle CPU (%s windows, scaled)", idle), unit: "CPU s per minute"}
	time.Sleep(5 * time.Second) // let the last round's stragglers finish
	for r := 0; r < runs; r++ {
		before, err := s.cpuSeconds()
		if err != nil {
			return err
		}
		time.Sleep(idle)
		after, err := s.cpuSeconds()
		if err != nil {
			return err
		}
		cpu.add((after - before) * float64(time.Minute) / float64(idle))
	}
	mem := &figure{name: "server RSS after the runs", unit: "MiB"}
	mem.add(s.rssMiB())

	fmt.Println("| figure | min / median / max |")
	fmt.Println("|---|---|")
	for _, f := range []*figure{setup, stages, chain, hop, cpu, mem} {
		fmt.Println(f.row())
	}
	return nil
}
