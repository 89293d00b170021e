package registry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
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
		case retryableStatus(resp.StatusCode) || rateLimited403(resp):
			retryable = true
			wait = rateLimitWait(resp.Header, time.Now())
		default:
			return resp, nil
		}
		if retryable && sentAttempt(err, resp) {
			markLost(ctx)
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

// sentAttempt reports whether a retryable failure of an attempt reached
// the server, which may have carried it out: its connection broke or
// timed out after the request went (not a failed dial), or the server
// answered 5xx (a gateway may have forwarded it). 408 and 429 say the
// request was not processed.
func sentAttempt(err error, resp *http.Response) bool {
	if err != nil {
		return !unreachable(err)
	}
	return resp.StatusCode >= 500
}

// lostKey carries a *atomic.Bool in a request's context: the retrier sets
// it when an attempt that was sent failed retryably (see sentAttempt), so
// that the caller can read a 404 to a retry as that attempt's doing, and
// a final failure as one the registry may have carried out.
type lostKey struct{}

// withLost returns ctx, carrying a flag the retrier sets when an attempt
// of the request was sent and its answer lost.
func withLost(ctx context.Context) (context.Context, *atomic.Bool) {
	lost := new(atomic.Bool)
	return context.WithValue(ctx, lostKey{}, lost), lost
}

// settleLost reads a DELETE's outcome when an attempt of it may have
// reached the registry and lost its answer (lost, from withLost): a 404 to
// the retry is that attempt's doing (earlier is true: deleted, by this
// call, so the journal keeps it for restore), and any other failure after
// such an attempt matches ErrAnswerLost. Without a lost attempt, err is
// returned as it is. v2 and vendor API deletes share it.
func settleLost(lost *atomic.Bool, err error) (earlier bool, _ error) {
	switch {
	case err == nil || !lost.Load():
		return false, err
	case errors.Is(err, ErrNotFound):
		return true, nil
	}
	return false, answerLost{err}
}

func markLost(ctx context.Context) {
	if lost, ok := ctx.Value(lostKey{}).(*atomic.Bool); ok {
		lost.Store(true)
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

// rateLimited403 reports a 403 that is a rate limit, not a denial: GitHub
// answers its primary and secondary limits with 403 and retry-after, or
// x-ratelimit-remaining: 0.
func rateLimited403(resp *http.Response) bool {
	return resp.StatusCode == http.StatusForbidden &&
		(resp.Header.Get("Retry-After") != "" || strings.TrimSpace(resp.Header.Get("X-RateLimit-Remaining")) == "0")
}

// rateLimitWait is how long an answer asks to wait: Retry-After (seconds
// or a date), else Docker Hub's X-Retry-After (a Unix time), else, once
// X-RateLimit-Remaining is 0, X-RateLimit-Reset (a Unix time, as GitHub
// and Docker Hub send it); 0 if none says.
func rateLimitWait(h http.Header, now time.Time) time.Duration {
	if d := retryAfter(h.Get("Retry-After"), now); d > 0 {
		return d
	}
	unix := func(v string) time.Duration {
		s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || s <= 0 {
			return 0
		}
		return max(time.Unix(s, 0).Sub(now), 0)
	}
	if v := h.Get("X-Retry-After"); v != "" {
		return unix(v)
	}
	if strings.TrimSpace(h.Get("X-RateLimit-Remaining")) == "0" {
		return unix(h.Get("X-RateLimit-Reset"))
	}
	return 0
}
