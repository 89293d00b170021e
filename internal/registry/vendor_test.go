package registry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// GitHub's 403 with x-ratelimit-remaining 0 and Docker Hub's X-Retry-After
// are rate limits with a Unix time to wait for (vendors.md, GitHub rate
// limits; Hub latest.yaml, rate-limiting); a plain 403 is a denial.
func TestRateLimitWait(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	at := strconv.FormatInt(now.Add(40*time.Second).Unix(), 10)
	for _, c := range []struct {
		status int
		h      map[string]string
		limit  bool
		wait   time.Duration
	}{
		{403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": at}, true, 40 * time.Second},
		{403, map[string]string{"Retry-After": "7"}, true, 7 * time.Second},
		{403, nil, false, 0},
		{429, map[string]string{"X-Retry-After": at}, false, 40 * time.Second},
		{429, map[string]string{"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": at}, false, 0},
	} {
		h := http.Header{}
		for k, v := range c.h {
			h.Set(k, v)
		}
		if got := rateLimited403(&http.Response{StatusCode: c.status, Header: h}); got != c.limit {
			t.Errorf("%d %v: rate limited %v, want %v", c.status, c.h, got, c.limit)
		}
		if got := rateLimitWait(h, now); got != c.wait {
			t.Errorf("%d %v: wait %s, want %s", c.status, c.h, got, c.wait)
		}
	}
}

func TestResolveAPI(t *testing.T) {
	for _, c := range []struct {
		cfg  APIConfig
		host string
		want APISetting
		bad  bool
	}{
		{APIConfig{}, "ghcr.io", APISetting{APIGitHub, GitHubAPIURL}, false},
		{APIConfig{}, "index.docker.io", APISetting{APIDockerHub, DockerHubAPIURL}, false},
		{APIConfig{}, "registry.gitlab.com", APISetting{APIGitLab, GitLabAPIURL}, false},
		{APIConfig{}, "registry.example.com", APISetting{API: APIV2}, false},
		{APIConfig{Default: APISetting{URL: "http://127.0.0.1:5/api/v3/"}}, "127.0.0.1:6", APISetting{APIGitHub, "http://127.0.0.1:5/api/v3"}, false},
		{APIConfig{Default: APISetting{URL: "http://127.0.0.1:5/api/v4"}}, "127.0.0.1:6", APISetting{APIGitLab, "http://127.0.0.1:5/api/v4"}, false},
		{APIConfig{Default: APISetting{URL: "http://127.0.0.1:5/x"}}, "127.0.0.1:6", APISetting{}, true},
		{APIConfig{Default: APISetting{API: APIDockerHub, URL: "http://127.0.0.1:5/x"}}, "127.0.0.1:6", APISetting{APIDockerHub, "http://127.0.0.1:5/x"}, false},
		{APIConfig{Default: APISetting{API: APIV2}}, "ghcr.io", APISetting{API: APIV2}, false},
		{APIConfig{Default: APISetting{API: APIV2}, Hosts: map[string]APISetting{"ghe.example.com": {APIGitHub, "https://ghe.example.com/api/v3"}}}, "ghe.example.com", APISetting{APIGitHub, "https://ghe.example.com/api/v3"}, false},
	} {
		got, err := c.cfg.Resolve(c.host)
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("%+v %s: %+v %v, want %+v (error %v)", c.cfg, c.host, got, err, c.want, c.bad)
		}
	}
}

// A vendor listing is validated at the boundary: digests by grammar, no
// digest twice, no tag on two manifests, tags by grammar.
func TestCheckListing(t *testing.T) {
	d1, d2 := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	for name, l := range map[string][]Listed{
		"bad digest":  {{Digest: "sha256:abc"}},
		"digest once": {{Digest: d1}, {Digest: d1}},
		"tag twice":   {{Digest: d1, Tags: []string{"x"}}, {Digest: d2, Tags: []string{"x"}}},
		"bad tag":     {{Digest: d1, Tags: []string{"../x"}}},
		"id twice":    {{Digest: d1, ID: "7"}, {Digest: d2, ID: "7"}},
	} {
		if err := checkListing("r", l); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := checkListing("r", []Listed{{Digest: d1, Tags: []string{"a", "b"}}, {Digest: d2}}); err != nil {
		t.Error(err)
	}
}

// Vendor API requests never follow a redirect on DELETE, nor to another
// host (a PRIVATE-TOKEN header would follow it).
func TestVendorRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("followed a redirect to another host: %s %s", r.Method, r.URL)
	}))
	defer other.Close()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/del", "/away":
			http.Redirect(w, r, other.URL+"/x", http.StatusTemporaryRedirect)
		case "/same":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			w.Write([]byte("{}"))
		}
	}))
	defer srv.Close()
	c := New(Options{})
	r := &Repo{c: c}
	r.ref, _ = ParseRepository("127.0.0.1:1/a/b", false)
	c.opts.APIs = APIConfig{Default: APISetting{API: APIGitLab, URL: srv.URL + "/api/v4"}, Getenv: func(string) string { return "tok-123456" }}
	if err := c.openVendor(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	a := r.v.(*gitLab).a
	a.base = srv.URL
	ctx := context.Background()
	if _, err := a.do(ctx, http.MethodDelete, "/del", nil); err == nil {
		t.Error("DELETE answered with a redirect succeeded")
	}
	if _, err := a.do(ctx, http.MethodGet, "/away", nil); err == nil {
		t.Error("GET redirected to another host succeeded")
	}
	if _, err := a.do(ctx, http.MethodGet, "/same", nil); err != nil {
		t.Errorf("GET redirected on the same host: %v", err)
	}
}
