package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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
// grows back by one per limit successes (AIMD), an optional request rate
// cap, and a pause honouring Retry-After for every request to the host.
type hostLimiter struct {
	mu       sync.Mutex
	limit    float64
	max      float64
	inflight int
	wake     chan struct{}
	next     time.Time     // earliest start of the next request
	interval time.Duration // 1/rps, 0 = no cap
	sleep    func(context.Context, time.Duration) error
}

func (h *hostLimiter) acquire(ctx context.Context) error {
	for {
		h.mu.Lock()
		if float64(h.inflight) < h.limit {
			h.inflight++
			now := time.Now()
			wait := h.next.Sub(now)
			if h.next.Before(now) {
				h.next = now
			}
			h.next = h.next.Add(h.interval)
			h.mu.Unlock()
			if wait > 0 {
				if err := h.sleep(ctx, wait); err != nil {
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

// pacer is the transport under authentication: it refuses plain HTTP to
// non-loopback hosts unless allowed, paces each host, retries transient
// failures with backoff and jitter, and counts requests.
type pacer struct {
	inner    http.RoundTripper
	insecure bool
	retry    RetryPolicy
	maxConc  int
	rps      float64
	timeout  time.Duration
	stats    *Stats
	log      *slog.Logger
	sleep    func(context.Context, time.Duration) error

	mu    sync.Mutex
	hosts map[string]*hostLimiter
}

func (p *pacer) host(h string) *hostLimiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.hosts[h]
	if l == nil {
		l = &hostLimiter{limit: float64(p.maxConc), max: float64(p.maxConc), wake: make(chan struct{}), sleep: p.sleep}
		if p.rps > 0 {
			l.interval = time.Duration(float64(time.Second) / p.rps)
		}
		p.hosts[h] = l
	}
	return l
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

func (p *pacer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !p.insecure && !IsLoopback(req.URL.Host) {
		return nil, fmt.Errorf("%w: http://%s is not a loopback address; use --insecure to allow it", ErrInsecure, req.URL.Host)
	}
	lim := p.host(req.URL.Host)
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		if err := lim.acquire(ctx); err != nil {
			return nil, err
		}
		try := req
		if attempt > 0 {
			try = req.Clone(ctx)
			if req.GetBody != nil {
				b, err := req.GetBody()
				if err != nil {
					lim.release()
					return nil, err
				}
				try.Body = b
			}
		}
		p.stats.count(try)
		resp, err := p.send(try)
		lim.release()

		wait, retryable := time.Duration(0), false
		switch {
		case err != nil:
			retryable = transientNetError(ctx, err)
		case resp.StatusCode == http.StatusTooManyRequests:
			p.stats.RateLimited.Add(1)
			retryable = true
			// A Retry-After beyond MaxWait is capped like any wait, for
			// the host's pause too: one answer cannot stall the run.
			wait = min(retryAfter(resp.Header.Get("Retry-After"), time.Now()), p.retry.MaxWait)
			lim.throttled(max(wait, p.retry.Base))
		case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusInternalServerError,
			resp.StatusCode == http.StatusBadGateway, resp.StatusCode == http.StatusServiceUnavailable,
			resp.StatusCode == http.StatusGatewayTimeout:
			retryable = true
			wait = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		default:
			lim.succeeded()
			return resp, nil
		}
		if !retryable || attempt >= p.retry.Max || (req.Body != nil && req.GetBody == nil) {
			return resp, err
		}
		if wait <= 0 {
			// Jitter over an exponential ceiling: [ceil/2, 3*ceil/2).
			ceil := p.retry.Base << min(attempt, 20)
			if ceil <= 0 || ceil > p.retry.MaxWait {
				ceil = p.retry.MaxWait
			}
			wait = time.Duration(rand.Int64N(int64(ceil))) + ceil/2
		}
		wait = min(wait, p.retry.MaxWait)
		what := "error"
		if resp != nil {
			what = resp.Status
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		p.stats.Retries.Add(1)
		p.log.Debug("retrying", "method", req.Method, "path", req.URL.Path, "after", what, "wait", wait, "attempt", attempt+1)
		if err := p.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// send applies the per-request timeout to the round trip and the body read.
func (p *pacer) send(req *http.Request) (*http.Response, error) {
	if p.timeout <= 0 {
		return p.inner.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), p.timeout)
	resp, err := p.inner.RoundTrip(req.WithContext(ctx))
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
