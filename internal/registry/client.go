// Package registry is the only package of regprune that speaks HTTP to
// registries. It uses go-containerregistry for names, credentials and the
// token handshake (including refreshing a Bearer token that expires
// mid-run), and issues the distribution API requests itself so that every
// request is counted, paced, retried when transient and never repeated.
package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/regprune/regprune/internal/digest"
	"github.com/regprune/regprune/internal/graph"
)

// Media types regprune accepts for manifests: always the full list, since
// distribution answers 404 for an OCI manifest when its type is not
// accepted, and a child's digest for a manifest list when only the Docker
// v2 type is.
// The types themselves are graph's (graph/mediatype.go), in one place.
const (
	MediaOCIIndex     = graph.MediaOCIIndex
	MediaOCIManifest  = graph.MediaOCIManifest
	MediaDockerList   = graph.MediaDockerList
	MediaDockerV2     = graph.MediaDockerV2
	acceptedManifests = MediaOCIIndex + ", " + MediaOCIManifest + ", " + MediaDockerList + ", " + MediaDockerV2
)

// Options configures a Client. The zero value is usable: anonymous, TLS
// verified, plain HTTP only to loopback, 8 requests at once per host.
type Options struct {
	Keychain    authn.Keychain // nil: anonymous
	Insecure    bool           // allow plain HTTP to any host and skip TLS verification
	Concurrency int            // requests in flight per host; default 8
	// MaxRequestsPerSecond caps the request rate per host; 0 = no cap.
	MaxRequestsPerSecond float64
	RequestTimeout       time.Duration // per request; default 60s
	Retry                RetryPolicy
	Logger               *slog.Logger      // nil: silent
	Transport            http.RoundTripper // nil: a tuned http.Transport
	UserAgent            string
	PageSize             int // tags per list page; default 1000 (ECR refuses more)
	// PlainHTTPCredentials lets Basic credentials go over plain HTTP to a
	// host that is not loopback (with Insecure); off, such a request is
	// refused before it is sent.
	PlainHTTPCredentials bool
	// APIs chooses the vendor API of each registry host (vendor.go);
	// the zero value is auto.
	APIs APIConfig
}

// Client talks to registries. Safe for concurrent use.
type Client struct {
	opts  Options
	base  http.RoundTripper
	stats *Stats
	log   *slog.Logger

	secrets secrets // credentials handled, redacted from every error

	mu     sync.Mutex
	opened map[string]*Repo // by repository and actions: see Open
}

// New returns a Client.
func New(o Options) *Client {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 60 * time.Second
	}
	if o.PageSize <= 0 {
		o.PageSize = 1000
	}
	if o.Keychain == nil {
		o.Keychain = authn.NewMultiKeychain()
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	inner := o.Transport
	if inner == nil {
		inner = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext, // an unreachable host fails within seconds
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   max(16, 2*o.Concurrency),
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			TLSClientConfig:       &tls.Config{InsecureSkipVerify: o.Insecure}, //nolint:gosec // only with --insecure
		}
	}
	st := &Stats{}
	p := newPacer(inner, pacerOptions{
		insecure: o.Insecure, retry: o.Retry.withDefaults(), maxConc: o.Concurrency,
		rps: o.MaxRequestsPerSecond, timeout: o.RequestTimeout, stats: st, log: log,
	})
	var base http.RoundTripper = p
	if o.UserAgent != "" {
		base = transport.NewUserAgent(base, o.UserAgent)
	}
	return &Client{opts: o, base: base, stats: st, log: log}
}

// Stats returns the client's request counters.
func (c *Client) Stats() *Stats { return c.stats }

// Concurrency is the per-host request limit the client was made with.
func (c *Client) Concurrency() int { return c.opts.Concurrency }

// ParseRepository parses "host[:port]/path" strictly: the registry host
// must be explicit.
func ParseRepository(s string, insecure bool) (name.Repository, error) {
	if err := CheckNoUserinfo(s); err != nil {
		return name.Repository{}, err
	}
	i := strings.IndexByte(s, '/')
	if i <= 0 || !(strings.ContainsAny(s[:i], ".:") || s[:i] == "localhost") {
		return name.Repository{}, fmt.Errorf("repository %q: want host[:port]/path, e.g. registry.example.com/group/app", s)
	}
	if err := checkPort(s, s[:i]); err != nil {
		return name.Repository{}, err
	}
	if strings.ContainsAny(s, "@") || strings.Contains(s[i:], ":") {
		return name.Repository{}, fmt.Errorf("repository %q: give a repository, not an image reference (no :tag or @digest)", s)
	}
	for _, seg := range strings.Split(s[i+1:], "/") {
		if seg == "." || seg == ".." {
			return name.Repository{}, fmt.Errorf("repository %q: path segment %q refused; name the repository without . or .. segments", s, seg)
		}
	}
	opts := []name.Option{name.StrictValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.NewRepository(s, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("repository %q: %v", s, err)
	}
	return r, nil
}

// Repo is an authenticated handle on one repository.
type Repo struct {
	ref  name.Repository
	hc   *http.Client
	base string // scheme://host/v2/path
	c    *Client

	api        APISetting // the API beside v2 (vendor.go)
	v          vendor     // nil for v2
	vmu        sync.Mutex
	listed     []Listed // the vendor listing, once read
	haveListed bool
	cred       string // where the vendor API's credential comes from
}

// Name returns "host[:port]/path".
func (r *Repo) Name() string { return r.ref.Name() }

// Access is what a Repo may do: the actions of its token scope.
type Access int

// Accesses.
const (
	Pull       Access = iota // read only (plan, restore's checks)
	PullDelete               // read and delete (apply)
	PullPush                 // read and push manifests back (restore)
)

// actions is the token scope's actions of access.
func (a Access) actions() string {
	switch a {
	case PullDelete:
		return "pull,delete"
	case PullPush:
		return "pull,push"
	}
	return "pull"
}

// Open authenticates to the repository named s, asking for the actions
// of access. A repository opened again with the same actions (apply after
// its plan) gets the same handle: one ping and one token exchange, and the
// token refreshes itself when the registry answers 401. A PullPush
// handle speaks the v2 API only, whatever API the registry's vendor
// setting names: restore pushes manifests back through v2 everywhere.
func (c *Client) Open(ctx context.Context, s string, access Access) (*Repo, error) {
	ref, err := ParseRepository(s, c.opts.Insecure)
	if err != nil {
		return nil, err
	}
	actions := access.actions()
	key := ref.Name() + " " + actions
	c.mu.Lock()
	r := c.opened[key]
	c.mu.Unlock()
	if r != nil {
		return r, nil
	}
	hc, err := c.authClient(ctx, ref.Registry, []string{ref.Scope(actions)})
	if err != nil {
		return nil, c.secrets.wrap(fmt.Errorf("%s: %w", ref.Name(), err))
	}
	r = &Repo{ref: ref, hc: hc, c: c, base: ref.Registry.Scheme() + "://" + ref.RegistryStr() + "/v2/" + ref.RepositoryStr()}
	if access != PullPush {
		if err := c.openVendor(ctx, r); err != nil {
			return nil, c.secrets.wrap(fmt.Errorf("%s: %w", ref.Name(), err))
		}
	}
	c.mu.Lock()
	if c.opened == nil {
		c.opened = map[string]*Repo{}
	}
	c.opened[key] = r
	c.mu.Unlock()
	return r, nil
}

func (c *Client) authClient(ctx context.Context, reg name.Registry, scopes []string) (*http.Client, error) {
	auth, err := authn.Resolve(ctx, c.opts.Keychain, reg)
	if err != nil {
		return nil, fmt.Errorf("reading credentials for %s: %w", reg.RegistryStr(), helperOutput(err))
	}
	if cfg, err := authn.Authorization(ctx, auth); err == nil {
		c.secrets.addCredentials(cfg.Username, cfg.Password)
		c.secrets.add(encodings(cfg.IdentityToken)...)
		c.secrets.add(encodings(cfg.RegistryToken)...)
		c.secrets.add(cfg.Auth)
	}
	base := &scopeGuard{inner: c.base, scopes: scopes, plainCreds: c.opts.PlainHTTPCredentials, secrets: &c.secrets}
	tr, err := transport.NewWithContext(ctx, reg, auth, base, scopes)
	if err != nil {
		return nil, authError(err)
	}
	return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if noRedirect(via[0].Method) {
			// Never follow a redirect on DELETE or PUT: the 3xx is the
			// answer, and send turns it into that item's failure.
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("too many redirects")
		}
		// net/http drops Authorization on a redirect to another host;
		// make sure of it, and never leave HTTPS for plain HTTP.
		if req.URL.Host != via[0].URL.Host {
			req.Header.Del("Authorization")
		}
		if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("%w: redirect from https to %s", ErrInsecure, req.URL.Scheme)
		}
		return nil
	}}, nil
}

// authError turns ggcr's handshake errors into *Error where it can.
func authError(err error) error {
	// A certificate that fails verification says more than the plain HTTP
	// fallback's answer ggcr reports with it for loopback and private hosts.
	var cert *tls.CertificateVerificationError
	if errors.As(err, &cert) {
		return fmt.Errorf("%w (pass --insecure only for a registry you trust)", err)
	}
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode != 0 {
		e := &Error{Method: "GET", Status: te.StatusCode, Message: "token or credential exchange failed"}
		if len(te.Errors) > 0 {
			e.Code, e.Message = string(te.Errors[0].Code), te.Errors[0].Message
		}
		if te.Request != nil && te.Request.URL != nil {
			e.Method, e.Path = te.Request.Method, te.Request.URL.Path
			e.Message = redactCredential(e.Message, te.Request.Header.Get("Authorization"))
		}
		return e
	}
	return err
}

func (r *Repo) do(ctx context.Context, method, u, accept string) (*http.Response, error) {
	return r.send(ctx, method, u, accept, "", nil)
}

// send is do with a request body (a manifest PUT): every request of a
// Repo goes through it, so that each gets the same redirect rules and
// the same redaction of its errors. A body is sent from a bytes.Reader,
// so that net/http sets GetBody and a retried or re-authenticated
// request sends the whole body again (see scopeGuard).
func (r *Repo) send(ctx context.Context, method, u, accept, contentType string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return nil, r.c.secrets.wrap(authError(err))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	if noRedirect(method) && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, r.c.secrets.wrap(redirectError(resp))
	}
	e := newError(resp)
	e.Message = r.c.secrets.redact(e.Message)
	return nil, e
}

// ListTags calls fn with each page of tags. It follows Link headers, and
// continues after a full page without one; a listing that does not add
// up fails (see listing).
func (r *Repo) ListTags(ctx context.Context, fn func(tags []string) error) error {
	l := &listing{r: r, first: fmt.Sprintf("%s/tags/list?n=%d", r.base, r.c.opts.PageSize), host: r.ref.RegistryStr(),
		what: "tag list of " + r.Name(), key: "tags", n: r.c.opts.PageSize,
		check: func(tags []string) error { return checkTags(r.Name(), tags) }}
	return l.run(ctx, fn)
}

// nextLink resolves a Link rel="next" header (relative or absolute) against
// the request URL; "" when there is none. It refuses another host.
func nextLink(resp *http.Response, host string) (string, error) {
	for _, v := range resp.Header.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if !strings.Contains(part, `rel="next"`) && !strings.Contains(part, "rel=next") {
				continue
			}
			s, e := strings.IndexByte(part, '<'), strings.IndexByte(part, '>')
			if s < 0 || e < s {
				return "", fmt.Errorf("%w: Link header %q", ErrBadResponse, v)
			}
			ref, err := url.Parse(part[s+1 : e])
			if err != nil {
				return "", fmt.Errorf("%w: Link header %q", ErrBadResponse, v)
			}
			next := resp.Request.URL.ResolveReference(ref)
			if next.Host != resp.Request.URL.Host && next.Host != host {
				return "", fmt.Errorf("%w: Link header points at another host %q", ErrBadResponse, next.Host)
			}
			return next.String(), nil
		}
	}
	return "", nil
}

func redactQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// Descriptor identifies a manifest or blob: what HEAD and GET answer,
// and an entry of a manifest body (Manifest).
type Descriptor struct {
	Digest       string            `json:"digest"`
	MediaType    string            `json:"mediaType"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// Head resolves a tag or digest with HEAD (free against pull limits).
// Where the registry omits Docker-Content-Digest it falls back to a GET.
func (r *Repo) Head(ctx context.Context, ref string) (Descriptor, error) {
	if err := CheckRef(ref); err != nil {
		return Descriptor{}, err
	}
	resp, err := r.do(ctx, http.MethodHead, r.base+"/manifests/"+ref, acceptedManifests)
	if err != nil {
		return Descriptor{}, err
	}
	resp.Body.Close()
	d := Descriptor{Digest: resp.Header.Get("Docker-Content-Digest"), MediaType: mediaType(resp), Size: resp.ContentLength}
	if d.Digest == "" {
		_, d, err = r.GetManifest(ctx, ref)
		return d, err
	}
	if err := checkDigest("Docker-Content-Digest of "+ref+" in "+r.Name(), d.Digest); err != nil {
		return Descriptor{}, err
	}
	if digest.KindOf(ref) == digest.KindDigest && d.Digest != ref {
		return Descriptor{}, fmt.Errorf("%w: HEAD of %s in %s answers digest %s", ErrBadResponse, ref, r.Name(), quoteValue(d.Digest))
	}
	return d, nil
}

func mediaType(resp *http.Response) string {
	mt := resp.Header.Get("Content-Type")
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	return strings.TrimSpace(mt)
}

// MaxManifestSize bounds a manifest body (distribution's own limit is 4 MiB).
const MaxManifestSize = 4 << 20

// GetManifest fetches a manifest by tag or digest and verifies its digest.
func (r *Repo) GetManifest(ctx context.Context, ref string) ([]byte, Descriptor, error) {
	if err := CheckRef(ref); err != nil {
		return nil, Descriptor{}, err
	}
	resp, err := r.do(ctx, http.MethodGet, r.base+"/manifests/"+ref, acceptedManifests)
	if err != nil {
		return nil, Descriptor{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
	if err != nil {
		return nil, Descriptor{}, err
	}
	if len(body) > MaxManifestSize {
		return nil, Descriptor{}, fmt.Errorf("%w: manifest %s is larger than %d bytes", ErrBadResponse, ref, MaxManifestSize)
	}
	want := resp.Header.Get("Docker-Content-Digest")
	if want != "" {
		if err := checkDigest("Docker-Content-Digest of "+ref+" in "+r.Name(), want); err != nil {
			return nil, Descriptor{}, err
		}
	}
	if digest.KindOf(ref) == digest.KindDigest {
		want = ref
	}
	got := digestOf(want, body)
	if want != "" && want != got {
		return nil, Descriptor{}, fmt.Errorf("%w: manifest %s has digest %s", ErrBadResponse, want, got)
	}
	return body, Descriptor{Digest: got, MediaType: mediaType(resp), Size: int64(len(body))}, nil
}

// GetBlob fetches a small blob (an image config) by digest, verified.
func (r *Repo) GetBlob(ctx context.Context, digest string, limit int64) ([]byte, error) {
	if err := checkDigest("blob", digest); err != nil {
		return nil, err
	}
	resp, err := r.do(ctx, http.MethodGet, r.base+"/blobs/"+digest, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: blob %s is larger than %d bytes", ErrBadResponse, digest, limit)
	}
	if !Verify(digest, body) {
		return nil, fmt.Errorf("%w: blob %s does not match its digest", ErrBadResponse, digest)
	}
	return body, nil
}

// Referrers asks the referrers API for the referrers of digest. ok is false
// when the registry has no referrers API (it answered 404), in which case
// the caller falls back to the sha256-<hex> tag. It follows the pages of
// the answer (Link rel="next") with the listing of tags, and returns them
// as one OCI index; a page larger than MaxManifestSize, more than
// MaxIndexChildren referrers, or pages that do not add up fail.
func (r *Repo) Referrers(ctx context.Context, digest string) (body []byte, ok bool, err error) {
	if err := checkDigest("subject", digest); err != nil {
		return nil, false, err
	}
	var (
		pages int
		descs []json.RawMessage
	)
	l := &listing{r: r, first: r.base + "/referrers/" + digest, host: r.ref.RegistryStr(),
		what: "referrers of " + digest + " in " + r.Name(), key: "manifests",
		accept: MediaOCIIndex, maxBody: MaxManifestSize, maxEntries: MaxIndexChildren,
		page: func(no int, resp *http.Response) error {
			pages = no
			if mt := mediaType(resp); mt != MediaOCIIndex {
				if no == 1 {
					// Not a referrers API answer (a catch-all proxy page, say).
					return errNoReferrersAPI
				}
				return fmt.Errorf("%w: referrers of %s: page %d is %s, not an OCI index", ErrBadResponse, digest, no, quoteValue(mt))
			}
			return nil
		},
		decode: func(raw json.RawMessage) ([]string, error) {
			var page []json.RawMessage
			if err := json.Unmarshal(raw, &page); err != nil {
				return nil, err
			}
			ids := make([]string, len(page))
			for i, d := range page {
				var desc struct {
					Digest string `json:"digest"`
				}
				if err := json.Unmarshal(d, &desc); err != nil {
					return nil, err
				}
				ids[i] = desc.Digest
			}
			descs = append(descs, page...)
			return ids, nil
		}}
	err = l.run(ctx, func([]string) error { return nil })
	switch {
	case errors.Is(err, errNoReferrersAPI), errors.Is(err, ErrNotFound) && pages == 0:
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	if descs == nil {
		descs = []json.RawMessage{}
	}
	body, err = json.Marshal(struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     []json.RawMessage `json:"manifests"`
	}{2, MediaOCIIndex, descs})
	return body, err == nil, err
}

// errNoReferrersAPI is a first referrers page that is not an OCI index.
var errNoReferrersAPI = errors.New("no referrers API")

// Delete deletes a manifest by digest (the manifest and every tag naming
// it) or a tag by name (that tag only, where the registry supports it).
// A 404 to a retry after an attempt that reached the registry and lost its
// answer (a broken connection, a timeout, a 5xx) is that attempt's
// success: Delete returns nil. Another failure after such an attempt
// matches ErrAnswerLost: the registry may have carried it out.
//
// Where the registry has a vendor API (vendor.go), that API deletes what
// v2 cannot: a GitHub package version, a Docker Hub tag.
func (r *Repo) Delete(ctx context.Context, ref string) error {
	if err := CheckRef(ref); err != nil {
		return err
	}
	if r.v != nil {
		var err error
		if ValidDigest(ref) {
			err = r.v.deleteDigest(ctx, ref)
		} else {
			err = r.v.deleteTag(ctx, ref)
		}
		if !errors.Is(err, errUseV2) {
			return r.c.secrets.wrap(err)
		}
		if r.api.API == APIDockerHub && ValidDigest(ref) {
			return r.c.secrets.wrap(r.hubDeleteDigest(ctx, ref))
		}
	}
	return r.v2Delete(ctx, ref)
}

// v2Delete sends DELETE /v2/<name>/manifests/<ref>.
func (r *Repo) v2Delete(ctx context.Context, ref string) error {
	ctx, lost := withLost(ctx)
	resp, err := r.do(ctx, http.MethodDelete, r.base+"/manifests/"+ref, "")
	earlier, err := settleLost(lost, err)
	if earlier {
		r.c.log.Info("DELETE answered 404 after an attempt whose answer was lost: the earlier attempt deleted it", "repository", r.Name(), "ref", ref)
		return nil
	}
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.Body.Close()
}

// answerLost is a DELETE's failure after an attempt whose answer was
// lost; its text is err's.
type answerLost struct{ error }

func (e answerLost) Unwrap() error        { return e.error }
func (e answerLost) Is(target error) bool { return target == ErrAnswerLost }

// Catalog lists the repositories of a registry host, a page at a time.
// Many registries refuse it (GitLab, Docker Hub, GHCR): the error then
// matches ErrUnauthorized, ErrDenied or ErrNotFound.
func (c *Client) Catalog(ctx context.Context, host string, fn func(repos []string) error) error {
	opts := []name.Option{}
	if c.opts.Insecure {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return fmt.Errorf("registry %q: %v", host, err)
	}
	hc, err := c.authClient(ctx, reg, []string{"registry:catalog:*"})
	if err != nil {
		return c.secrets.wrap(err)
	}
	r := &Repo{hc: hc, c: c}
	l := &listing{r: r, first: fmt.Sprintf("%s://%s/v2/_catalog?n=%d", reg.Scheme(), reg.RegistryStr(), c.opts.PageSize),
		host: reg.RegistryStr(), what: "catalog of " + host, key: "repositories", n: c.opts.PageSize}
	return l.run(ctx, fn)
}

// Sha256 returns "sha256:<hex>" of b (digest.Of; tests name it so).
func Sha256(b []byte) string { return string(digest.Of(digest.SHA256, b)) }
