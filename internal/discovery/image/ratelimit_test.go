package image

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
	"github.com/caravan-dev/caravan/internal/testserver"
)

// fakeClock is a settable clock for the rate limiter.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func TestHostLimitsDelays(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	limits := newHostLimits(10, 2, clock.Now)
	type step struct {
		advance time.Duration
		host    string
		want    time.Duration
	}
	steps := []step{
		{0, "a.io", 0},                      // burst of 2 ...
		{0, "a.io", 0},                      //
		{0, "a.io", 100 * time.Millisecond}, // ... then 10/s
		{0, "a.io", 200 * time.Millisecond},
		{0, "b.io", 0}, // another host has its own bucket
		{time.Second, "a.io", 0},
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		_, got := limits.reserve(st.host)
		if got != st.want {
			t.Errorf("step %d (%s): delay %v, want %v", i, st.host, got, st.want)
		}
	}
}

func TestHostLimitsWaitHonoursContext(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	limits := newHostLimits(0.001, 1, clock.Now) // one request, then ~17 minutes
	if err := limits.wait(context.Background(), "a.io"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := limits.wait(ctx, "a.io"); !errors.Is(err, context.Canceled) {
		t.Fatalf("wait with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestNewDiscovererRateDefaults(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		wantLimit rate.Limit
		wantBurst int
	}{
		{"defaults", Options{}, DefaultRateLimit, 5 * DefaultRateLimit},
		{"rate only", Options{RateLimit: 2.5}, 2.5, 13},
		{"rate and burst", Options{RateLimit: 5, Burst: 1}, 5, 1},
		{"unlimited", Options{RateLimit: -1}, rate.Inf, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDiscoverer(tc.opts)
			lim := d.transport.(*limitedTransport).limits.limiter("r.io")
			if lim.Limit() != tc.wantLimit || lim.Burst() != tc.wantBurst {
				t.Errorf("limit %v burst %d, want %v and %d", lim.Limit(), lim.Burst(), tc.wantLimit, tc.wantBurst)
			}
			if d.insecureTransport.(*limitedTransport).limits != d.transport.(*limitedTransport).limits {
				t.Errorf("secure and insecure transports must share the per-host limiters")
			}
		})
	}
}

// TestRateLimitGatesRequests proves that every request passes the host's
// limiter: with one token and a refill of one per 100 s, a poll sends one
// request and then runs out of time waiting, with an error that says so.
func TestRateLimitGatesRequests(t *testing.T) {
	reg := testserver.NewRegistry(t, testserver.RegistryOptions{})
	reg.PushImage(t, "demo/app", "1.0.0", testserver.ImageSpec{})
	ct := newCountingTransport()
	d := NewDiscoverer(Options{RateLimit: 0.01, Burst: 1, Transport: ct, Logger: testLogger(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := d.Discover(ctx, &v1alpha1.ImageSubscription{RepoURL: reg.Repo("demo/app")}, nil)
	if !errors.Is(err, discovery.ErrUnreachable) || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("error = %v, want kind ErrUnreachable about the rate limit", err)
	}
	if reqs := ct.take(); len(reqs) != 1 {
		t.Errorf("%d requests sent, want 1 (the burst): %v", len(reqs), reqs)
	}
}
