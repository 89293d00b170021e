package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Stats counts the requests sent, by kind; safe for concurrent use.
type Stats struct {
	Requests, Retries, RateLimited atomic.Int64
	TagList, Head, ManifestGet     atomic.Int64
	BlobGet, Delete, Referrers     atomic.Int64
	Catalog, Auth                  atomic.Int64
	API                            atomic.Int64 // vendor API requests (vendor.go)
}

// StatsSnapshot is a copy of Stats.
type StatsSnapshot struct {
	Requests, Retries, RateLimited int64
	TagList, Head, ManifestGet     int64
	BlobGet, Delete, Referrers     int64
	Catalog, Auth                  int64
	API                            int64
}

// Snapshot copies s.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		Requests: s.Requests.Load(), Retries: s.Retries.Load(), RateLimited: s.RateLimited.Load(),
		TagList: s.TagList.Load(), Head: s.Head.Load(), ManifestGet: s.ManifestGet.Load(),
		BlobGet: s.BlobGet.Load(), Delete: s.Delete.Load(), Referrers: s.Referrers.Load(),
		Catalog: s.Catalog.Load(), Auth: s.Auth.Load(), API: s.API.Load(),
	}
}

func (s *Stats) count(r *http.Request) {
	s.Requests.Add(1)
	p := r.URL.Path
	switch {
	case r.Context().Value(vendorCtxKey{}) != nil:
		s.API.Add(1)
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

// The transport under authentication is a stack of small RoundTrippers,
// outermost first (newPacer builds it):
//
//	schemeGuard  refuses plain HTTP to non-loopback hosts unless allowed
//	retrier      retries transient failures: backoff with jitter
//	             (cenkalti/backoff), Retry-After, a dial failure only once
//	             (retry.go)
//	hostGate     per-host AIMD concurrency, Retry-After pause, rate cap
//	             (hostgate.go)
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
