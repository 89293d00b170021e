package registry

// Vendor APIs: GitHub's packages API (GHCR), Docker Hub's and GitLab's.
// The v2 API stays the ground truth for what a tag names now (apply's
// re-check and final guard read the registry itself); a vendor API adds
// deletes where v2 cannot, listings with digests and timestamps, and
// discovery. Every vendor request goes through the client's transport
// stack (retries, rate limits, the AIMD gate, counting), never follows a
// redirect to another host (or any redirect on DELETE), and every tag and
// digest it returns is validated here.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// API names the API regprune uses for a registry beside v2.
type API string

// The APIs.
const (
	APIAuto      API = "auto"
	APIV2        API = "v2"
	APIGitHub    API = "github"
	APIDockerHub API = "dockerhub"
	APIGitLab    API = "gitlab"
)

// APIs lists the values --api and a policy file's registries.HOST.api take.
var APIs = []API{APIAuto, APIV2, APIGitHub, APIDockerHub, APIGitLab}

// Default API URLs.
const (
	GitHubAPIURL    = "https://api.github.com"
	DockerHubAPIURL = "https://hub.docker.com"
	GitLabAPIURL    = "https://gitlab.com/api/v4"
)

// APISetting is the API of a registry host and its base URL.
type APISetting struct {
	API API    `json:"api"`
	URL string `json:"api_url,omitempty"`
}

// APIConfig chooses the API of each registry host: Hosts (a policy
// file's registries) first, then Default (--api, --api-url), then auto.
type APIConfig struct {
	Default APISetting
	Hosts   map[string]APISetting
	// Getenv reads GITHUB_TOKEN, GITLAB_TOKEN and CI_JOB_TOKEN; nil:
	// os.Getenv.
	Getenv func(string) string
}

// ParseAPI checks an --api value.
func ParseAPI(s string) (API, error) {
	for _, a := range APIs {
		if string(a) == s {
			return a, nil
		}
	}
	names := make([]string, len(APIs))
	for i, a := range APIs {
		names[i] = string(a)
	}
	return "", fmt.Errorf("want one of %s", strings.Join(names, ", "))
}

// CheckAPIURL checks an --api-url value: an absolute http or https URL
// with a host and no credentials, query or fragment.
func CheckAPIURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("want an http:// or https:// URL")
	case u.Host == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("no credentials in the URL; regprune reads them from the environment or the docker config")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("no query or fragment")
	}
	return nil
}

// autoAPI is the API auto chooses for a registry host.
func autoAPI(host string) APISetting {
	switch host {
	case "ghcr.io":
		return APISetting{APIGitHub, GitHubAPIURL}
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return APISetting{APIDockerHub, DockerHubAPIURL}
	case "registry.gitlab.com":
		return APISetting{APIGitLab, GitLabAPIURL}
	}
	return APISetting{API: APIV2}
}

// apiOfURL tells the API from its URL when auto is given one: GitHub's
// (api.github.com, or /api/v3 of GitHub Enterprise), Docker Hub's
// (hub.docker.com) or GitLab's (/api/v4).
func apiOfURL(u string) API {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	path := strings.TrimSuffix(p.Path, "/")
	switch {
	case p.Hostname() == "api.github.com" || strings.HasSuffix(path, "/api/v3"):
		return APIGitHub
	case p.Hostname() == "hub.docker.com":
		return APIDockerHub
	case strings.HasSuffix(path, "/api/v4"):
		return APIGitLab
	}
	return ""
}

func defaultURL(a API) string {
	switch a {
	case APIGitHub:
		return GitHubAPIURL
	case APIDockerHub:
		return DockerHubAPIURL
	case APIGitLab:
		return GitLabAPIURL
	}
	return ""
}

// Resolve returns the API and URL for a registry host.
func (c *APIConfig) Resolve(host string) (APISetting, error) {
	s := c.Default
	if h, ok := c.Hosts[host]; ok {
		s = h
	}
	if s.API == "" || s.API == APIAuto {
		auto := autoAPI(host)
		switch {
		case s.URL == "":
			return auto, nil
		case apiOfURL(s.URL) != "":
			s.API = apiOfURL(s.URL)
		case auto.API != APIV2:
			s.API = auto.API
		default:
			return APISetting{}, fmt.Errorf("api_url %s: cannot tell which API it is (GitHub's ends in /api/v3, GitLab's in /api/v4); name it with api (--api)", s.URL)
		}
	}
	if s.API == APIV2 {
		return APISetting{API: APIV2}, nil
	}
	if s.URL == "" {
		s.URL = defaultURL(s.API)
	}
	s.URL = strings.TrimSuffix(s.URL, "/")
	return s, nil
}

// Listed is one manifest as a vendor API lists it.
type Listed struct {
	Digest  string
	Tags    []string
	Created time.Time // push time; zero when the API gives none
	Size    int64     // bytes as the vendor counts them; 0 when none
	ID      string    // the vendor's id (a GitHub package version)
}

// vendor is one repository's vendor API.
type vendor interface {
	// list returns what the API knows of the repository, every tag and
	// digest validated, each tag on one entry at most.
	list(ctx context.Context) ([]Listed, error)
	// deleteTag removes one tag; ErrUnsupported (an *Error 405) when the
	// API cannot; errUseV2 to send the v2 DELETE.
	deleteTag(ctx context.Context, tag string) error
	// deleteDigest deletes a manifest; errUseV2 to send the v2 DELETE.
	deleteDigest(ctx context.Context, digest string) error
}

// errUseV2 tells Repo.Delete to send the v2 DELETE itself.
var errUseV2 = errors.New("use the v2 API")

// APIOf returns the API the client uses for a registry host.
func (c *Client) APIOf(host string) (APISetting, error) { return c.opts.APIs.Resolve(host) }

// API returns the API the repository uses beside v2.
func (r *Repo) API() APISetting {
	if r.api.API == "" {
		return APISetting{API: APIV2}
	}
	return r.api
}

// Listing returns the vendor API's listing of the repository (nil for a
// v2 registry). It is read once per handle and kept: a delete by digest
// looks its id up there, and lists again only for a digest it lacks.
func (r *Repo) Listing(ctx context.Context) ([]Listed, error) {
	if r.v == nil {
		return nil, nil
	}
	l, err := r.listing(ctx, false)
	return l, r.c.secrets.wrap(err)
}

func (r *Repo) listing(ctx context.Context, again bool) ([]Listed, error) {
	r.vmu.Lock()
	defer r.vmu.Unlock()
	if r.haveListed && !again {
		return r.listed, nil
	}
	l, err := r.v.list(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkListing(r.Name(), l); err != nil {
		return nil, err
	}
	r.listed, r.haveListed = l, true // nil: this API lists nothing
	return l, nil
}

// checkListing validates what a vendor API listed: digests and tags by
// grammar, no digest twice, no tag on two entries, no vendor id on two
// entries (a delete by that id would delete the other's manifest).
func checkListing(repo string, l []Listed) error {
	digests := map[string]bool{}
	tags := map[string]string{}
	ids := map[string]string{}
	for _, e := range l {
		if err := checkDigest("digest in the API listing of "+repo, e.Digest); err != nil {
			return err
		}
		if digests[e.Digest] {
			return fmt.Errorf("%w: the API listing of %s names %s twice", ErrBadResponse, repo, e.Digest)
		}
		digests[e.Digest] = true
		if e.ID != "" {
			if d, ok := ids[e.ID]; ok {
				return fmt.Errorf("%w: the API listing of %s gives id %s to two manifests (%s and %s)", ErrBadResponse, repo, quoteValue(e.ID), d, e.Digest)
			}
			ids[e.ID] = e.Digest
		}
		for _, t := range e.Tags {
			if !ValidTag(t) {
				return fmt.Errorf("%w: the API listing of %s has an invalid tag %s", ErrBadResponse, repo, quoteValue(t))
			}
			if d, ok := tags[t]; ok {
				return fmt.Errorf("%w: the API listing of %s lists tag %s on two manifests (%s and %s)", ErrBadResponse, repo, t, d, e.Digest)
			}
			tags[t] = e.Digest
		}
	}
	return nil
}

// lookup returns the listed entry of digest, listing again once if the
// kept listing lacks it (pushed since).
func (r *Repo) lookup(ctx context.Context, digest string) (Listed, error) {
	for again := false; ; again = true {
		l, err := r.listing(ctx, again)
		if err != nil {
			return Listed{}, err
		}
		for _, e := range l {
			if e.Digest == digest {
				return e, nil
			}
		}
		if again {
			return Listed{}, &Error{Method: http.MethodDelete, Path: r.Name() + "@" + digest, Status: http.StatusNotFound, Message: "the API lists no manifest " + digest}
		}
	}
}

// openVendor sets up the vendor API of r, if its host has one.
func (c *Client) openVendor(ctx context.Context, r *Repo) error {
	s, err := c.opts.APIs.Resolve(r.ref.RegistryStr())
	if err != nil {
		return err
	}
	r.api = s
	if s.API == APIV2 {
		return nil
	}
	if err := CheckAPIURL(s.URL); err != nil {
		return fmt.Errorf("api_url %s: %v", s.URL, err)
	}
	getenv := c.opts.APIs.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	user, pass := c.registryCredential(ctx, r.ref.Registry)
	a := &apiClient{c: c, base: s.URL}
	a.hc = &http.Client{Transport: c.base, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if via[0].Method != http.MethodGet || req.URL.Host != via[0].URL.Host || len(via) >= 5 {
			// A token header (PRIVATE-TOKEN, Authorization) must not go
			// to another host, and a DELETE never follows a redirect.
			return http.ErrUseLastResponse
		}
		return nil
	}}
	path := r.ref.RepositoryStr()
	switch s.API {
	case APIGitHub:
		tok := getenv("GITHUB_TOKEN")
		r.cred = "GITHUB_TOKEN"
		if tok == "" {
			tok, r.cred = pass, "the registry password"
		}
		if tok == "" {
			r.cred = "anonymous (no GITHUB_TOKEN, no registry password)"
		}
		c.secrets.add(encodings(tok)...)
		if tok != "" {
			a.header = func(h http.Header) { h.Set("Authorization", "Bearer "+tok) }
		}
		g := newGitHub(a, path)
		g.lookup = r.lookup
		r.v = g
	case APIDockerHub:
		r.cred = "the registry credential, exchanged for a Hub token"
		if pass == "" {
			r.cred = "anonymous (no registry credential)"
		}
		r.v = newDockerHub(a, path, user, pass)
	case APIGitLab:
		switch {
		case getenv("GITLAB_TOKEN") != "":
			tok := getenv("GITLAB_TOKEN")
			c.secrets.add(encodings(tok)...)
			a.header = func(h http.Header) { h.Set("PRIVATE-TOKEN", tok) }
			r.cred = "GITLAB_TOKEN"
		case getenv("CI_JOB_TOKEN") != "":
			tok := getenv("CI_JOB_TOKEN")
			c.secrets.add(encodings(tok)...)
			a.header = func(h http.Header) { h.Set("JOB-TOKEN", tok) }
			r.cred = "CI_JOB_TOKEN"
		case pass != "":
			a.header = func(h http.Header) { h.Set("PRIVATE-TOKEN", pass) }
			r.cred = "the registry password"
		default:
			r.cred = "anonymous (no GITLAB_TOKEN, CI_JOB_TOKEN or registry password)"
		}
		r.v = newGitLab(a, path, r.ref.RegistryStr())
	default:
		return fmt.Errorf("api %q: %w", s.API, ErrUnsupported)
	}
	return nil
}

// registryCredential returns the user and password the keychain holds for
// reg ("" when anonymous or a token), recorded as secrets.
func (c *Client) registryCredential(ctx context.Context, reg name.Registry) (user, pass string) {
	auth, err := authn.Resolve(ctx, c.opts.Keychain, reg)
	if err != nil {
		return "", ""
	}
	cfg, err := authn.Authorization(ctx, auth)
	if err != nil {
		return "", ""
	}
	c.secrets.addCredentials(cfg.Username, cfg.Password)
	return cfg.Username, cfg.Password
}

// apiClient sends vendor API requests through the client's transport.
type apiClient struct {
	c      *Client
	base   string // API URL, no trailing slash
	hc     *http.Client
	header func(http.Header) // sets the credential; nil: anonymous
}

// VendorAnonymous reports whether the vendor API is used without a
// credential.
func (r *Repo) VendorAnonymous() bool {
	return r.v != nil && strings.HasPrefix(r.cred, "anonymous")
}

// CredentialSource names where the vendor API's credential comes from
// ("" for a v2 registry); never the credential.
func (r *Repo) CredentialSource() string {
	if r.v == nil {
		return ""
	}
	return r.cred
}

type vendorCtxKey struct{}

// do sends one request; u is absolute or relative to base. A status
// outside 2xx is an *Error (the vendor's "message" as its Message),
// redacted. A DELETE answered with a redirect fails.
func (a *apiClient) do(ctx context.Context, method, u string, body any) (*http.Response, error) {
	if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		u = a.base + u
	}
	var rd io.Reader
	var data []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		data = b
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, vendorCtxKey{}, true), method, u, rd)
	if err != nil {
		return nil, err
	}
	if data != nil {
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if a.header != nil {
		a.header(req.Header)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, a.c.secrets.wrap(err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, a.c.secrets.wrap(redirectError(resp))
	}
	e := &Error{Method: method, Path: req.URL.Path, Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	var msg struct {
		Message any    `json:"message"`
		Detail  string `json:"detail"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(b, &msg) == nil {
		switch m := msg.Message.(type) {
		case string:
			e.Message = m
		case nil:
		default:
			mb, _ := json.Marshal(m)
			e.Message = string(mb)
		}
		if e.Message == "" {
			e.Message = msg.Detail
		}
		if e.Message == "" {
			e.Message = msg.Error
		}
	}
	if len(e.Message) > 300 {
		e.Message = e.Message[:300]
	}
	e.Message = a.c.secrets.redact(e.Message)
	return nil, e
}

// deleteOnce sends a DELETE through do, read as v2Delete reads one: a 404
// to a retry after an attempt whose answer was lost (see sentAttempt) is
// that attempt's doing, a success (an empty 204); any other failure after
// such an attempt matches ErrAnswerLost.
func (a *apiClient) deleteOnce(ctx context.Context, u string) (*http.Response, error) {
	ctx, lost := withLost(ctx)
	resp, err := a.do(ctx, http.MethodDelete, u, nil)
	earlier, err := settleLost(lost, err)
	if earlier {
		a.c.log.Info("API DELETE answered 404 after an attempt whose answer was lost: the earlier attempt deleted it", "path", redactQuery(u))
		return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Header: http.Header{}}, nil
	}
	return resp, err
}

// getJSON GETs u and decodes its body into v.
func (a *apiClient) getJSON(ctx context.Context, u string, v any) (*http.Response, error) {
	resp, err := a.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return resp, decodeBounded(resp, v)
}

// decodeBounded decodes at most maxAPIPage bytes of resp's body into v.
func decodeBounded(resp *http.Response, v any) error {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIPage+1))
	if err != nil {
		return err
	}
	if len(b) > maxAPIPage {
		return fmt.Errorf("%w: %s: an answer larger than %d bytes", ErrBadResponse, resp.Request.URL.Path, maxAPIPage)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadResponse, resp.Request.URL.Path, err)
	}
	return nil
}

// maxAPIPage bounds one page of a vendor listing.
const maxAPIPage = 16 << 20

// maxAPIPages bounds a vendor listing's pages (at 100 a page, a million
// entries).
const maxAPIPages = 10000

// drain closes a response after reading a bounded part of its body.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// pages follows a vendor listing's pages: fn decodes each and returns the
// next URL ("" at the end). Loops and page counts beyond maxAPIPages fail.
func (a *apiClient) pages(ctx context.Context, first string, fn func(u string) (next string, err error)) error {
	seen := map[string]bool{}
	for u, n := first, 0; u != ""; n++ {
		if seen[u] || n >= maxAPIPages {
			return fmt.Errorf("%w: the listing at %s repeats a page or never ends", ErrBadResponse, redactQuery(first))
		}
		seen[u] = true
		next, err := fn(u)
		if err != nil {
			return err
		}
		u = next
	}
	return nil
}

// sameOrigin checks that a next-page URL stays on the API's host.
func (a *apiClient) sameOrigin(next string) error {
	nu, err := url.Parse(next)
	bu, _ := url.Parse(a.base)
	if err != nil || nu.Host != bu.Host || nu.Scheme != bu.Scheme {
		return fmt.Errorf("%w: a next page on another host (%s)", ErrBadResponse, quoteValue(next))
	}
	return nil
}
