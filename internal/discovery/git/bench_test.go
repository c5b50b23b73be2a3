package git

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/testserver"
)

// heavyRepo is where hack/bench/heavyrepo.sh builds the heavy repository.
func heavyRepo() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "caravan-test", "heavy.git")
}

// BenchmarkSharedDiscovery measures the shared-repo discovery workload of
// BENCHMARKS.md on the heavy repository: per op, one commit is pushed to
// main (outside the timer) and then N Warehouses' discoveries run at once
// against a warm mirror, until all N have found the new commit. It reports
// the ls-remotes, fetches and bytes each round cost.
//
//	bash hack/bench/heavyrepo.sh
//	go test -run '^$' -bench SharedDiscovery -benchtime 20x ./internal/discovery/git
func BenchmarkSharedDiscovery(b *testing.B) {
	heavy := heavyRepo()
	if _, err := os.Stat(filepath.Join(heavy, "HEAD")); err != nil {
		msg := "heavy repository " + heavy + " is missing: build it with bash hack/bench/heavyrepo.sh"
		if os.Getenv("CI") == "true" {
			b.Fatal(msg)
		}
		b.Skip(msg)
	}
	srv := testserver.NewGitServer(b, testserver.GitServerOptions{})
	repo := srv.CreateRepoFrom(b, "heavy", heavy)
	m := newTestMirrors(b)
	sub := &v1alpha1.GitSubscription{RepoURL: repo.URL, Branch: "main", DiscoveryLimit: 5}
	if _, err := discover(b, m, sub, nil); err != nil { // the first, full fetch
		b.Fatal(err)
	}
	round := 0
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("warehouses=%d", n), func(b *testing.B) {
			before, served := m.Stats(), srv.Stats().BytesServed
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				round++
				head := repo.Commit(b, testserver.Commit{Message: fmt.Sprintf("bench %d", round),
					Files: map[string]string{"bench.txt": fmt.Sprintf("%d\n", round)}})
				repo.Push(b)
				b.StartTimer()
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						res, err := discover(b, m, sub, nil)
						if err == nil && res.Commits[0].ID != head {
							err = fmt.Errorf("found %s, want %s", res.Commits[0].ID, head)
						}
						if err != nil {
							errs <- err
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			after := m.Stats()
			ops := float64(b.N)
			b.ReportMetric(float64(after.LsRemotes-before.LsRemotes)/ops, "ls-remotes/op")
			b.ReportMetric(float64(after.Fetches-before.Fetches)/ops, "fetches/op")
			b.ReportMetric(float64(after.FetchedBytes-before.FetchedBytes)/ops, "fetched-B/op")
			b.ReportMetric(float64(after.Listings-before.Listings)/ops, "listings/op")
			b.ReportMetric(float64(srv.Stats().BytesServed-served)/ops, "served-B/op")
		})
	}
}
