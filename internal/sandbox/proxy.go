package sandbox

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// ProxyOptions configures the latency and faults a Proxy injects.
type ProxyOptions struct {
	// Latency is added before forwarding every request (faulted ones too).
	Latency time.Duration
	// Rate429 is the fraction of requests answered 429 TOOMANYREQUESTS
	// with a Retry-After header.
	Rate429 float64
	// RetryAfter is the Retry-After value of a 429; "" means "1".
	RetryAfter string
	// Rate503 is the fraction of requests answered 503 UNAVAILABLE.
	Rate503 float64
	// RateDrop is the fraction of requests whose connection is closed
	// without an answer.
	RateDrop float64
	// Seed seeds the fault sequence: with the same Seed and the same order
	// of requests, the same requests fail.
	Seed int64
	// FaultMethods limits faults to these methods (e.g. "DELETE"); nil
	// means all methods. Requests of other methods draw no random number.
	FaultMethods []string
	// Intercept, if set, sees every request after it is counted; when it
	// returns true it has answered the request itself and nothing is
	// forwarded (e.g. a 404 for one tag's HEAD).
	Intercept func(w http.ResponseWriter, r *http.Request) bool
	// Rewrite, if set, may change each response of the registry before
	// it is returned (e.g. strip Link headers, as some registries never
	// send them).
	Rewrite func(resp *http.Response) error
}

// StripLink is a ProxyOptions.Rewrite that removes Link headers: the
// registry then answers tag lists and catalogs like go-containerregistry's
// registry does, with full pages and no Link.
func StripLink(resp *http.Response) error {
	resp.Header.Del("Link")
	return nil
}

// Counts are the requests that reached a Proxy, by kind, faulted ones
// included.
type Counts struct {
	Total          int
	TagList        int // GET /v2/<name>/tags/list
	ManifestHEAD   int // HEAD /v2/<name>/manifests/<ref>
	ManifestGET    int // GET /v2/<name>/manifests/<ref>
	ManifestDELETE int // DELETE /v2/<name>/manifests/<ref>
	BlobGET        int // GET /v2/<name>/blobs/<digest>
	Referrers      int // any /v2/<name>/referrers/<digest>
	Catalog        int // any /v2/_catalog
	Other          int // everything else (ping, PUTs, uploads, blob HEADs...)
	Faulted        int // answered 429/503 or dropped by the proxy
}

// Proxy is a reverse proxy on 127.0.0.1 in front of a registry that counts
// requests and injects latency and faults. It forwards paths, query
// strings and headers unchanged and keeps the client's Host header, so
// absolute URLs the registry builds (upload Locations) point back at the
// proxy and relative Link headers keep working.
type Proxy struct {
	// Host is "127.0.0.1:PORT".
	Host string
	// URL is "http://127.0.0.1:PORT".
	URL string

	target *url.URL
	srv    *http.Server
	done   chan struct{}
	rp     *httputil.ReverseProxy
	tr     *http.Transport

	mu     sync.Mutex
	opts   ProxyOptions
	rng    *rand.Rand
	counts Counts
	auth   map[string]bool // Authorization values seen
}

// NewProxy starts a proxy in front of target (a URL such as Registry.URL).
func NewProxy(target string, o ProxyOptions) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	if u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("registrytest: proxy target %q is not an absolute URL", target)
	}
	p := &Proxy{target: u, done: make(chan struct{})}
	p.setOptions(o)
	p.tr = http.DefaultTransport.(*http.Transport).Clone()
	// Keep enough idle connections for a client at concurrency 8 and
	// more, so that the proxy measures the registry, not reconnects.
	p.tr.MaxIdleConns = 256
	p.tr.MaxIdleConnsPerHost = 64
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		Transport: p.tr,
		ErrorLog:  discardLogger(),
		ModifyResponse: func(resp *http.Response) error {
			p.mu.Lock()
			rw := p.opts.Rewrite
			p.mu.Unlock()
			if rw == nil {
				return nil
			}
			return rw(resp)
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.Host = ln.Addr().String()
	p.URL = "http://" + p.Host
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second, ErrorLog: discardLogger()}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	<-p.done
	p.tr.CloseIdleConnections()
	return err
}

// Counts returns a snapshot of the request counts.
func (p *Proxy) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts
}

// Reset zeroes the counts and restarts the fault sequence from Seed.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = Counts{}
	p.rng = rand.New(rand.NewSource(p.opts.Seed))
}

// SetOptions changes latency and faults from the next request on and
// restarts the fault sequence from o.Seed. Counts are kept.
func (p *Proxy) SetOptions(o ProxyOptions) { p.setOptions(o) }

func (p *Proxy) setOptions(o ProxyOptions) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o.FaultMethods = slices.Clone(o.FaultMethods)
	p.opts = o
	p.rng = rand.New(rand.NewSource(o.Seed))
}

type fault int

const (
	faultNone fault = iota
	fault429
	fault503
	faultDrop
)

// classify sorts a request into its Counts kind and counts it; it then
// draws the fault for it.
func (p *Proxy) classify(r *http.Request) (time.Duration, fault, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := &p.counts
	c.Total++
	path := r.URL.Path
	switch {
	case path == "/v2/_catalog" || strings.HasPrefix(path, "/v2/_catalog/"):
		c.Catalog++
	case strings.HasPrefix(path, "/v2/") && strings.HasSuffix(path, "/tags/list"):
		if r.Method == http.MethodGet {
			c.TagList++
		} else {
			c.Other++
		}
	case strings.HasPrefix(path, "/v2/") && strings.Contains(path, "/referrers/"):
		c.Referrers++
	case strings.HasPrefix(path, "/v2/") && strings.Contains(path, "/manifests/"):
		switch r.Method {
		case http.MethodHead:
			c.ManifestHEAD++
		case http.MethodGet:
			c.ManifestGET++
		case http.MethodDelete:
			c.ManifestDELETE++
		default:
			c.Other++
		}
	case strings.HasPrefix(path, "/v2/") && strings.Contains(path, "/blobs/") && !strings.Contains(path, "/blobs/uploads"):
		if r.Method == http.MethodGet {
			c.BlobGET++
		} else {
			c.Other++
		}
	default:
		c.Other++
	}

	o := p.opts
	f := faultNone
	if o.FaultMethods == nil || slices.Contains(o.FaultMethods, r.Method) {
		if o.Rate429 > 0 || o.Rate503 > 0 || o.RateDrop > 0 {
			u := p.rng.Float64()
			switch {
			case u < o.Rate429:
				f = fault429
			case u < o.Rate429+o.Rate503:
				f = fault503
			case u < o.Rate429+o.Rate503+o.RateDrop:
				f = faultDrop
			}
		}
	}
	if f != faultNone {
		c.Faulted++
	}
	retryAfter := o.RetryAfter
	if retryAfter == "" {
		retryAfter = "1"
	}
	return o.Latency, f, retryAfter
}

func writeRegistryError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]string{{"code": code, "message": msg}},
	})
}

// Credentials returns the credential part of every Authorization header
// the proxy has seen (Bearer tokens, Basic values and what they decode
// to, and each JWT's signature on its own), so that tests can assert that
// none of them leaks into output, logs or files. Reset does not clear it.
func (p *Proxy) Credentials() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for a := range p.auth {
		_, cred, _ := strings.Cut(a, " ")
		out = append(out, cred)
		if parts := strings.Split(cred, "."); len(parts) == 3 {
			out = append(out, parts[2])
		}
		if b, err := base64.StdEncoding.DecodeString(cred); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a := r.Header.Get("Authorization"); a != "" {
		p.mu.Lock()
		if p.auth == nil {
			p.auth = map[string]bool{}
		}
		p.auth[a] = true
		p.mu.Unlock()
	}
	latency, f, retryAfter := p.classify(r)
	p.mu.Lock()
	intercept := p.opts.Intercept
	p.mu.Unlock()
	if intercept != nil && intercept(w, r) {
		return
	}
	if latency > 0 {
		if err := sleepCtx(r.Context(), latency); err != nil {
			return
		}
	}
	switch f {
	case fault429:
		w.Header().Set("Retry-After", retryAfter)
		writeRegistryError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", "registrytest proxy: too many requests")
		return
	case fault503:
		writeRegistryError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "registrytest proxy: service unavailable")
		return
	case faultDrop:
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		_ = conn.Close()
		return
	}
	p.rp.ServeHTTP(w, r)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
