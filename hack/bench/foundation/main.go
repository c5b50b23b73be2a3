// Command foundation measures the figures issue 2 asks for: `caravan server`
// start to ready (empty data dir, and one holding 10,000 Freight), listing
// 1,000 Stages and 10,000 Freight through the API, and the idle server's RSS.
// It prints a table of min / median / max over -runs runs.
//
//	go run ./hack/bench/foundation [-runs 5] [-freight 10000] [-stages 1000]
package main

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/caravan-dev/caravan/hack/bench/benchkit"
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

const project = "bench"

func seed(s *benchkit.Server, nFreight, nStages int) error {
	docs := []string{
		`{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Project","metadata":{"name":"` + project + `"}}`,
		`{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Warehouse","metadata":{"name":"app","namespace":"` + project + `"},
		  "spec":{"subscriptions":[{"image":{"repoURL":"registry.example.com/team/app"}}]}}`,
	}
	for _, d := range docs {
		if _, err := s.Do("POST", "/caravan/v1/apply", "application/json", []byte(d)); err != nil {
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
	ns := benchkit.KargoNamespaces + project
	for i := 0; i < nStages; i++ {
		body := fmt.Sprintf(`{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Stage","metadata":{"name":"stage-%04d","namespace":"%s"},
		  "spec":{"requestedFreight":[{"origin":{"kind":"Warehouse","name":"app"},"sources":{"direct":true}}],
		  "promotionTemplate":{"spec":{"steps":[{"uses":"git-clone","config":{"repoURL":"https://git.example.com/app.git","checkout":[{"branch":"main","path":"./src"}]}}]}}}}`, i, project)
		jobs <- func() error { _, err := s.Do("POST", ns+"/stages", "application/json", []byte(body)); return err }
	}
	for i := 0; i < nFreight; i++ {
		digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(strconv.Itoa(i))))
		body := fmt.Sprintf(`{"apiVersion":"kargo.akuity.io/v1alpha1","kind":"Freight","metadata":{"namespace":"%s"},
		  "origin":{"kind":"Warehouse","name":"app"},
		  "images":[{"repoURL":"registry.example.com/team/app","tag":"1.0.%d","digest":"%s"}]}`, project, i, digest)
		jobs <- func() error { _, err := s.Do("POST", ns+"/freights", "application/json", []byte(body)); return err }
	}
	close(jobs)
	wg.Wait()
	return ferr
}

// figure is a row of the table, its samples printed to one decimal.
func figure(name, unit string) *benchkit.Figure {
	return &benchkit.Figure{Name: name, Unit: unit, Format: "%.1f"}
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

	emptyStart := figure("start → ready, empty data dir", "ms")
	for i := 0; i < runs; i++ {
		s, err := benchkit.StartServer(bin, filepath.Join(tmp, fmt.Sprintf("empty-%d", i)), benchkit.ServerOptions{})
		if err != nil {
			return err
		}
		emptyStart.Add(ms(s.Ready))
		s.Stop()
	}

	data := filepath.Join(tmp, "full")
	s, err := benchkit.StartServer(bin, data, benchkit.ServerOptions{})
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := seed(s, nFreight, nStages); err != nil {
		s.Stop()
		return fmt.Errorf("seed: %w", err)
	}
	fmt.Fprintf(os.Stderr, "seeded %d Freight and %d Stages in %s\n", nFreight, nStages, time.Since(t0).Round(time.Millisecond))
	s.Stop()

	fullStart := figure(fmt.Sprintf("start → ready, %d Freight", nFreight), "ms")
	listStages := figure(fmt.Sprintf("list %d Stages", nStages), "ms")
	listFreight := figure(fmt.Sprintf("list %d Freight", nFreight), "ms")
	rss := figure(fmt.Sprintf("idle RSS, %d Freight, after the lists", nFreight), "MiB")
	for i := 0; i < runs; i++ {
		s, err := benchkit.StartServer(bin, data, benchkit.ServerOptions{})
		if err != nil {
			return err
		}
		fullStart.Add(ms(s.Ready))
		for _, c := range []struct {
			f    *benchkit.Figure
			path string
			n    int
		}{{listStages, "stages", nStages}, {listFreight, "freights", nFreight}} {
			t := time.Now()
			out, err := s.Do("GET", benchkit.KargoNamespaces+project+"/"+c.path, "application/json", nil)
			if err != nil {
				s.Stop()
				return err
			}
			d := time.Since(t)
			var l struct{ Items []json.RawMessage }
			if err := json.Unmarshal(out, &l); err != nil || len(l.Items) != c.n {
				s.Stop()
				return fmt.Errorf("list %s: got %d items (%v), want %d", c.path, len(l.Items), err, c.n)
			}
			c.f.Add(ms(d))
		}
		time.Sleep(2 * time.Second) // let the server go idle before reading RSS
		rss.Add(float64(s.RSSKiB()) / 1024)
		s.Stop()
	}

	benchkit.PrintTable([]*benchkit.Figure{emptyStart, fullStart, listStages, listFreight, rss})
	return nil
}
