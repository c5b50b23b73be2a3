// Command foundation measures the figures issue 2 asks for: `caravan server`
// start to ready (empty data dir, and one holding 10,000 Freight), listing
// 1,000 Stages and 10,000 Freight through the API, and the idle server's RSS.
// It prints a table of min / median / max over -runs runs.
//
//	go run ./hack/bench/foundation [-runs 5] [-freight 10000] [-stages 1000]
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
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
	"sync"
	"time"
)

func main() {
	runs := flag.Int("runs", 5, "runs per figure")
	nFreight := flag.Int("freight", 10000, "Freight to seed")
	nStages := flag.Int("stages", 1000, "Stages to seed")
	flag.Parse()
	if err := run(*runs, *nFreight, *nStages); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type server struct {
	cmd   *exec.Cmd
	url   string
	token string
	ready time.Duration
}

var readyRE = regexp.MustCompile(`https?://127\.0\.0\.1:\d+`)

// start launches the binary and returns once its ready line is printed.
func start(bin, dataDir string) (*server, error) {
	cmd := exec.Command(bin, "server", "--data-dir", dataDir, "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := lines.Text()
		if strings.Contains(strings.ToLower(line), "ready") {
			if u := readyRE.FindString(line); u != "" {
				s := &server{cmd: cmd, url: u, ready: time.Since(t0)}
				go func() { _, _ = io.Copy(io.Discard, stdout) }()
				tok, err := os.ReadFile(filepath.Join(dataDir, "admin-token"))
				if err != nil {
					return nil, err
				}
				s.token = strings.TrimSpace(string(tok))
				return s, nil
			}
		}
	}
	_ = cmd.Process.Kill()
	return nil, fmt.Errorf("server exited before its ready line")
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
}

func (s *server) do(method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, s.url+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out, nil
}

func (s *server) rssKiB() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
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

const project = "bench"

func seed(s *server, nFreight, nStages int) error {
	docs := []string{
		`{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Project","metadata":{"name":"` + project + `"}}`,
		`{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Warehouse","metadata":{"name":"app","namespace":"` + project + `"},
		  "spec":{"subscriptions":[{"image":{"repoURL":"registry.example.com/team/app"}}]}}`,
	}
	for _, d := range docs {
		if _, err := s.do("POST", "/caravan/v1/apply", []byte(d)); err != nil {
			return err
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ferr error
		jobs = make(chan func() error)
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := j(); err != nil {
					mu.Lock()
					ferr = err
					mu.Unlock()
				}
			}
		}()
	}
	ns := "/apis/kargo.akuity.io/v1alpha1/namespaces/" + project
	for i := 0; i < nStages; i++ {
		body := fmt.Sprintf(`{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Stage","metadata":{"name":"stage-%04d","namespace":"%s"},
		  "spec":{"requestedFreight":[{"origin":{"kind":"Warehouse","name":"app"},"sources":{"direct":true}}],
		  "promotionTemplate":{"spec":{"steps":[{"uses":"git-clone","config":{"repoURL":"https://git.example.com/app.git","checkout":[{"branch":"main","path":"./src"}]}}]}}}}`, i, project)
		jobs <- func() error { _, err := s.do("POST", ns+"/stages", []byte(body)); return err }
	}
	for i := 0; i < nFreight; i++ {
		digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(strconv.Itoa(i))))
		body := fmt.Sprintf(`{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Freight","metadata":{"namespace":"%s"},
		  "origin":{"kind":"Warehouse","name":"app"},
		  "images":[{"repoURL":"registry.example.com/team/app","tag":"1.0.%d","digest":"%s"}]}`, project, i, digest)
		jobs <- func() error { _, err := s.do("POST", ns+"/freights", []byte(body)); return err }
	}
	close(jobs)
	wg.Wait()
	return ferr
}

type figure struct {
	name    string
	unit    string
	samples []float64
}

func (f *figure) row() string {
	s := append([]float64(nil), f.samples...)
	sort.Float64s(s)
	if len(s) == 0 {
		return fmt.Sprintf("| %s | n/a |", f.name)
	}
	return fmt.Sprintf("| %s | %.1f / %.1f / %.1f %s |", f.name, s[0], s[len(s)/2], s[len(s)-1], f.unit)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func run(runs, nFreight, nStages int) error {
	tmp, err := os.MkdirTemp("", "caravan-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "caravan")
	build := exec.Command("go", "build", "-o", bin, "./cmd/caravan")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}

	emptyStart := &figure{name: "start → ready, empty data dir", unit: "ms"}
	for i := 0; i < runs; i++ {
		s, err := start(bin, filepath.Join(tmp, fmt.Sprintf("empty-%d", i)))
		if err != nil {
			return err
		}
		emptyStart.samples = append(emptyStart.samples, ms(s.ready))
		s.stop()
	}

	data := filepath.Join(tmp, "full")
	s, err := start(bin, data)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := seed(s, nFreight, nStages); err != nil {
		s.stop()
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(os.Stderr, "seeded %d Freight and %d Stages in %s\n", nFreight, nStages, time.Since(t0).Round(time.Millisecond))
	s.stop()

	fullStart := &figure{name: fmt.Sprintf("start → ready, %d Freight", nFreight), unit: "ms"}
	listStages := &figure{name: fmt.Sprintf("list %d Stages", nStages), unit: "ms"}
	listFreight := &figure{name: fmt.Sprintf("list %d Freight", nFreight), unit: "ms"}
	rss := &figure{name: fmt.Sprintf("idle RSS, %d Freight, after the lists", nFreight), unit: "MiB"}
	for i := 0; i < runs; i++ {
		s, err := start(bin, data)
		if err != nil {
			return err
		}
		fullStart.samples = append(fullStart.samples, ms(s.ready))
		for _, c := range []struct {
			f    *figure
			path string
			n    int
		}{{listStages, "stages", nStages}, {listFreight, "freights", nFreight}} {
			t := time.Now()
			out, err := s.do("GET", "/apis/kargo.akuity.io/v1alpha1/namespaces/"+project+"/"+c.path, nil)
			if err != nil {
				s.stop()
				return err
			}
			d := time.Since(t)
			var l struct{ Items []json.RawMessage }
			if err := json.Unmarshal(out, &l); err != nil || len(l.Items) != c.n {
				s.stop()
				return fmt.Errorf("list %s: got %d items (%v), want %d", c.path, len(l.Items), err, c.n)
			}
			c.f.samples = append(c.f.samples, ms(d))
		}
		time.Sleep(2 * time.Second) // let the server go idle before reading RSS
		rss.samples = append(rss.samples, float64(s.rssKiB())/1024)
		s.stop()
	}

	fmt.Println("| figure | min / median / max |")
	fmt.Println("|---|---|")
	for _, f := range []*figure{emptyStart, fullStart, listStages, listFreight, rss} {
		fmt.Println(f.row())
	}
	return nil
}
