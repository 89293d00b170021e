package registry

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"

	"github.com/regprune/regprune/internal/testnet"
)

// records keeps the log records a test's client writes.
type records struct {
	mu  sync.Mutex
	all []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// errAttr returns the "err" attribute of every record with message msg.
func (r *records) errAttr(msg string) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []error
	for _, rec := range r.all {
		if rec.Message != msg {
			continue
		}
		var e error
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				e, _ = a.Value.Any().(error)
			}
			return true
		})
		out = append(out, e)
	}
	return out
}

// A host that refuses connections gets one retry, not RetryPolicy.Max,
// and the error (returned and logged) is the refusal.
func TestRefusedConnectionRetriedOnce(t *testing.T) {
	addr := testnet.RefusedAddr(t) // connections are refused there

	rec := &records{}
	c, p, s := newTestClient(t, Options{Logger: slog.New(rec)})
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v2/", nil)
	_, err := p.RoundTrip(req)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err = %v, want connection refused", err)
	}
	st := c.Stats().Snapshot()
	if st.Requests != 2 || st.Retries != 1 || len(s.all()) != 1 {
		t.Errorf("requests %d, retries %d, waits %v; want 2 attempts, one retry", st.Requests, st.Retries, s.all())
	}
	for _, msg := range []string{"retrying", "request failed"} {
		errs := rec.errAttr(msg)
		if len(errs) != 1 || !errors.Is(errs[0], syscall.ECONNREFUSED) {
			t.Errorf("log %q: err attributes %v, want the refusal once", msg, errs)
		}
	}
}

// roundTripFunc is an http.RoundTripper in a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A host name that does not resolve is not retried. The resolver is a
// stand-in (no DNS here): the transport fails the dial as net/http does
// for NXDOMAIN.
func TestUnknownHostNotRetried(t *testing.T) {
	var attempts int
	nx := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		attempts++
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: r.URL.Hostname(), IsNotFound: true}}
	})
	c, p, s := newTestClient(t, Options{Transport: nx})
	req, _ := http.NewRequest(http.MethodGet, "https://registry.invalid/v2/", nil)
	_, err := p.RoundTrip(req)
	var dns *net.DNSError
	if !errors.As(err, &dns) || !dns.IsNotFound {
		t.Fatalf("err = %v, want the DNS error", err)
	}
	if attempts != 1 || c.Stats().Snapshot().Retries != 0 || len(s.all()) != 0 {
		t.Errorf("attempts %d, retries %d, waits %v; want one attempt", attempts, c.Stats().Snapshot().Retries, s.all())
	}
}

// A dial that times out (a host that drops packets) is retried once.
func TestDialTimeoutRetriedOnce(t *testing.T) {
	var attempts int
	slow := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		attempts++
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}}
	})
	_, p, _ := newTestClient(t, Options{Transport: slow})
	req, _ := http.NewRequest(http.MethodGet, "https://registry.example.com/v2/", nil)
	if _, err := p.RoundTrip(req); err == nil {
		t.Fatal("no error")
	}
	if attempts != 2 {
		t.Errorf("attempts %d, want 2", attempts)
	}
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
