package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/caravan-dev/caravan/internal/store"
)

// benchObjects is the size of the benchmark database.
const benchObjects = 10000

// benchFreight returns a Freight of about 1 KiB, shaped like discovered
// Freight with an image and a commit and some status.
func benchFreight(ns, name string, i int) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"alias":  fmt.Sprintf("alias-%d", i),
		"origin": map[string]any{"kind": "Warehouse", "name": fmt.Sprintf("warehouse-%d", i%10)},
		"images": []any{map[string]any{
			"repoURL": "registry.example.com/team/shop",
			"tag":     fmt.Sprintf("1.%d.0", i),
			"digest":  fmt.Sprintf("sha256:%064x", i),
			"annotations": map[string]any{
				"org.opencontainers.image.source":   "https://github.com/example/shop",
				"org.opencontainers.image.revision": fmt.Sprintf("%040x", i),
			},
		}},
		"commits": []any{map[string]any{
			"repoURL": "https://github.com/example/shop-config.git",
			"id":      fmt.Sprintf("%040x", i*7),
			"branch":  "main",
			"message": "Update the shop image to a new release with several fixes",
			"author":  "Release Bot <release@example.com>",
		}},
		"status": map[string]any{
			"verifiedIn":  map[string]any{"test": map[string]any{"verifiedAt": "2026-08-01T10:00:00Z"}},
			"approvedFor": map[string]any{"prod": map[string]any{"approvedAt": "2026-08-01T11:00:00Z"}},
		},
	}}
	u.SetAPIVersion("kargo.akuity.io/v1alpha1")
	u.SetKind("Freight")
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetLabels(map[string]string{"kargo.akuity.io/alias": fmt.Sprintf("alias-%d", i)})
	return u
}

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
)

// fixture returns the path of a database holding benchObjects Freight,
// built once per test binary.
func fixture(b *testing.B) string {
	b.Helper()
	fixtureOnce.Do(func() {
		if fixtureDir, fixtureErr = os.MkdirTemp("", "caravan-bench-"); fixtureErr != nil {
			return
		}
		path := filepath.Join(fixtureDir, "bench.db")
		s, err := Open(path, WithSynchronous("NORMAL"))
		if err != nil {
			fixtureErr = err
			return
		}
		defer s.Close()
		for i := range benchObjects {
			if _, err := s.Create(b.Context(), benchFreight("p1", fmt.Sprintf("f%05d", i), i)); err != nil {
				fixtureErr = err
				return
			}
		}
	})
	if fixtureErr != nil {
		b.Fatal(fixtureErr)
	}
	return filepath.Join(fixtureDir, "bench.db")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

func benchCreate(b *testing.B, opts ...Option) {
	s, err := Open(filepath.Join(b.TempDir(), "caravan.db"), opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	objs := make([]*unstructured.Unstructured, b.N)
	for i := range objs {
		objs[i] = benchFreight("p1", fmt.Sprintf("f%07d", i), i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Create(b.Context(), objs[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreate measures one durable write (synchronous=FULL: an fsync
// per write).
func BenchmarkCreate(b *testing.B) { benchCreate(b) }

// BenchmarkCreateNormal measures a write with synchronous=NORMAL.
func BenchmarkCreateNormal(b *testing.B) { benchCreate(b, WithSynchronous("NORMAL")) }

func openFixture(b *testing.B) *Store {
	s, err := Open(fixture(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkGet(b *testing.B) {
	s := openFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Get(b.Context(), "Freight", "p1", fmt.Sprintf("f%05d", i%benchObjects)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkList10k(b *testing.B) {
	s := openFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l, err := s.List(b.Context(), "Freight", "p1", store.ListOptions{})
		if err != nil || len(l.Items) != benchObjects {
			b.Fatalf("list: %d items, %v", len(l.Items), err)
		}
	}
}

func BenchmarkListRaw10k(b *testing.B) {
	s := openFixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		items, _, err := s.ListRaw(b.Context(), "Freight", "p1", store.ListOptions{})
		if err != nil || len(items) != benchObjects {
			b.Fatalf("list: %d items, %v", len(items), err)
		}
	}
}

// BenchmarkListByOrigin lists the 1,000 Freight of one Warehouse out of
// 10,000 through the field index.
func BenchmarkListByOrigin(b *testing.B) {
	s := openFixture(b)
	opts := store.ListOptions{FieldSelector: fields.OneTermEqualSelector("origin.name", "warehouse-3")}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		items, _, err := s.ListRaw(b.Context(), "Freight", "p1", opts)
		if err != nil || len(items) != benchObjects/10 {
			b.Fatalf("list: %d items, %v", len(items), err)
		}
	}
}

// BenchmarkOpen10k opens (and closes) a database of 10,000 objects.
func BenchmarkOpen10k(b *testing.B) {
	path := fixture(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get(b.Context(), "Freight", "p1", "f00042"); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
