package image

import (
	"context"
	"fmt"
	"testing"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/testserver"
)

// BenchmarkPoll500Tags polls a repository of 500 tags (1.0.0 … 1.4.99,
// pointing at five images with different build dates) in Debian's
// docker-registry, and reports the requests each poll sends:
//
//   - first: a new Discoverer, so cold caches and the registry handshake;
//   - second: a Discoverer that already polled the unchanged repository;
//   - second-cacheByTag: the same with cacheByTag (one tag-list request).
//
// The rate limit is off so that the figure is the discoverer's own cost; at
// the default 20 requests per second a poll of R requests takes at least
// (R-20)/20 seconds more.
//
//	go test -run '^$' -bench Poll500Tags -benchtime 20x ./internal/discovery/image
func BenchmarkPoll500Tags(b *testing.B) {
	reg := testserver.NewRegistry(b, testserver.RegistryOptions{})
	const repo = "bench/app"
	for img := range 5 {
		src := fmt.Sprintf("1.%d.0", img)
		reg.PushImage(b, repo, src, testserver.ImageSpec{Created: day("2024-01-01").AddDate(0, img, 0)})
		tags := make([]string, 0, 99)
		for patch := 1; patch < 100; patch++ {
			tags = append(tags, fmt.Sprintf("1.%d.%d", img, patch))
		}
		reg.Tag(b, repo, src, tags...)
	}

	strategies := []struct {
		name string
		sub  v1alpha1.ImageSubscription
	}{
		{"NewestBuild", v1alpha1.ImageSubscription{ImageSelectionStrategy: v1alpha1.ImageSelectionStrategyNewestBuild}},
		{"SemVer", v1alpha1.ImageSubscription{ImageSelectionStrategy: v1alpha1.ImageSelectionStrategySemVer}},
	}
	for _, st := range strategies {
		sub := st.sub
		sub.RepoURL = reg.Repo(repo)
		cached := sub
		cached.CacheByTag = true

		b.Run(st.name+"/first", func(b *testing.B) {
			ct := newCountingTransport()
			for b.Loop() {
				d := NewDiscoverer(Options{RateLimit: -1, Transport: ct})
				benchPoll(b, d, &sub)
			}
			b.ReportMetric(float64(len(ct.take()))/float64(b.N), "requests/op")
		})
		for _, warm := range []struct {
			name string
			sub  *v1alpha1.ImageSubscription
		}{{"second", &sub}, {"second-cacheByTag", &cached}} {
			b.Run(st.name+"/"+warm.name, func(b *testing.B) {
				ct := newCountingTransport()
				d := NewDiscoverer(Options{RateLimit: -1, Transport: ct})
				benchPoll(b, d, warm.sub)
				ct.take()
				for b.Loop() {
					benchPoll(b, d, warm.sub)
				}
				b.ReportMetric(float64(len(ct.take()))/float64(b.N), "requests/op")
			})
		}
	}
}

func benchPoll(b *testing.B, d *Discoverer, sub *v1alpha1.ImageSubscription) {
	b.Helper()
	res, err := d.Discover(context.Background(), sub, nil)
	if err != nil {
		b.Fatal(err)
	}
	if len(res.References) != 20 {
		b.Fatalf("%d references, want 20", len(res.References))
	}
}
