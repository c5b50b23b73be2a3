package chart

// Classic (HTTP/S) chart repositories: fetching, caching and revalidating
// index.yaml.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/caravan-dev/caravan/internal/discovery"
)

const (
	// maxIndexBytes bounds the index.yaml read (the largest public
	// repositories' indexes are tens of megabytes).
	maxIndexBytes = 256 << 20
	// maxCachedIndexes bounds how many parsed indexes are kept; the least
	// recently used goes first.
	maxCachedIndexes = 64
)

// userAgent identifies Caravan to repositories.
const userAgent = "caravan"

// indexCache keeps parsed indexes with their validators, keyed by index URL
// and credentials (so that one project's access never serves another's).
type indexCache struct {
	mu      sync.Mutex
	entries map[string]*cachedIndex
	tick    uint64
	flight  singleflight.Group
	// salt makes credential fingerprints useless outside this process.
	salt [32]byte
}

type cachedIndex struct {
	etag, lastModified string
	charts             map[string][]string // read-only once cached
	used               uint64
}

func newIndexCache() *indexCache {
	c := &indexCache{entries: map[string]*cachedIndex{}}
	_, _ = rand.Read(c.salt[:])
	return c
}

// key identifies an index fetched with creds.
func (c *indexCache) key(indexURL string, creds *discovery.Credentials) string {
	if !hasCreds(creds) {
		return indexURL + "\n"
	}
	h := sha256.New()
	h.Write(c.salt[:])
	h.Write([]byte(creds.Username))
	h.Write([]byte{0})
	h.Write([]byte(creds.Password))
	return indexURL + "\n" + hex.EncodeToString(h.Sum(nil))
}

func (c *indexCache) get(key string) *cachedIndex {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e != nil {
		c.tick++
		e.used = c.tick
	}
	return e
}

func (c *indexCache) put(key string, e *cachedIndex) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	e.used = c.tick
	c.entries[key] = e
	for len(c.entries) > maxCachedIndexes {
		var oldest string
		for k, v := range c.entries {
			if oldest == "" || v.used < c.entries[oldest].used {
				oldest = k
			}
		}
		delete(c.entries, oldest)
	}
}

// classicVersions returns the versions index.yaml lists for chart name.
func (d *Discoverer) classicVersions(ctx context.Context, repoURL, name string,
	creds *discovery.Credentials) ([]string, error) {
	u, err := url.Parse(repoURL)
	if err != nil || u.Host == "" {
		return nil, discovery.NewError(discovery.ErrInvalid,
			"chart repository URL %q is not a valid URL: write it as https://host/path", redactURL(repoURL))
	}
	indexURL := u.JoinPath("index.yaml").String()
	charts, err := d.index(ctx, indexURL, repoURL, creds)
	if err != nil {
		return nil, err
	}
	versions, ok := charts[name]
	if !ok {
		return nil, discovery.NewError(discovery.ErrNotFound, "chart %q is not in the index of chart repository %s: %s",
			name, redactURL(repoURL), suggestChart(charts, name))
	}
	return versions, nil
}

// suggestChart tells how to fix a chart name the index lacks.
func suggestChart(charts map[string][]string, name string) string {
	names := make([]string, 0, len(charts))
	for n := range charts {
		if strings.EqualFold(n, name) {
			return fmt.Sprintf("did you mean %q? Chart names are case-sensitive", n)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	switch {
	case len(names) == 0:
		return "the repository lists no charts; check repoURL"
	case len(names) <= 10:
		return fmt.Sprintf("check name; the repository has %s", strings.Join(names, ", "))
	default:
		return fmt.Sprintf("check name; the repository lists %d charts", len(names))
	}
}

// index returns the parsed index at indexURL, from the cache when the
// repository confirms it is unchanged. Concurrent calls for the same index
// and credentials share one request.
func (d *Discoverer) index(ctx context.Context, indexURL, repoURL string,
	creds *discovery.Credentials) (map[string][]string, error) {
	key := d.indexes.key(indexURL, creds)
	for attempt := 0; ; attempt++ {
		ch := d.indexes.flight.DoChan(key, func() (any, error) {
			return d.fetchIndex(ctx, key, indexURL, repoURL, creds)
		})
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fetch index of chart repository %s: %w", redactURL(repoURL), ctx.Err())
		case r := <-ch:
			if r.Err != nil {
				// The request shared was another caller's, and its context
				// ended: ours has not, so try again with our own.
				if r.Shared && attempt == 0 && isContextErr(r.Err) && ctx.Err() == nil {
					continue
				}
				return nil, r.Err
			}
			return r.Val.(map[string][]string), nil
		}
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// fetchIndex requests index.yaml, conditionally when a copy is cached.
func (d *Discoverer) fetchIndex(ctx context.Context, key, indexURL, repoURL string,
	creds *discovery.Credentials) (map[string][]string, error) {
	repo := redactURL(repoURL)
	cached := d.indexes.get(key)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, indexURL, nil)
	if err != nil {
		return nil, &discovery.Error{Kind: discovery.ErrInvalid, Err: err,
			Msg: fmt.Sprintf("chart repository URL %s cannot be requested", repo)}
	}
	req.Header.Set("User-Agent", userAgent)
	if hasCreds(creds) {
		req.SetBasicAuth(creds.Username, creds.Password)
	}
	if cached != nil {
		if cached.etag != "" {
			req.Header.Set("If-None-Match", cached.etag)
		}
		if cached.lastModified != "" {
			req.Header.Set("If-Modified-Since", cached.lastModified)
		}
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, requestError(ctx, err, repo)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	switch code := resp.StatusCode; {
	case code == http.StatusNotModified && cached != nil:
		d.log.DebugContext(ctx, "chart repository index unchanged", logKeyRepo, repo, logKeyStatus, code)
		return cached.charts, nil
	case code == http.StatusOK:
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		if !hasCreds(creds) {
			return nil, discovery.NewError(discovery.ErrAuth,
				"chart repository %s requires authentication (HTTP %d): create a Secret labelled "+
					"kargo.akuity.io/cred-type: helm with repoURL, username and password in the project", repo, code)
		}
		return nil, discovery.NewError(discovery.ErrAuth,
			"chart repository %s refused the credentials (HTTP %d): check the username and password of the "+
				"helm credentials Secret that matches it", repo, code)
	case code == http.StatusNotFound || code == http.StatusGone:
		return nil, discovery.NewError(discovery.ErrNotFound,
			"no chart repository at %s (GET index.yaml answered HTTP %d): check repoURL", repo, code)
	default:
		return nil, discovery.NewError(discovery.ErrUnreachable,
			"chart repository %s answered GET index.yaml with HTTP %d %s", repo, code, http.StatusText(code))
	}

	b, err := readIndex(resp)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, errIndexTooLarge) {
			return nil, fmt.Errorf("read index of chart repository %s: %w", repo, err)
		}
		return nil, &discovery.Error{Kind: discovery.ErrUnreachable, Err: err,
			Msg: fmt.Sprintf("read index of chart repository %s", repo)}
	}
	charts, err := parseIndex(b)
	if err != nil {
		return nil, &discovery.Error{Kind: discovery.ErrNotFound, Err: err, Msg: fmt.Sprintf(
			"%s/index.yaml is not a Helm chart repository index: check that repoURL is the repository's URL",
			strings.TrimSuffix(repo, "/"))}
	}
	etag, lastModified := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag != "" || lastModified != "" {
		d.indexes.put(key, &cachedIndex{etag: etag, lastModified: lastModified, charts: charts})
	}
	d.log.DebugContext(ctx, "fetched chart repository index", logKeyRepo, repo, logKeyStatus, resp.StatusCode,
		logKeyBytes, len(b), logKeyCharts, len(charts))
	return charts, nil
}

var errIndexTooLarge = fmt.Errorf("index.yaml is larger than %d MiB", maxIndexBytes>>20)

// readIndex reads the body of an index.yaml response, up to maxIndexBytes.
func readIndex(resp *http.Response) ([]byte, error) {
	var buf bytes.Buffer
	if n := resp.ContentLength; n > 0 && n <= maxIndexBytes {
		buf.Grow(int(n) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, maxIndexBytes+1))
	if err != nil {
		return nil, err
	}
	if n > maxIndexBytes {
		return nil, errIndexTooLarge
	}
	return buf.Bytes(), nil
}

// requestError classifies a failed request. The cause is kept without the
// URL that *url.Error adds (messages name the repository once, redacted).
func requestError(ctx context.Context, err error, repo string) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("fetch index of chart repository %s: %w", repo, ctx.Err())
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var nerr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()) {
		return &discovery.Error{Kind: discovery.ErrUnreachable, Err: err,
			Msg: fmt.Sprintf("chart repository %s timed out", repo)}
	}
	return &discovery.Error{Kind: discovery.ErrUnreachable, Err: err,
		Msg: fmt.Sprintf("cannot reach chart repository %s: check repoURL and that the server is up", repo)}
}

// hasCreds reports whether creds hold a username or password to send.
func hasCreds(creds *discovery.Credentials) bool {
	return creds != nil && (creds.Username != "" || creds.Password != "")
}
