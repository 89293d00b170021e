package registry

// Unit tests of the pacer (transport.go, retry.go, hostgate.go): Retry-After, which answers are
// retried, the bounded backoff, AIMD concurrency per host, the request
// rate cap, per-request and whole-run timeouts, TLS verification, plain
// HTTP refusal and Authorization on redirects.
//
// The servers here are httptest servers on 127.0.0.1 that answer the few
// distribution endpoints a test needs (GET /v2/ and one manifest or blob
// path). They stand in for registry behaviours the in-process distribution
// cannot produce on demand: a chosen status on the Nth request, a hung
// connection, a TLS certificate, a redirect to another host. Waits go
// through a fake sleep that records durations and returns at once; no
// test asserts a wall-clock time.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

const testDigest = "sha256:0123456789012345678901234567890123456789012345678901234567890123"

// sleeper records the waits the pacer asks for and returns at once.
type sleeper struct {
	mu     sync.Mutex
	waits  []time.Duration
	onWait func(time.Duration)
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	hook := s.onWait
	s.mu.Unlock()
	if hook != nil {
		hook(d)
	}
	return ctx.Err()
}

func (s *sleeper) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}

// newTestClient returns a Client whose pacer sleeps through s.
func newTestClient(t *testing.T, o Options) (*Client, *pacer, *sleeper) {
	t.Helper()
	c := New(o)
	p, ok := c.base.(*pacer)
	if !ok {
		t.Fatalf("client base is %T, want *pacer (no UserAgent in tests)", c.base)
	}
	s := &sleeper{}
	p.setSleep(s.sleep)
	return c, p, s
}

// fakeRegistry answers GET /v2/ with 200 (anonymous) and hands every other
// request to h, counting them.
type fakeRegistry struct {
	*httptest.Server
	hits atomic.Int64
}

func newFakeRegistry(t *testing.T, h http.HandlerFunc) *fakeRegistry {
	t.Helper()
	f := &fakeRegistry{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			w.WriteHeader(http.StatusOK)
			return
		}
		f.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRegistry) host() string { return strings.TrimPrefix(f.URL, "http://") }

func (f *fakeRegistry) open(t *testing.T, c *Client) *Repo {
	t.Helper()
	r, err := c.Open(context.Background(), f.host()+"/app", PullDelete)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return r
}

func registryError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"test answer"}]}`, code)
}

func manifestOK(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Content-Digest", testDigest)
	w.Header().Set("Content-Type", MediaOCIManifest)
	if r.Method == http.MethodDelete {
		w.WriteHeader(http.StatusAccepted)
	}
}

// hangUp closes the connection without an answer; with reset it sends a
// TCP RST (SO_LINGER 0), the "connection reset by peer" of a crashed proxy.
func hangUp(w http.ResponseWriter, reset bool) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"1.5", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},       // IMF-fixdate
		{now.Add(10 * time.Second).Format(time.RFC850), 10 * time.Second},           // obsolete RFC 850
		{now.Add(7 * time.Second).Format(time.ANSIC), 7 * time.Second},              // asctime
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},                          // in the past
		{now.In(time.FixedZone("X", 3600)).Format(time.RFC1123Z), 0},                // not an HTTP date
		{"Fri, 27 Nov 2026 12:00:30 GMT", 30 * time.Second},                         // literal
		{"Fri, 27 Nov 2026 12:00:00 GMT", 0},                                        // now
		{now.Add(48 * time.Hour).Format(http.TimeFormat), 48 * time.Hour},           // far: the caller caps it
		{now.Add(1500 * time.Millisecond).Format(http.TimeFormat), 1 * time.Second}, // second resolution
	} {
		if got := retryAfter(tc.in, now); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// 400, 401, 403, 404 and 405 are answers, not accidents: one request
// each, no retry, no wait, and the sentinel the status implies.
func TestClientErrorsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		want   error
	}{
		{http.StatusBadRequest, "UNSUPPORTED", ErrBadRequest},
		{http.StatusUnauthorized, "UNAUTHORIZED", ErrUnauthorized},
		{http.StatusForbidden, "DENIED", ErrDenied},
		{http.StatusNotFound, "MANIFEST_UNKNOWN", ErrNotFound},
		{http.StatusMethodNotAllowed, "UNSUPPORTED", ErrUnsupported},
	} {
		for _, method := range []string{http.MethodHead, http.MethodGet, http.MethodDelete} {
			t.Run(fmt.Sprintf("%d_%s", tc.status, method), func(t *testing.T) {
				f := newFakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
					registryError(w, tc.status, tc.code)
				})
				c, _, s := newTestClient(t, Options{})
				r := f.open(t, c)
				ctx := context.Background()
				var err error
				switch method {
				case http.MethodHead:
					_, err = r.Head(ctx, "latest")
				case http.MethodGet:
					_, _, err = r.GetManifest(ctx, testDigest)
				case http.MethodDelete:
					err = r.Delete(ctx, testDigest)
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if n := f.hits.Load(); n != 1 {
					t.Errorf("server saw %d requests, want 1 (no retry)", n)
				}
				st := c.Stats().Snapshot()
				if st.Retries != 0 || len(s.all()) != 0 {
					t.Errorf("retries %d, waits %v; want none", st.Retries, s.all())
				}
			})
		}
	}
}

// 408, 429, 5xx, dropped connections and resets are retried until an
// answer comes.
func TestTransientFailuresRetried(t *testing.T) {
	for _, fault := range []string{"408", "429", "500", "502", "503", "504", "drop", "reset"} {
		for _, method := range []string{http.MethodHead, http.MethodDelete} {
			t.Run(fault+"_"+method, func(t *testing.T) {
				var n atomic.Int64
				f := newFakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
					if n.Add(1) <= 2 {
						switch fault {
						case "drop":
							hangUp(w, false)
						case "reset":
							hangUp(w, true)
						default:
							var status int
							fmt.Sscan(fault, &status)
							if status == http.StatusTooManyRequests {
								w.Header().Set("Retry-After", "1")
							}
							registryError(w, status, "TEST")
						}
						return
					}
					manifestOK(w, r)
				})
				c, _, s := newTestClient(t, Options{})
				r := f.open(t, c)
				var err error
				if method == http.MethodHead {
					var d Descriptor
					d, err = r.Head(context.Background(), "latest")
					if err == nil && d.Digest != testDigest {
						t.Fatalf("digest %q", d.Digest)
					}
				} else {
					err = r.Delete(context.Background(), testDigest)
				}
				if err != nil {
					t.Fatalf("after two %s: %v", fault, err)
				}
				st := c.Stats().Snapshot()
				// net/http may itself resend a request on a reused
				// connection that was closed before answering, so a
				// dropped connection can cost the server one more hit than
				// the pacer's attempts.
				if st.Retries != 2 && !(fault == "drop" || fault == "reset") {
					t.Errorf("retries %d, want 2", st.Retries)
				}
				if st.Retries < 1 || st.Retries > 2 || len(s.all()) < int(st.Retries) {
					t.Errorf("retries %d, waits %v", st.Retries, s.all())
				}
				if fault == "429" && st.RateLimited < 1 {
					t.Errorf("rate limited %d", st.RateLimited)
				}
			})
		}
	}
}

// Retries stop after RetryPolicy.Max, and each backoff lies in
// [ceil/2, 3*ceil/2) of an exponential ceiling, capped by MaxWait.
func TestRetriesBounded(t *testing.T) {
	f := newFakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		registryError(w, http.StatusServiceUnavailable, "UNAVAILABLE")
	})
	base, maxWait := 100*time.Millisecond, 500*time.Millisecond
	c, _, s := newTestClient(t, Options{Retry: RetryPolicy{Max: 4, Base: base, MaxWait: maxWait}})
	r := f.open(t, c)
	_, err := r.Head(context.Background(), "latest")
	if !errors.Is(err, ErrServer) {
		t.Fatalf("err = %v, want ErrServer", err)
	}
	if n := f.hits.Load(); n != 5 {
		t.Fatalf("server saw %d requests, want 5 (1 + Max 4)", n)
	}
	waits := s.all()
	if len(waits) != 4 {
		t.Fatalf("waits %v, want 4", waits)
	}
	for k, w := range waits {
		ceil := min(base<<k, maxWait)
		if w < ceil/2 || w >= ceil+ceil/2 || w > maxWait+maxWait/2 {
			t.Errorf("wait %d = %v, want in [%v, %v)", k, w, ceil/2, ceil+ceil/2)
		}
	}
	// A large Max cannot overflow the shift into a negative ceiling.
	c2, _, s2 := newTestClient(t, Options{Retry: RetryPolicy{Max: 70, Base: time.Second, MaxWait: 2 * time.Second}})
	r2 := f.open(t, c2)
	if _, err := r2.Head(context.Background(), "latest"); !errors.Is(err, ErrServer) {
		t.Fatalf("err = %v", err)
	}
	for _, w := range s2.all() {
		if w <= 0 || w >= 3*time.Second {
			t.Fatalf("wait %v out of bounds", w)
		}
	}
}

// Retry-After is honoured as seconds and as an HTTP date, for the
// retrying request and as a pause of the whole host; a huge one is capped.
func TestRetryAfterHonoured(t *testing.T) {
	for _, tc := range []struct {
		name     string
		value    func() string
		min, max time.Duration
	}{
		{"seconds", func() string { return "3" }, 3 * time.Second, 3 * time.Second},
		// An HTTP date has second resolution: 5 s ahead is (4 s, 5 s].
		{"date", func() string { return time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat) }, 3 * time.Second, 5 * time.Second},
		{"capped", func() string { return "86400" }, 2 * time.Second, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			f := newFakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					w.Header().Set("Retry-After", tc.value())
					registryError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS")
					return
				}
				manifestOK(w, r)
			})
			c, _, s := newTestClient(t, Options{Retry: RetryPolicy{MaxWait: 2 * time.Second}})
			if tc.name != "capped" {
				c, _, s = newTestClient(t, Options{})
			}
			r := f.open(t, c)
			if _, err := r.Head(context.Background(), "latest"); err != nil {
				t.Fatal(err)
			}
			waits := s.all()
			// The retry's own wait, then (the fake sleep not advancing the
			// clock) what is left of the host's pause.
			if len(waits) < 1 || len(waits) > 2 {
				t.Fatalf("waits %v", waits)
			}
			if waits[0] < tc.min || waits[0] > tc.max {
				t.Errorf("wait %v, want in [%v, %v]", waits[0], tc.min, tc.max)
			}
			for _, w := range waits {
				if w > tc.max {
					t.Errorf("a wait of %v exceeds %v", w, tc.max)
				}
			}
		})
	}
}

// On 429 the host's concurrency halves (down to 1) and grows back by one
// per limit successes; another host is not slowed down.
func TestAIMDPerHost(t *testing.T) {
	var n atomic.Int64
	slow := newFakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 3 {
			registryError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS")
			return
		}
		manifestOK(w, r)
	})
	other := newFakeRegistry(t, manifestOK)
	c, p, _ := newTestClient(t, Options{Concurrency: 8})
	limit := func(f *fakeRegistry) float64 {
		h := p.host(f.host())
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.limit
	}
	rs, ro := slow.open(t, c), other.open(t, c)
	ctx := context.Background()
	if _, err := rs.Head(ctx, "latest"); err != nil {
		t.Fatal(err)
	}
	// 8 -> 4 -> 2 -> 1 on three 429s, then one success: 1 + 1/1.
	if got := limit(slow); got != 2 {
		t.Fatalf("limit after three 429s and a success = %v, want 2", got)
	}
	prev := limit(slow)
	for range 40 {
		if _, err := rs.Head(ctx, "latest"); err != nil {
			t.Fatal(err)
		}
		got := limit(slow)
		if got < prev || got > 8 {
			t.Fatalf("limit went from %v to %v", prev, got)
		}
		prev = got
	}
	if prev != 8 {
		t.Errorf("limit after 40 successes = %v, want back at 8", prev)
	}
	if _, err := ro.Head(ctx, "latest"); err != nil {
		t.Fatal(err)
	}
	if got := limit(other); got != 8 {
		t.Errorf("other host's limit = %v, want 8 (429s of one host slow only that host)", got)
	}
}

// The limit holds requests back: at limit 1, a second acquire waits for a
// release.
func TestHostLimiterBlocksAtLimit(t *testing.T) {
	s := &sleeper{}
	h := &hostLimiter{limit: 8, max: 8, wake: make(chan struct{}), sleep: s.sleep}
	for range 3 {
		h.throttled(0)
	}
	if h.limit != 1 {
		t.Fatalf("limit = %v, want 1", h.limit)
	}
	h.throttled(0)
	if h.limit != 1 {
		t.Fatalf("limit = %v, want it floored at 1", h.limit)
	}
	ctx := context.Background()
	if err := h.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.acquire(cctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("second acquire at limit 1 = %v, want it to wait (and see the cancel)", err)
	}
	go func() { done <- h.acquire(ctx) }()
	h.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	h.release()
}

// A registry shared with others that answers 429 beyond 2 requests in
// flight: the client backs off to what the registry takes and every
// request succeeds.
func TestAIMDAdaptsToSharedRegistry(t *testing.T) {
	var inflight, peak, served atomic.Int64
	f := newFakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		cur := inflight.Add(1)
		defer inflight.Add(-1)
		if cur > 2 {
			w.Header().Set("Retry-After", "1")
			registryError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS")
			return
		}
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond) // hold the slot a little
		served.Add(1)
		manifestOK(w, r)
	})
	c, p, s := newTestClient(t, Options{Concurrency: 8, Retry: RetryPolicy{Max: 50}})
	var minLimit atomic.Int64
	minLimit.Store(8)
	s.onWait = func(time.Duration) {
		h := p.host(f.host())
		h.mu.Lock()
		l := int64(h.limit)
		h.mu.Unlock()
		if l < minLimit.Load() {
			minLimit.Store(l)
		}
		time.Sleep(time.Millisecond) // let in-flight requests finish
	}
	r := f.open(t, c)
	const total = 48
	var wg sync.WaitGroup
	errs := make(chan error, total)
	for range total {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.Head(context.Background(), "latest")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := c.Stats().Snapshot()
	t.Logf("requests %d, 429s %d, retries %d, lowest limit %d, server peak %d", st.Requests, st.RateLimited, st.Retries, minLimit.Load(), peak.Load())
	if served.Load() != total {
		t.Fatalf("served %d, want %d", served.Load(), total)
	}
	if st.RateLimited == 0 || minLimit.Load() > 2 {
		t.Errorf("429s %d, lowest limit %d: want the limit cut to what the registry takes", st.RateLimited, minLimit.Load())
	}
}

// --max-requests-per-second reserves one start slot per 1/rps for the
// host, whether the requests come one after another or at once; another
// host has its own slots.
func TestRequestRateCap(t *testing.T) {
	f := newFakeRegistry(t, manifestOK)
	g := newFakeRegistry(t, manifestOK)
	c, _, s := newTestClient(t, Options{MaxRequestsPerSecond: 1})
	r := f.open(t, c) // the ping takes the host's first slots
	reset := func() {
		s.mu.Lock()
		s.waits = nil
		s.mu.Unlock()
	}
	reset()
	ctx := context.Background()
	for range 4 {
		if _, err := r.Head(ctx, "latest"); err != nil {
			t.Fatal(err)
		}
	}
	// The fake sleep does not advance the clock, so each request waits
	// for the next free slot: one second after the one before.
	spaced := func(what string, waits []time.Duration) {
		t.Helper()
		slices.Sort(waits)
		for k := 1; k < len(waits); k++ {
			if d := waits[k] - waits[k-1]; d < 500*time.Millisecond || d > time.Second {
				t.Errorf("%s: waits %v are not one slot (1 s) apart", what, waits)
				return
			}
		}
		if len(waits) > 0 && waits[0] <= 0 {
			t.Errorf("%s: first wait %v", what, waits[0])
		}
	}
	waits := s.all()
	if len(waits) != 4 {
		t.Fatalf("waits %v, want 4", waits)
	}
	spaced("sequential", waits)
	last := waits[len(waits)-1]

	// Concurrent requests share the slots.
	reset()
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Head(ctx, "latest"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	waits = s.all()
	if len(waits) != 6 {
		t.Fatalf("waits %v, want 6", waits)
	}
	spaced("concurrent", waits)
	if slices.Min(waits) <= last {
		t.Errorf("concurrent waits %v reuse slots of the sequential ones (last %v)", waits, last)
	}

	// Another host is not held back by this one's slots.
	reset()
	if _, err := g.open(t, c).Head(ctx, "latest"); err != nil {
		t.Fatal(err)
	}
	for _, w := range s.all() {
		if w > 3*time.Second {
			t.Errorf("other host waited %v, as if it shared the first host's slots", w)
		}
	}
}

// A hung registry cannot hang the run: each attempt is bounded by the
// per-request timeout and retried a bounded number of times, and the
// run's deadline stops everything at once.
func TestHungRegistryBounded(t *testing.T) {
	release := make(chan struct{})
	f := newFakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })

	c, _, _ := newTestClient(t, Options{RequestTimeout: 50 * time.Millisecond, Retry: RetryPolicy{Max: 2}})
	r := f.open(t, c)
	_, err := r.Head(context.Background(), "latest")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline", err)
	}
	if n := f.hits.Load(); n != 3 {
		t.Errorf("server saw %d requests, want 3 (timeouts are retried, boundedly)", n)
	}

	f.hits.Store(0)
	c2, _, _ := newTestClient(t, Options{}) // 60 s per request
	r2 := f.open(t, c2)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = r2.Head(ctx, "latest")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the run's deadline", err)
	}
	if n := f.hits.Load(); n != 1 {
		t.Errorf("server saw %d requests after the run's deadline, want 1 (no retry once the run is over)", n)
	}
}

// Plain HTTP goes only to loopback unless Insecure.
func TestPlainHTTPRefused(t *testing.T) {
	c, p, _ := newTestClient(t, Options{})
	for _, u := range []string{"http://registry.example.com/v2/", "http://10.1.2.3:5000/v2/", "http://[2001:db8::1]/v2/"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if _, err := p.RoundTrip(req); !errors.Is(err, ErrInsecure) {
			t.Errorf("GET %s: %v, want ErrInsecure", u, err)
		}
	}
	if c.Stats().Snapshot().Requests != 0 {
		t.Error("a refused request was sent")
	}
	for host, want := range map[string]bool{"localhost": true, "localhost:5000": true, "127.0.0.1:5000": true,
		"[::1]:5000": true, "127.9.9.9": true, "registry.example.com": false, "10.0.0.1": false, "localhost.example.com": false} {
		if got := IsLoopback(host); got != want {
			t.Errorf("IsLoopback(%q) = %v", host, got)
		}
	}
}

// TLS is verified unless Insecure.
func TestTLSVerification(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		manifestOK(w, r)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "https://")
	ctx := context.Background()

	_, err := New(Options{}).Open(ctx, host+"/app", Pull)
	var unknown x509.UnknownAuthorityError
	var verr *tls.CertificateVerificationError
	if err == nil || !(errors.As(err, &unknown) || errors.As(err, &verr)) {
		t.Fatalf("self-signed registry without Insecure: %v, want a certificate error", err)
	}

	r, err := New(Options{Insecure: true}).Open(ctx, host+"/app", Pull)
	if err != nil {
		t.Fatalf("with Insecure: %v", err)
	}
	if d, err := r.Head(ctx, "latest"); err != nil || d.Digest != testDigest {
		t.Fatalf("with Insecure: %v %v", d, err)
	}
	if tr := New(Options{}).base.(*pacer).inner.(*http.Transport); tr.TLSClientConfig.InsecureSkipVerify {
		t.Error("default transport skips TLS verification")
	}
}

type staticKeychain map[string]authn.Authenticator

func (k staticKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if a, ok := k[r.RegistryStr()]; ok {
		return a, nil
	}
	return authn.Anonymous, nil
}

// A registry that redirects blob downloads to storage on another host
// (S3, a CDN): the credentials go to the registry, never to the storage.
func TestNoAuthorizationAcrossHosts(t *testing.T) {
	blob := []byte(`{"architecture":"amd64","os":"linux"}`)
	digest := Sha256(blob)
	var storageAuth, storageHits atomic.Int64
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		storageHits.Add(1)
		if r.Header.Get("Authorization") != "" {
			storageAuth.Add(1)
		}
		w.Write(blob)
	}))
	defer storage.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(storage.URL, "http://"))

	var registryAuth, blobGets atomic.Int64
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "alice" || pass != "s3cret-pw" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			registryError(w, http.StatusUnauthorized, "UNAUTHORIZED")
			return
		}
		registryAuth.Add(1)
		if strings.Contains(r.URL.Path, "/blobs/") {
			// First the same IP on another port, then the same storage
			// spelt "localhost".
			target := storage.URL
			if blobGets.Add(1) > 1 {
				target = "http://localhost:" + port
			}
			http.Redirect(w, r, target+"/data?sig=x", http.StatusTemporaryRedirect)
		}
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	c := New(Options{Keychain: staticKeychain{host: &authn.Basic{Username: "alice", Password: "s3cret-pw"}}})
	r, err := c.Open(context.Background(), host+"/app", Pull)
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.GetBlob(context.Background(), digest, 1<<20)
	if err != nil || string(got) != string(blob) {
		t.Fatalf("blob via redirect: %q %v", got, err)
	}
	if _, err := r.GetBlob(context.Background(), digest, 1<<20); err != nil {
		t.Fatalf("blob via redirect to localhost: %v", err)
	}
	if registryAuth.Load() < 2 {
		t.Fatalf("the registry saw credentials %d times; the test proves nothing", registryAuth.Load())
	}
	if storageHits.Load() != 2 || storageAuth.Load() != 0 {
		t.Fatalf("storage: %d requests, %d with Authorization; want 2 and 0", storageHits.Load(), storageAuth.Load())
	}
}

// An error never carries a credential, even when a registry echoes the
// Authorization header back in its error message.
func TestErrorsRedactEchoedCredentials(t *testing.T) {
	const pass = "hunter2-very-secret"
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get("Authorization")
		if a == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			registryError(w, http.StatusUnauthorized, "UNAUTHORIZED")
			return
		}
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"errors":[{"code":"DENIED","message":"credential %s may not delete"}]}`, a)
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	c := New(Options{Keychain: staticKeychain{host: &authn.Basic{Username: "bob", Password: pass}}})
	r, err := c.Open(context.Background(), host+"/app", PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Delete(context.Background(), testDigest)
	if !errors.Is(err, ErrDenied) {
		t.Fatalf("err = %v", err)
	}
	basic := "Ym9iOmh1bnRlcjItdmVyeS1zZWNyZXQ=" // base64("bob:hunter2-very-secret")
	if msg := err.Error(); strings.Contains(msg, basic) || strings.Contains(msg, pass) {
		t.Fatalf("error leaks the credential: %s", msg)
	}
	if !strings.Contains(err.Error(), "redacted") {
		t.Errorf("error %q: want the echoed credential marked redacted", err)
	}
}
