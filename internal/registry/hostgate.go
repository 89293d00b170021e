package registry

import (
	"context"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// hostLimiter paces one host: a concurrency limit that halves on 429 and
// grows back by one per limit successes (AIMD), a pause honouring
// Retry-After for every request to the host, and an optional request
// rate cap (a golang.org/x/time/rate token bucket of burst 1).
//
// The AIMD limit is written here: no library at hand adjusts a
// concurrency limit from the answers (x/sync/semaphore and x/time/rate
// have fixed sizes and rates).
type hostLimiter struct {
	mu       sync.Mutex
	limit    float64
	max      float64
	inflight int
	wake     chan struct{}
	next     time.Time     // paused until (Retry-After)
	rate     *rate.Limiter // nil: no cap
	sleep    func(context.Context, time.Duration) error
}

func (h *hostLimiter) acquire(ctx context.Context) error {
	for {
		h.mu.Lock()
		if float64(h.inflight) < h.limit {
			h.inflight++
			now := time.Now()
			wait := h.next.Sub(now)
			var res *rate.Reservation
			if h.rate != nil {
				// Reserved under the lock, so slots are taken in order.
				res = h.rate.ReserveN(now, 1)
				wait = max(wait, res.DelayFrom(now))
			}
			h.mu.Unlock()
			if wait > 0 {
				if err := h.sleep(ctx, wait); err != nil {
					if res != nil {
						res.Cancel()
					}
					h.release()
					return err
				}
			}
			return nil
		}
		ch := h.wake
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

func (h *hostLimiter) release() {
	h.mu.Lock()
	h.inflight--
	close(h.wake)
	h.wake = make(chan struct{})
	h.mu.Unlock()
}

// throttled halves the limit and pauses the host for d.
func (h *hostLimiter) throttled(d time.Duration) {
	h.mu.Lock()
	h.limit = max(1, h.limit/2)
	if until := time.Now().Add(d); until.After(h.next) {
		h.next = until
	}
	h.mu.Unlock()
}

func (h *hostLimiter) succeeded() {
	h.mu.Lock()
	if h.limit < h.max {
		h.limit = min(h.max, h.limit+1/h.limit)
	}
	h.mu.Unlock()
}

// hostGate runs each attempt under its host's hostLimiter and tells the
// limiter how it went: a 429 throttles the host, an answer that is not an
// accident lets its limit grow.
type hostGate struct {
	next    http.RoundTripper
	retry   RetryPolicy
	maxConc int
	rps     float64

	mu    sync.Mutex
	sleep func(context.Context, time.Duration) error
	hosts map[string]*hostLimiter
}

func (g *hostGate) host(h string) *hostLimiter {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.hosts[h]
	if l == nil {
		l = &hostLimiter{limit: float64(g.maxConc), max: float64(g.maxConc), wake: make(chan struct{}), sleep: g.sleep}
		if g.rps > 0 {
			l.rate = rate.NewLimiter(rate.Limit(g.rps), 1)
		}
		g.hosts[h] = l
	}
	return l
}

func (g *hostGate) RoundTrip(req *http.Request) (*http.Response, error) {
	lim := g.host(req.URL.Host)
	if err := lim.acquire(req.Context()); err != nil {
		return nil, err
	}
	resp, err := g.next.RoundTrip(req)
	lim.release()
	switch {
	case err != nil:
	case resp.StatusCode == http.StatusTooManyRequests || rateLimited403(resp):
		// A Retry-After beyond MaxWait is capped like any wait, for the
		// host's pause too: one answer cannot stall the run.
		wait := min(rateLimitWait(resp.Header, time.Now()), g.retry.MaxWait)
		lim.throttled(max(wait, g.retry.Base))
	case !retryableStatus(resp.StatusCode):
		lim.succeeded()
	}
	return resp, err
}
