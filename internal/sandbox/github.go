package sandbox

// GitHubAPI is a stand-in for GitHub Container Registry in front of a real
// registry. It follows ../shared/docs/vendors.md §2, which cites:
//   - https://docs.github.com/rest/packages/packages: the versions list
//     GET /{orgs|users}/{owner}/packages/container/{package}/versions
//     (per_page up to 100, page, Link rel="next"/"last"), the version
//     fields id, name (the digest), created_at, metadata.container.tags,
//     GET .../versions/{id} (one version), DELETE .../versions/{id}
//     answering 204;
//   - the 400 "Publicly visible package versions with more than 5000
//     downloads cannot be deleted" (Chizkiyahu/delete-untagged-ghcr-action#40);
//   - rate limits: 403 with x-ratelimit-remaining 0 and x-ratelimit-reset
//     (github/docs rate-limits-for-the-rest-api.md);
//   - ghcr.io's v2 API: every DELETE answers 405 UNSUPPORTED
//     (containers/skopeo#1880), no referrers API (404).
//
// The API is served under /api/v3 (GitHub Enterprise's layout), so that
// regprune's --api-url alone selects it; /v2/ is proxied to the registry.
// Versions are the manifests the registry's storage holds (revisions),
// tags its tag links, created_at each revision's time: what GHCR shows of
// a pushed repository, untagged platform and attestation manifests
// included.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// GitHubOptions configure the stand-in; the zero value is a well-behaved
// organisation's registry without authentication.
type GitHubOptions struct {
	// Token, if set, is the bearer token every API request must carry.
	Token string
	// User: the owner is a user, so /orgs/... answers 404.
	User bool
	// Downloads are digests whose delete answers 400: public versions
	// with more than 5,000 downloads.
	Downloads map[string]bool
	// ExtraDigest, if set, is listed as a version though the registry
	// does not have it (a hostile answer).
	ExtraDigest string
	// DuplicateTag, if set, is listed on a second version too (hostile).
	DuplicateTag string
	// IDFrom lists the version of each key digest with the id of the
	// value digest's version: one id on two versions (hostile). A
	// delete of that id deletes the value digest, as on GitHub.
	IDFrom map[string]string
	// RateLimited is how many API requests, from the first, answer 403
	// with x-ratelimit-remaining 0 and a reset now.
	RateLimited int
	// EchoCredentials: a 401 quotes the Authorization header it refused
	// (a hostile answer, for redaction tests).
	EchoCredentials bool
	// Created overrides the created_at of these digests.
	Created map[string]time.Time
	// OnDelete, if set, is called before each version delete is done.
	OnDelete func(digest string)
}

// GitHubCounts counts the stand-in's requests.
type GitHubCounts struct {
	API, APIDelete, RateLimited int
	V2Delete, ManifestGET       int
	ManifestHEAD                int
}

// GitHubAPI is the running stand-in: Host is the registry host to name
// repositories with, URL the API URL (http://Host/api/v3); Close, Ref,
// Counts and SetOptions come from standIn.
type GitHubAPI struct {
	standIn[GitHubOptions, GitHubCounts]

	ids    map[string]int64 // repo@digest -> version id, under mu
	nextID int64
}

// StartGitHub starts the stand-in in front of reg (which must not require
// authentication).
func StartGitHub(reg *Registry, o GitHubOptions) (*GitHubAPI, error) {
	g := &GitHubAPI{ids: map[string]int64{}, nextID: 1000}
	if err := g.start(reg, o, g, "/api/v3"); err != nil {
		return nil, err
	}
	return g, nil
}

func ghError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg, "documentation_url": "https://docs.github.com/rest/packages/packages"})
}

func (g *GitHubAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v2/") || r.URL.Path == "/v2" {
		g.v2(w, r)
		return
	}
	p, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v3/")
	if !ok {
		ghError(w, http.StatusNotFound, "Not Found")
		return
	}
	g.mu.Lock()
	g.counts.API++
	o := g.opts
	limited := g.counts.API <= o.RateLimited
	if limited {
		g.counts.RateLimited++
	}
	g.mu.Unlock()
	if o.Token != "" && r.Header.Get("Authorization") != "Bearer "+o.Token {
		msg := "Bad credentials"
		if o.EchoCredentials {
			msg += " (got " + r.Header.Get("Authorization") + ")"
		}
		ghError(w, http.StatusUnauthorized, msg)
		return
	}
	if limited {
		w.Header().Set("X-RateLimit-Limit", "1000")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Unix(), 10))
		ghError(w, http.StatusForbidden, "API rate limit exceeded")
		return
	}
	// {orgs|users}/{owner}/packages/container/{package}/versions[/{id}]
	seg := strings.Split(p, "/")
	if len(seg) < 6 || seg[2] != "packages" || seg[3] != "container" || seg[5] != "versions" || len(seg) > 7 ||
		(seg[0] != "orgs" && seg[0] != "users") || (seg[0] == "orgs") == o.User {
		ghError(w, http.StatusNotFound, "Not Found")
		return
	}
	owner, err1 := url.PathUnescape(seg[1])
	pkg, err2 := url.PathUnescape(seg[4])
	if err1 != nil || err2 != nil {
		ghError(w, http.StatusNotFound, "Not Found")
		return
	}
	repo := owner + "/" + pkg
	switch {
	case len(seg) == 6 && r.Method == http.MethodGet:
		g.list(w, r, repo)
	case len(seg) == 7 && r.Method == http.MethodDelete:
		g.deleteVersion(w, r, repo, seg[6])
	case len(seg) == 7 && r.Method == http.MethodGet:
		g.getVersion(w, r, repo, seg[6])
	default:
		ghError(w, http.StatusNotFound, "Not Found")
	}
}

// v2 proxies the registry API, with GHCR's answers: no DELETE, no
// referrers API.
func (g *GitHubAPI) v2(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	switch {
	case r.Method == http.MethodDelete:
		g.counts.V2Delete++
	case strings.Contains(r.URL.Path, "/manifests/") && r.Method == http.MethodGet:
		g.counts.ManifestGET++
	case strings.Contains(r.URL.Path, "/manifests/") && r.Method == http.MethodHead:
		g.counts.ManifestHEAD++
	}
	g.mu.Unlock()
	switch {
	case r.Method == http.MethodDelete:
		writeRegistryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
	case strings.Contains(r.URL.Path, "/referrers/"):
		writeRegistryError(w, http.StatusNotFound, "NOT_FOUND", "404 page not found")
	default:
		g.proxy.ServeHTTP(w, r)
	}
}

type ghVersion struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	Metadata  struct {
		PackageType string `json:"package_type"`
		Container   struct {
			Tags []string `json:"tags"`
		} `json:"container"`
	} `json:"metadata"`
}

// versions reads repo's manifests and tags from the registry's storage,
// newest first (GitHub's order).
func (g *GitHubAPI) versions(repo string) ([]ghVersion, error) {
	base := filepath.Join(g.reg.Dir(), "docker", "registry", "v2", "repositories", filepath.FromSlash(repo), "_manifests")
	revs, err := os.ReadDir(filepath.Join(base, "revisions", "sha256"))
	if os.IsNotExist(err) {
		return nil, os.ErrNotExist
	}
	if err != nil {
		return nil, err
	}
	tags := map[string][]string{}
	tdirs, _ := os.ReadDir(filepath.Join(base, "tags"))
	for _, t := range tdirs {
		b, err := os.ReadFile(filepath.Join(base, "tags", t.Name(), "current", "link"))
		if err == nil {
			tags[string(b)] = append(tags[string(b)], t.Name())
		}
	}
	type rev struct {
		d string
		t time.Time
	}
	var rs []rev
	for _, e := range revs {
		fi, err := os.Stat(filepath.Join(base, "revisions", "sha256", e.Name(), "link"))
		if err != nil {
			continue // deleted
		}
		rs = append(rs, rev{"sha256:" + e.Name(), fi.ModTime()})
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range rs {
		if t, ok := g.opts.Created[rs[i].d]; ok {
			rs[i].t = t
		}
	}
	if g.opts.ExtraDigest != "" {
		rs = append(rs, rev{g.opts.ExtraDigest, time.Now()})
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if !rs[i].t.Equal(rs[j].t) {
			return rs[i].t.After(rs[j].t)
		}
		return rs[i].d < rs[j].d
	})
	out := make([]ghVersion, len(rs))
	for i, r := range rs {
		id, ok := g.ids[repo+"@"+r.d]
		if !ok {
			g.nextID++
			id = g.nextID
			g.ids[repo+"@"+r.d] = id
		}
		v := ghVersion{ID: id, Name: r.d, CreatedAt: r.t.UTC().Format(time.RFC3339), UpdatedAt: r.t.UTC().Format(time.RFC3339)}
		v.Metadata.PackageType = "container"
		v.Metadata.Container.Tags = append([]string{}, tags[r.d]...)
		sort.Strings(v.Metadata.Container.Tags)
		if v.Metadata.Container.Tags == nil {
			v.Metadata.Container.Tags = []string{}
		}
		out[i] = v
	}
	for i := range out {
		if src, ok := g.opts.IDFrom[out[i].Name]; ok {
			if id, ok := g.ids[repo+"@"+src]; ok {
				out[i].ID = id
			}
		}
	}
	if t := g.opts.DuplicateTag; t != "" && len(out) > 1 {
		for i := range out {
			if !contains(out[i].Metadata.Container.Tags, t) {
				out[i].Metadata.Container.Tags = append(out[i].Metadata.Container.Tags, t)
				break
			}
		}
	}
	return out, nil
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func (g *GitHubAPI) list(w http.ResponseWriter, r *http.Request, repo string) {
	vs, err := g.versions(repo)
	if err != nil {
		ghError(w, http.StatusNotFound, "Package not found.")
		return
	}
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 30
	}
	per = min(per, 100)
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	last := max((len(vs)+per-1)/per, 1)
	from, to := min((page-1)*per, len(vs)), min(page*per, len(vs))
	link := func(p int, rel string) string {
		u := *r.URL
		qq := u.Query()
		qq.Set("page", strconv.Itoa(p))
		u.RawQuery = qq.Encode()
		return fmt.Sprintf(`<http://%s%s>; rel="%s"`, r.Host, u.RequestURI(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-RateLimit-Limit", "1000")
	w.Header().Set("X-RateLimit-Remaining", "999")
	_ = json.NewEncoder(w).Encode(vs[from:to])
}

// getVersion answers GET .../versions/{id}: the version the id names
// (IDFrom does not apply: only the listing lies).
func (g *GitHubAPI) getVersion(w http.ResponseWriter, r *http.Request, repo, idText string) {
	vs, err := g.versions(repo)
	if err != nil {
		ghError(w, http.StatusNotFound, "Package not found.")
		return
	}
	g.mu.Lock()
	var digest string
	for k, id := range g.ids {
		if strconv.FormatInt(id, 10) == idText && strings.HasPrefix(k, repo+"@") {
			digest = strings.TrimPrefix(k, repo+"@")
		}
	}
	g.mu.Unlock()
	for _, v := range vs {
		if v.Name == digest {
			v.ID, _ = strconv.ParseInt(idText, 10, 64)
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_ = json.NewEncoder(w).Encode(v)
			return
		}
	}
	ghError(w, http.StatusNotFound, "Package version not found.")
}

func (g *GitHubAPI) deleteVersion(w http.ResponseWriter, r *http.Request, repo, idText string) {
	g.mu.Lock()
	g.counts.APIDelete++
	var digest string
	for k, id := range g.ids {
		if strconv.FormatInt(id, 10) == idText && strings.HasPrefix(k, repo+"@") {
			digest = strings.TrimPrefix(k, repo+"@")
		}
	}
	downloads, hook := g.opts.Downloads[digest], g.opts.OnDelete
	g.mu.Unlock()
	if hook != nil && digest != "" {
		hook(digest)
	}
	if digest == "" {
		ghError(w, http.StatusNotFound, "Package version not found.")
		return
	}
	if downloads {
		ghError(w, http.StatusBadRequest, "Publicly visible package versions with more than 5000 downloads cannot be deleted. Contact GitHub support for further assistance.")
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodDelete, g.reg.URL+"/v2/"+repo+"/manifests/"+digest, nil)
	if err != nil {
		ghError(w, http.StatusInternalServerError, err.Error())
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ghError(w, http.StatusBadGateway, "Server Error")
		return
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK:
		w.WriteHeader(http.StatusNoContent)
	case http.StatusNotFound:
		ghError(w, http.StatusNotFound, "Package version not found.")
	default:
		ghError(w, http.StatusInternalServerError, "Server Error")
	}
}
