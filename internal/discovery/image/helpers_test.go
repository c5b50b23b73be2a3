package image

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// countingTransport records every request sent to a registry: what
// Options.Transport exists for.
type countingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []string // "METHOD /path"
}

func newCountingTransport() *countingTransport {
	return &countingTransport{next: defaultTransport()}
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.Path)
	c.mu.Unlock()
	return c.next.RoundTrip(r)
}

// take returns the requests recorded since the last take.
func (c *countingTransport) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.reqs
	c.reqs = nil
	return out
}

// requestCounts groups requests by kind.
type requestCounts struct {
	ping, list, head, getManifest, getBlob, other int
}

func countKinds(reqs []string) requestCounts {
	var n requestCounts
	for _, r := range reqs {
		method, path, _ := strings.Cut(r, " ")
		switch {
		case path == "/v2/":
			n.ping++
		case strings.HasSuffix(path, "/tags/list"):
			n.list++
		case method == http.MethodHead && strings.Contains(path, "/manifests/"):
			n.head++
		case method == http.MethodGet && strings.Contains(path, "/manifests/"):
			n.getManifest++
		case method == http.MethodGet && strings.Contains(path, "/blobs/"):
			n.getBlob++
		default:
			n.other++
		}
	}
	return n
}

// testLogger writes the discoverer's logs to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}
