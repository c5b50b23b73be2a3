package image

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// hostLimits holds one token-bucket limiter per registry host, shared by
// every subscription (and so every Warehouse) that polls the host.
type hostLimits struct {
	limit rate.Limit
	burst int
	clock func() time.Time

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

func newHostLimits(rps float64, burst int, clock func() time.Time) *hostLimits {
	l := &hostLimits{limit: rate.Limit(rps), burst: burst, clock: clock, limiters: map[string]*rate.Limiter{}}
	if rps < 0 {
		l.limit = rate.Inf
	}
	return l
}

func (l *hostLimits) limiter(host string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.limiters[host]
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.limiters[host] = lim
	}
	return lim
}

// reserve takes one request's token for host at the clock's now and
// returns how long the request must wait for it.
func (l *hostLimits) reserve(host string) (*rate.Reservation, time.Duration) {
	now := l.clock()
	r := l.limiter(host).ReserveN(now, 1)
	return r, r.DelayFrom(now)
}

// wait blocks until a request to host may be sent, or ctx ends.
func (l *hostLimits) wait(ctx context.Context, host string) error {
	r, delay := l.reserve(host)
	if !r.OK() {
		return fmt.Errorf("rate limit registry %s: burst is 0", host)
	}
	if delay <= 0 {
		return nil
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.CancelAt(l.clock())
		return ctx.Err()
	}
}

// limitedTransport sends each request once its host's limiter allows it.
type limitedTransport struct {
	limits *hostLimits
	next   http.RoundTripper
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.limits.wait(req.Context(), req.URL.Host); err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on error
		}
		return nil, &rateWaitError{host: req.URL.Host, err: err}
	}
	return t.next.RoundTrip(req)
}

// rateWaitError is a request that never left because its context ended
// while it waited for the host's rate limiter.
type rateWaitError struct {
	host string
	err  error
}

func (e *rateWaitError) Error() string {
	return fmt.Sprintf("wait for the rate limit of registry %s: %v", e.host, e.err)
}

func (e *rateWaitError) Unwrap() error { return e.err }
