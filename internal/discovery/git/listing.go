package git

import (
	"context"
	"errors"
	"fmt"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
)

// maxListings bounds the listing cache; when full it starts over.
const maxListings = 1024

// listing is the outcome of one listing: the commits selected, or an
// ErrNoMatch error.
type listing struct {
	commits []v1alpha1.DiscoveredCommit
	err     error
}

// listed returns what list finds for key. A listing depends only on what
// key names — the mirror, the commit or tag objects listed, and the
// subscription's selection fields — which never change once written, so
// concurrent callers with the same key share one listing and later callers
// reuse it: N Warehouses with the same subscription cost one `git log`.
// Results of expressions that read the clock (now()) are shared but not
// kept. The listing runs to completion even if the caller that started it
// gives up; each caller stops waiting when its own ctx ends.
func (m *Mirrors) listed(ctx context.Context, key string, cacheable bool,
	list func(ctx context.Context) ([]v1alpha1.DiscoveredCommit, error)) ([]v1alpha1.DiscoveredCommit, error) {
	if cacheable {
		m.listingsMu.Lock()
		l, ok := m.listings[key]
		m.listingsMu.Unlock()
		if ok {
			return copyCommits(l.commits), l.err
		}
	}
	ch := m.listFlights.DoChan(key, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.timeout)
		defer cancel()
		m.stats.listings.Add(1)
		commits, err := list(lctx)
		if err != nil && !errors.Is(err, discovery.ErrNoMatch) {
			return nil, err
		}
		l := &listing{commits: commits, err: err}
		if cacheable {
			m.listingsMu.Lock()
			if len(m.listings) >= maxListings {
				clear(m.listings)
			}
			m.listings[key] = l
			m.listingsMu.Unlock()
		}
		return l, nil
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("list commits: %w", ctx.Err())
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		l := res.Val.(*listing)
		return copyCommits(l.commits), l.err
	}
}

// copyCommits returns a deep copy, so that callers never share a cached
// result.
func copyCommits(in []v1alpha1.DiscoveredCommit) []v1alpha1.DiscoveredCommit {
	if in == nil {
		return nil
	}
	out := make([]v1alpha1.DiscoveredCommit, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}
