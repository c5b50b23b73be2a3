// Package image discovers container images for a Warehouse's image
// subscriptions, with Kargo's semantics: the SemVer (default), Lexical,
// Digest and NewestBuild selection strategies, constraint, strictSemvers,
// allow and ignore tag filters, platform, discoveryLimit,
// insecureSkipTLSVerify and cacheByTag.
//
// A Discoverer is shared by every Warehouse. It keeps what never changes in
// memory — a digest's build date, annotations and, for an index, its
// platform images — so a repository is not re-read on every poll:
//
//   - SemVer and Lexical sort and filter the tag list before any manifest
//     request and resolve only the best discoveryLimit tags; NewestBuild
//     needs every filtered tag's build date.
//   - Resolving a tag costs one GET the first time. Later it costs one HEAD
//     (to notice a re-pushed tag), or nothing with cacheByTag, by which the
//     user promises that tags never move. A second poll of an unchanged
//     repository with cacheByTag is therefore one tag-list request.
//   - Requests to each registry host go through one rate limiter (20
//     requests per second by default), whichever Warehouse makes them.
//
// Errors are discovery.Error values of the discovery package's kinds.
package image

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
)

// DefaultRateLimit is the default number of requests per second sent to one
// registry host, as in Kargo.
const DefaultRateLimit = 20

const (
	userAgent = "caravan"
	// concurrency bounds the requests one poll has in flight.
	concurrency = 8
	// Cache sizes. An info is a few hundred bytes, a tag entry less.
	maxInfos   = 20000
	maxTags    = 50000
	maxPullers = 512
)

// retryBackoff retries temporary failures (HTTP 429 and 5xx, resets)
// briefly; the reconciler retries the whole discovery later anyway.
var retryBackoff = remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 3}

// Options configure a Discoverer. The zero value is usable.
type Options struct {
	// RateLimit is the number of requests per second sent to one registry
	// host, across all subscriptions. 0 means DefaultRateLimit; a negative
	// value means no limit.
	RateLimit float64
	// Burst is how many requests may go to one host at once before the rate
	// applies. 0 means five seconds' worth of RateLimit (at least 1): a
	// refresh of a small repository then never waits for the limiter, while
	// a sustained load is still held to RateLimit.
	Burst int
	// Logger receives debug lines per poll and warnings about deprecated
	// fields; nil means slog.Default(). Credentials are never logged.
	Logger *slog.Logger
	// Clock is the time source of the rate limiter and of poll durations;
	// nil means time.Now.
	Clock func() time.Time
	// Transport, when set, sends every request instead of a default HTTP
	// transport (tests and benchmarks count requests with it). TLS settings
	// are then the Transport's: insecureSkipTLSVerify only permits plain
	// HTTP.
	Transport http.RoundTripper
}

// Discoverer discovers images. It is safe for concurrent use, and meant to
// be shared: its caches and rate limiters serve every subscription.
type Discoverer struct {
	log   *slog.Logger
	clock func() time.Time

	transport         http.RoundTripper // rate limited
	insecureTransport http.RoundTripper // rate limited, TLS verification off

	pullers *lru[string, *remote.Puller]
	infos   *lru[string, *manifestInfo] // "repository@digest"
	tags    *lru[string, string]        // "repository:tag" → digest last seen
	flight  singleflight.Group
}

// NewDiscoverer returns a Discoverer configured by opts.
func NewDiscoverer(opts Options) *Discoverer {
	d := &Discoverer{
		log:     cmp.Or(opts.Logger, slog.Default()),
		clock:   opts.Clock,
		pullers: newLRU[string, *remote.Puller](maxPullers),
		infos:   newLRU[string, *manifestInfo](maxInfos),
		tags:    newLRU[string, string](maxTags),
	}
	if d.clock == nil {
		d.clock = time.Now
	}
	rps := opts.RateLimit
	if rps == 0 {
		rps = DefaultRateLimit
	}
	burst := opts.Burst
	if burst <= 0 {
		burst = max(1, int(5*rps+0.999999))
	}
	limits := newHostLimits(rps, burst, d.clock)

	secure, insecure := opts.Transport, opts.Transport
	if opts.Transport == nil {
		base := defaultTransport()
		secure = base
		ins := base.Clone()
		ins.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // only for subscriptions that ask for it
		insecure = ins
	}
	d.transport = &limitedTransport{limits: limits, next: secure}
	d.insecureTransport = &limitedTransport{limits: limits, next: insecure}
	return d
}

func defaultTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// Discover lists the images of sub's repository that its strategy and
// filters select, best first and at most discoveryLimit of them. creds may
// be nil for anonymous access. Errors carry a discovery kind: ErrInvalid for
// a subscription that cannot work as written (checked before any request),
// ErrAuth, ErrNotFound, ErrUnreachable, and ErrNoMatch when no tag passes.
func (d *Discoverer) Discover(ctx context.Context, sub *v1alpha1.ImageSubscription, creds *discovery.Credentials) (*v1alpha1.ImageDiscoveryResult, error) {
	s, err := compile(sub)
	if err != nil {
		return nil, err
	}
	log := d.log.With("repoURL", s.repoURL, "strategy", string(s.strategy))
	if s.stripped != "" {
		log.Info("image repoURL includes a tag or digest, which discovery ignores: remove it from repoURL",
			"written", sub.RepoURL, "ignored", s.stripped)
	}
	if len(s.deprecated) > 0 {
		log.Warn("image subscription uses deprecated fields: use constraint, allowTagsRegexes and ignoreTagsRegexes instead",
			"fields", strings.Join(s.deprecated, ", "))
	}
	c, err := d.client(s, creds)
	if err != nil {
		return nil, err
	}
	start := d.clock()
	refs, err := d.discover(ctx, c)
	if err != nil {
		return nil, classify(err, s, c.withCreds)
	}
	out := &v1alpha1.ImageDiscoveryResult{
		RepoURL:    s.repoURL,
		Platform:   sub.Platform,
		References: make([]v1alpha1.DiscoveredImageReference, 0, len(refs)),
	}
	for _, r := range refs {
		ref := v1alpha1.DiscoveredImageReference{Tag: r.tag, Digest: r.digest, Annotations: r.annotations}
		if r.created != nil {
			ref.CreatedAt = &metav1.Time{Time: *r.created}
		}
		out.References = append(out.References, ref)
	}
	log.Debug("discovered images", "count", len(refs), "duration", d.clock().Sub(start))
	return out, nil
}

func (d *Discoverer) discover(ctx context.Context, c *repoClient) ([]reference, error) {
	s := c.s
	if s.strategy == v1alpha1.ImageSelectionStrategyDigest {
		return d.discoverDigest(ctx, c)
	}
	tags, err := c.listTags(ctx)
	if err != nil {
		return nil, err
	}
	cands := s.candidates(tags)
	if len(cands) == 0 {
		return nil, discovery.NewError(discovery.ErrNoMatch,
			"no tag of %s (%d in all) passes %s: push a matching tag or relax the subscription's filters",
			s.repoURL, len(tags), s.describeFilters())
	}
	var refs []reference
	if s.strategy == v1alpha1.ImageSelectionStrategyNewestBuild {
		if refs, err = d.resolveAll(ctx, c, cands); err != nil {
			return nil, err
		}
		slices.SortStableFunc(refs, newestFirst)
		refs = refs[:min(len(refs), s.limit)]
	} else if refs, err = d.resolveBest(ctx, c, cands, s.limit); err != nil {
		return nil, err
	}
	if len(refs) == 0 {
		return nil, discovery.NewError(discovery.ErrNoMatch,
			"no tag of %s that passes the filters (%d in all) has an image for platform %s: "+
				"push images for that platform or change the subscription's platform", s.repoURL, len(cands), s.platform)
	}
	return refs, nil
}

// discoverDigest follows the mutable tag named by constraint. cacheByTag
// does not apply: the strategy exists because the tag moves.
func (d *Discoverer) discoverDigest(ctx context.Context, c *repoClient) ([]reference, error) {
	s := c.s
	ref, err := c.resolve(ctx, s.mutableTag, false)
	if isNotFound(err) {
		return nil, &discovery.Error{Kind: discovery.ErrNotFound, Err: err, Msg: fmt.Sprintf(
			"tag %q not found in %s (or the repository does not exist): push the tag, or set constraint to a tag that exists",
			s.mutableTag, s.repoURL)}
	}
	if err != nil {
		return nil, err
	}
	if ref == nil {
		return nil, discovery.NewError(discovery.ErrNoMatch,
			"the image tagged %q in %s has no image for platform %s: push one for that platform or change the subscription's platform",
			s.mutableTag, s.repoURL, s.platform)
	}
	return []reference{*ref}, nil
}

// resolveBest resolves tags, already in best-first order, until limit of
// them qualify. Each round resolves, concurrently, only as many tags as are
// still missing, so no request is spent on a tag beyond the limit unless
// an earlier one lacked the platform.
func (d *Discoverer) resolveBest(ctx context.Context, c *repoClient, tags []string, limit int) ([]reference, error) {
	out := make([]reference, 0, min(limit, len(tags)))
	for next := 0; next < len(tags) && len(out) < limit; {
		n := min(limit-len(out), len(tags)-next)
		batch, err := d.resolveTags(ctx, c, tags[next:next+n])
		if err != nil {
			return nil, err
		}
		next += n
		for _, r := range batch {
			if r != nil {
				out = append(out, *r)
			}
		}
	}
	return out, nil
}

// resolveAll resolves every tag and returns those that qualify.
func (d *Discoverer) resolveAll(ctx context.Context, c *repoClient, tags []string) ([]reference, error) {
	batch, err := d.resolveTags(ctx, c, tags)
	if err != nil {
		return nil, err
	}
	out := make([]reference, 0, len(batch))
	for _, r := range batch {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

// resolveTags resolves tags concurrently and returns, in the same order, a
// reference per tag or nil for a tag without the platform or deleted since
// the listing.
func (d *Discoverer) resolveTags(ctx context.Context, c *repoClient, tags []string) ([]*reference, error) {
	out := make([]*reference, len(tags))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, tag := range tags {
		g.Go(func() error {
			r, err := c.resolve(gctx, tag, c.s.cacheByTag)
			if isNotFound(err) {
				d.log.Debug("tag disappeared after the tag list was read; skipping it", "repoURL", c.s.repoURL, "tag", tag)
				return nil
			}
			out[i] = r
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// newestFirst orders references by build date, newest first, ties by the
// greater tag; images without a date go last.
func newestFirst(a, b reference) int {
	switch {
	case a.created == nil && b.created == nil:
	case a.created == nil:
		return 1
	case b.created == nil:
		return -1
	default:
		if c := b.created.Compare(*a.created); c != 0 {
			return c
		}
	}
	return strings.Compare(b.tag, a.tag)
}
