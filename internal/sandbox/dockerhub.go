package sandbox

// DockerHub is a stand-in for Docker Hub in front of a real registry. It
// follows ../shared/docs/vendors.md §1, which cites:
//   - docker/docs:content/reference/api/hub/latest.yaml: POST
//     /v2/auth/token {identifier, secret} -> {access_token}; the tag list
//     GET /v2/namespaces/{ns}/repositories/{repo}/tags (page_size up to
//     100, page; {count, next, previous, results[]} with name, digest,
//     media_type, images[] (digest, os, architecture), tag_last_pushed,
//     full_size); the rate-limit headers X-RateLimit-Limit, -Remaining,
//     -Reset and, on 429, X-Retry-After holding a Unix time;
//   - docker/hub-tool:pkg/hub/tags.go: DELETE
//     /v2/repositories/{ns}/{repo}/tags/{tag}/ -> 204 (404 when absent);
//   - https://docs.docker.com/reference/api/registry/latest/operations/DeleteImageManifest/:
//     DELETE /v2/{name}/manifests/{digest} answers 202, 403 while the
//     manifest is still tagged or referenced by another image, and may
//     answer 500 while Hub retries the deletion in the background.
//
// The Hub API is served at the root of the stand-in, /v2/ is the
// registry (proxied, with Hub's DELETE semantics): one host, as
// regprune's --api dockerhub --api-url http://HOST needs. Tags, digests
// and bodies come from the registry's storage.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DockerHubOptions configure the stand-in; the zero value is anonymous.
type DockerHubOptions struct {
	// User and Secret, if set, are the credential POST /v2/auth/token
	// accepts; every API request then needs its token.
	User, Secret string
	// Pending are digests whose v2 DELETE answers 500 (Hub retries in
	// the background) until CompletePending.
	Pending map[string]bool
	// RateLimited is how many API requests, from the first, answer 429
	// with X-Retry-After now.
	RateLimited int
	// OnDelete, if set, is called before each tag or manifest delete.
	OnDelete func(ref string)
	// Lie, if set, maps tags to the digest the listing claims for them
	// (a hostile answer).
	Lie map[string]string
}

// DockerHubCounts counts the stand-in's requests.
type DockerHubCounts struct {
	API, TagList, TagDelete, RateLimited int
	Auth                                 int
	ManifestGETByTag, ManifestGET        int
	ManifestHEAD, V2Delete               int
}

// DockerHub is the running stand-in: Host names repositories
// (Host/ns/repo), URL is the API URL (http://Host); Close, Ref, Counts
// and SetOptions come from standIn.
type DockerHub struct {
	standIn[DockerHubOptions, DockerHubCounts]

	token string
}

// StartDockerHub starts the stand-in in front of reg (which must not
// require authentication).
func StartDockerHub(reg *Registry, o DockerHubOptions) (*DockerHub, error) {
	h := &DockerHub{token: "hubjwt." + strconv.FormatInt(time.Now().UnixNano(), 36) + ".sig"}
	if err := h.start(reg, o, h, ""); err != nil {
		return nil, err
	}
	return h, nil
}

// Token is the Hub JWT the stand-in issues.
func (h *DockerHub) Token() string { return h.token }

// CompletePending deletes the pending digests of repo, as Hub's
// background retry would, and forgets them.
func (h *DockerHub) CompletePending(repo string) error {
	h.mu.Lock()
	pending := h.opts.Pending
	h.opts.Pending = nil
	h.mu.Unlock()
	for d := range pending {
		if err := h.deleteUpstream(repo, d); err != nil {
			return err
		}
	}
	return nil
}

func hubError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg, "errinfo": "{}"})
}

func (h *DockerHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	// The Hub API's paths, all under /v2/ too.
	isAPI := p == "/v2/auth/token" || strings.HasPrefix(p, "/v2/namespaces/") || strings.HasPrefix(p, "/v2/repositories/")
	if !isAPI {
		h.v2(w, r)
		return
	}
	h.mu.Lock()
	h.counts.API++
	o := h.opts
	limited := h.counts.API <= o.RateLimited
	if limited {
		h.counts.RateLimited++
	}
	h.mu.Unlock()
	w.Header().Set("X-RateLimit-Limit", "600")
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10))
	if limited {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-Retry-After", strconv.FormatInt(time.Now().Unix(), 10))
		hubError(w, http.StatusTooManyRequests, "Too Many Requests")
		return
	}
	w.Header().Set("X-RateLimit-Remaining", "599")
	if p == "/v2/auth/token" {
		h.auth(w, r)
		return
	}
	if o.User != "" && r.Header.Get("Authorization") != "Bearer "+h.token {
		hubError(w, http.StatusUnauthorized, "authentication required")
		return
	}
	seg := strings.Split(strings.TrimPrefix(p, "/v2/"), "/")
	switch {
	// namespaces/{ns}/repositories/{repo}/tags
	case len(seg) == 5 && seg[0] == "namespaces" && seg[2] == "repositories" && seg[4] == "tags" && r.Method == http.MethodGet:
		h.tags(w, r, seg[1]+"/"+seg[3])
	// repositories/{ns}/{repo}/tags/{tag}/
	case len(seg) == 6 && seg[0] == "repositories" && seg[3] == "tags" && seg[5] == "" && r.Method == http.MethodDelete:
		h.deleteTag(w, r, seg[1]+"/"+seg[2], seg[4])
	default:
		hubError(w, http.StatusNotFound, "object not found")
	}
}

func (h *DockerHub) auth(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.counts.Auth++
	o := h.opts
	h.mu.Unlock()
	var body struct {
		Identifier string `json:"identifier"`
		Secret     string `json:"secret"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body) != nil {
		hubError(w, http.StatusBadRequest, "bad request")
		return
	}
	if o.User == "" || body.Identifier != o.User || body.Secret != o.Secret {
		hubError(w, http.StatusUnauthorized, "incorrect username or password")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"access_token": h.token})
}

// storage is repo's _manifests directory in the registry's storage.
func (h *DockerHub) storage(repo string) string {
	return filepath.Join(h.reg.Dir(), "docker", "registry", "v2", "repositories", filepath.FromSlash(repo), "_manifests")
}

// body reads a manifest's body from the blob store.
func (h *DockerHub) body(digest string) []byte {
	hex := strings.TrimPrefix(digest, "sha256:")
	if len(hex) < 2 {
		return nil
	}
	b, _ := os.ReadFile(filepath.Join(h.reg.Dir(), "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data"))
	return b
}

type hubManifest struct {
	MediaType string `json:"mediaType"`
	Manifests []struct {
		Digest   string `json:"digest"`
		Platform *struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
		} `json:"platform"`
	} `json:"manifests"`
}

// tagLinks returns repo's tags and the digest each names.
func (h *DockerHub) tagLinks(repo string) map[string]string {
	out := map[string]string{}
	base := filepath.Join(h.storage(repo), "tags")
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join(base, e.Name(), "current", "link")); err == nil {
			out[e.Name()] = string(b)
		}
	}
	return out
}

func (h *DockerHub) tags(w http.ResponseWriter, r *http.Request, repo string) {
	h.mu.Lock()
	h.counts.TagList++
	h.mu.Unlock()
	if _, err := os.Stat(h.storage(repo)); err != nil {
		hubError(w, http.StatusNotFound, "object not found")
		return
	}
	links := h.tagLinks(repo)
	names := make([]string, 0, len(links))
	for t := range links {
		names = append(names, t)
	}
	sort.Strings(names)
	q := r.URL.Query()
	size, _ := strconv.Atoi(q.Get("page_size"))
	if size <= 0 {
		size = 10
	}
	if size > 100 {
		hubError(w, http.StatusBadRequest, "page_size must be at most 100")
		return
	}
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	from, to := min((page-1)*size, len(names)), min(page*size, len(names))
	type image struct {
		Digest       string `json:"digest"`
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	}
	type tag struct {
		Name          string  `json:"name"`
		Digest        string  `json:"digest"`
		MediaType     string  `json:"media_type"`
		FullSize      int64   `json:"full_size"`
		TagStatus     string  `json:"tag_status"`
		TagLastPushed string  `json:"tag_last_pushed"`
		LastUpdated   string  `json:"last_updated"`
		Images        []image `json:"images"`
	}
	res := struct {
		Count    int     `json:"count"`
		Next     *string `json:"next"`
		Previous *string `json:"previous"`
		Results  []tag   `json:"results"`
	}{Count: len(names), Results: []tag{}}
	h.mu.Lock()
	lie := h.opts.Lie
	h.mu.Unlock()
	for _, name := range names[from:to] {
		d := links[name]
		if l, ok := lie[name]; ok {
			d = l
		}
		t := tag{Name: name, Digest: d, TagStatus: "active", Images: []image{}}
		if fi, err := os.Stat(filepath.Join(h.storage(repo), "tags", name, "current", "link")); err == nil {
			t.TagLastPushed = fi.ModTime().UTC().Format(time.RFC3339Nano)
			t.LastUpdated = t.TagLastPushed
		}
		body := h.body(d)
		t.FullSize = int64(len(body))
		var m hubManifest
		if json.Unmarshal(body, &m) == nil {
			t.MediaType = m.MediaType
			for _, c := range m.Manifests {
				im := image{Digest: c.Digest}
				if c.Platform != nil {
					im.OS, im.Architecture = c.Platform.OS, c.Platform.Architecture
				}
				t.Images = append(t.Images, im)
			}
		}
		if len(m.Manifests) == 0 {
			t.Images = append(t.Images, image{Digest: d, OS: "linux", Architecture: "amd64"})
		}
		res.Results = append(res.Results, t)
	}
	link := func(p int) *string {
		u := *r.URL
		qq := u.Query()
		qq.Set("page", strconv.Itoa(p))
		qq.Set("page_size", strconv.Itoa(size))
		u.RawQuery = qq.Encode()
		s := fmt.Sprintf("http://%s%s", r.Host, u.RequestURI())
		return &s
	}
	if to < len(names) {
		res.Next = link(page + 1)
	}
	if page > 1 {
		res.Previous = link(page - 1)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

func (h *DockerHub) deleteTag(w http.ResponseWriter, r *http.Request, repo, tag string) {
	h.mu.Lock()
	h.counts.TagDelete++
	hook := h.opts.OnDelete
	h.mu.Unlock()
	if hook != nil {
		hook(tag)
	}
	if _, ok := h.tagLinks(repo)[tag]; !ok {
		hubError(w, http.StatusNotFound, "tag not found")
		return
	}
	if err := h.deleteUpstream(repo, tag); err != nil {
		hubError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *DockerHub) deleteUpstream(repo, ref string) error {
	req, err := http.NewRequest(http.MethodDelete, h.reg.URL+"/v2/"+repo+"/manifests/"+ref, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("upstream DELETE %s: %s", ref, resp.Status)
	}
	return nil
}

// v2 proxies the registry with Hub's semantics: a manifest GET by tag is
// counted apart (a pull that a HEAD would have spared); DELETE by tag is
// unsupported; DELETE by digest is refused with 403 while a tag names the
// digest or an index of the repository lists it, and answers 500 for a
// pending digest.
func (h *DockerHub) v2(w http.ResponseWriter, r *http.Request) {
	name, ref, isManifest := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
	h.mu.Lock()
	switch {
	case isManifest && r.Method == http.MethodGet && !strings.HasPrefix(ref, "sha256:"):
		h.counts.ManifestGETByTag++
		h.counts.ManifestGET++
	case isManifest && r.Method == http.MethodGet:
		h.counts.ManifestGET++
	case isManifest && r.Method == http.MethodHead:
		h.counts.ManifestHEAD++
	case r.Method == http.MethodDelete:
		h.counts.V2Delete++
	}
	pending, hook := h.opts.Pending[ref], h.opts.OnDelete
	h.mu.Unlock()
	if hook != nil && r.Method == http.MethodDelete {
		hook(ref)
	}
	switch {
	case strings.Contains(r.URL.Path, "/referrers/"):
		writeRegistryError(w, http.StatusNotFound, "NOT_FOUND", "404 page not found")
	case r.Method != http.MethodDelete:
		h.proxy.ServeHTTP(w, r)
	case !isManifest || !strings.HasPrefix(ref, "sha256:"):
		writeRegistryError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "The operation is unsupported.")
	case h.referenced(name, ref) != "":
		writeRegistryError(w, http.StatusForbidden, "DENIED", h.referenced(name, ref))
	case pending:
		writeRegistryError(w, http.StatusInternalServerError, "UNKNOWN", "deletion failed; it is retried in the background")
	default:
		h.proxy.ServeHTTP(w, r)
	}
}

// referenced says why digest cannot be deleted: a tag names it, or an
// index of the repository lists it; "" when nothing does.
func (h *DockerHub) referenced(repo, digest string) string {
	for t, d := range h.tagLinks(repo) {
		if d == digest {
			return "manifest is still tagged (" + t + ")"
		}
	}
	revs, _ := os.ReadDir(filepath.Join(h.storage(repo), "revisions", "sha256"))
	for _, e := range revs {
		if _, err := os.Stat(filepath.Join(h.storage(repo), "revisions", "sha256", e.Name(), "link")); err != nil {
			continue
		}
		var m hubManifest
		if json.Unmarshal(h.body("sha256:"+e.Name()), &m) != nil {
			continue
		}
		for _, c := range m.Manifests {
			if c.Digest == digest {
				return "manifest is referenced by sha256:" + e.Name()
			}
		}
	}
	return ""
}
