package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	"golang.org/x/time/rate"
)

// RetryPolicy bounds retries of transient failures.
type RetryPolicy struct {
	Max     int           // retries after the first attempt; default 6
	Base    time.Duration // first backoff; default 200ms
	MaxWait time.Duration // cap on one wait, Retry-After included; default 30s
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Max == 0 {
		p.Max = 6
	}
	if p.Base == 0 {
		p.Base = 200 * time.Millisecond
	}
	if p.MaxWait == 0 {
		p.MaxWait = 30 * time.Second
	}
	return p
}

// Stats counts the requests sent, by kind; safe for concurrent use.
type Stats struct {
	Requests, Retries, RateLimited atomic.Int64
	TagList, Head, ManifestGet     atomic.Int64
	BlobGet, Delete, Referrers     atomic.Int64
	Catalog, Auth                  atomic.Int64
}

// StatsSnapshot is a copy of Stats.
type StatsSnapshot struct {
	Requests, Retries, RateLimited int64
	TagList, Head, ManifestGet     int64
	BlobGet, Delete, Referrers     int64
	Catalog, Auth                  int64
}

// Snapshot copies s.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		Requests: s.Requests.Load(), Retries: s.Retries.Load(), RateLimited: s.RateLimited.Load(),
		TagList: s.TagList.Load(), Head: s.Head.Load(), ManifestGet: s.ManifestGet.Load(),
		BlobGet: s.BlobGet.Load(), Delete: s.Delete.Load(), Referrers: s.Referrers.Load(),
		Catalog: s.Catalog.Load(), Auth: s.Auth.Load(),
	}
}

func (s *Stats) count(r *http.Request) {
	s.Requests.Add(1)
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/tags/list"):
		s.TagList.Add(1)
	case strings.HasSuffix(p, "/_catalog"):
		s.Catalog.Add(1)
	case strings.Contains(p, "/referrers/"):
		s.Referrers.Add(1)
	case r.Method == http.MethodDelete:
		s.Delete.Add(1)
	case strings.Contains(p, "/manifests/") && r.Method == http.MethodHead:
		s.Head.Add(1)
	case strings.Contains(p, "/manifests/"):
		s.ManifestGet.Add(1)
	case strings.Contains(p, "/blobs/"):
		s.BlobGet.Add(1)
	case !strings.HasPrefix(p, "/v2"):
		s.Auth.Add(1)
	}
}

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

// The transport under authentication is a stack of small RoundTrippers,
// outermost first (newPacer builds it):
//
//	schemeGuard  refuses plain HTTP to non-loopback hosts unless allowed
//	retrier      retries transient failures: backoff with jitter
//	             (cenkalti/backoff), Retry-After, a dial failure only once
//	hostGate     per-host AIMD concurrency, Retry-After pause, rate cap
//	counter      counts every attempt by kind (Stats)
//	timeout      bounds one attempt, the body read included
//	inner        the http.Transport
//
// Each layer sees every attempt of the layer above it.

// pacer holds the stack and its parts (for the tests).
type pacer struct {
	http.RoundTripper // the outermost layer
	inner             http.RoundTripper
	gate              *hostGate
	retry             *retrier
}

// pacerOptions configure newPacer.
type pacerOptions struct {
	insecure bool
	retry    RetryPolicy
	maxConc  int
	rps      float64
	timeout  time.Duration
	stats    *Stats
	log      *slog.Logger
}

func newPacer(inner http.RoundTripper, o pacerOptions) *pacer {
	var rt http.RoundTripper = inner
	if o.timeout > 0 {
		rt = &timeoutTransport{next: rt, timeout: o.timeout}
	}
	rt = &counter{next: rt, stats: o.stats}
	gate := &hostGate{next: rt, retry: o.retry, maxConc: o.maxConc, rps: o.rps, sleep: sleepCtx, hosts: map[string]*hostLimiter{}}
	r := &retrier{next: gate, retry: o.retry, stats: o.stats, log: o.log, sleep: sleepCtx}
	return &pacer{RoundTripper: &schemeGuard{next: r, insecure: o.insecure}, inner: inner, gate: gate, retry: r}
}

// host returns the limiter of host h.
func (p *pacer) host(h string) *hostLimiter { return p.gate.host(h) }

// setSleep replaces the sleep of every layer that waits.
func (p *pacer) setSleep(f func(context.Context, time.Duration) error) {
	p.gate.mu.Lock()
	p.gate.sleep = f
	p.gate.mu.Unlock()
	p.retry.sleep = f
}

// IsLoopback reports whether host (with or without port) is localhost or a
// loopback address.
func IsLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// schemeGuard refuses plain HTTP to a host that is not loopback, unless
// insecure.
type schemeGuard struct {
	next     http.RoundTripper
	insecure bool
}

func (g *schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure && !IsLoopback(req.URL.Host) {
		return nil, fmt.Errorf("%w: http://%s is not a loopback address; use --insecure to allow it", ErrInsecure, req.URL.Host)
	}
	return g.next.RoundTrip(req)
}

// retryableStatus reports the answers that are accidents, worth another
// attempt: 408, 429 and the 5xx of an overloaded or restarting server.
func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
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
	case resp.StatusCode == http.StatusTooManyRequests:
		// A Retry-After beyond MaxWait is capped like any wait, for the
		// host's pause too: one answer cannot stall the run.
		wait := min(retryAfter(resp.Header.Get("Retry-After"), time.Now()), g.retry.MaxWait)
		lim.throttled(max(wait, g.retry.Base))
	case !retryableStatus(resp.StatusCode):
		lim.succeeded()
	}
	return resp, err
}

// retrier retries transient failures (see retryableStatus and
// transientNetError) up to RetryPolicy.Max times, waiting Retry-After or
// an exponential backoff with jitter, [ceil/2, 3*ceil/2) of a ceiling
// that doubles from Base up to MaxWait. A host that cannot be reached
// (refused, unknown, dial timeout) gets one retry, not Max: waiting longer
// rarely helps and hides the cause.
type retrier struct {
	next  http.RoundTripper
	retry RetryPolicy
	stats *Stats
	log   *slog.Logger
	sleep func(context.Context, time.Duration) error
}

func (p *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	bo := &backoff.ExponentialBackOff{
		InitialInterval: p.retry.Base, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: p.retry.MaxWait,
	}
	limit := p.retry.Max
	for attempt := 0; ; attempt++ {
		try := req
		if attempt > 0 {
			try = req.Clone(ctx)
			if req.GetBody != nil {
				b, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				try.Body = b
			}
		}
		resp, err := p.next.RoundTrip(try)

		wait, retryable := time.Duration(0), false
		switch {
		case err != nil:
			retryable = transientNetError(ctx, err)
			if unreachable(err) {
				// One retry at most, and none for a name that does
				// not exist.
				retryable = ctx.Err() == nil && !notFoundHost(err)
				limit = min(limit, 1)
			}
		case retryableStatus(resp.StatusCode):
			retryable = true
			wait = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		default:
			return resp, nil
		}
		if !retryable || attempt >= limit || (req.Body != nil && req.GetBody == nil) {
			if err != nil {
				p.log.Debug("request failed", "method", req.Method, "host", req.URL.Host, "path", req.URL.Path, "attempts", attempt+1, "err", err)
			}
			return resp, err
		}
		backoffWait := bo.NextBackOff()
		if wait <= 0 {
			wait = backoffWait
		}
		wait = min(wait, p.retry.MaxWait)
		what := "error"
		if resp != nil {
			what = resp.Status
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		p.stats.Retries.Add(1)
		if err != nil {
			p.log.Debug("retrying", "method", req.Method, "host", req.URL.Host, "path", req.URL.Path, "after", what, "err", err, "wait", wait, "attempt", attempt+1)
		} else {
			p.log.Debug("retrying", "method", req.Method, "path", req.URL.Path, "after", what, "wait", wait, "attempt", attempt+1)
		}
		if err := p.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// unreachable reports a failure to connect: the dial failed (refused,
// timed out, no route) or the host name did not resolve.
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &dns)
}

// notFoundHost reports a host name that does not exist (NXDOMAIN): no
// retry helps.
func notFoundHost(err error) bool {
	var dns *net.DNSError
	return errors.As(err, &dns) && dns.IsNotFound
}

// counter counts every attempt by kind, and the 429s.
type counter struct {
	next  http.RoundTripper
	stats *Stats
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.stats.count(req)
	resp, err := c.next.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		c.stats.RateLimited.Add(1)
	}
	return resp, err
}

// timeoutTransport bounds one attempt, the round trip and the body read.
type timeoutTransport struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error { err := b.ReadCloser.Close(); b.cancel(); return err }

func transientNetError(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// retryAfter parses Retry-After as seconds or an HTTP date; 0 if absent.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
