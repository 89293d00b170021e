package registry

import (
	"net/http"
	"strconv"
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
