package sandbox

// GitLab is a stand-in for GitLab's container registry in front of a real
// registry. It follows ../shared/docs/vendors.md §8, which cites
// gitlabhq/gitlabhq:doc/api/container_registry.md
// (https://docs.gitlab.com/api/container_registry/):
//   - GET /groups/:id/registry/repositories (subgroups' projects
//     included) and GET /projects/:id/registry/repositories, :id the
//     URL-encoded full path; entries id, name, path, project_id,
//     location, created_at; offset paging (per_page up to 100, page) with
//     X-Next-Page, X-Page, X-Per-Page, X-Total and Link headers;
//   - DELETE /projects/:id/registry/repositories/:repository_id/tags/:tag_name
//     answering 200, and 403 for a protected tag;
//   - PRIVATE-TOKEN or JOB-TOKEN authentication ("401 Unauthorized");
//   - GitLab.com disables /v2/_catalog;
//   - the GraphQL API at /api/graphql
//     (https://docs.gitlab.com/api/graphql/reference/#containerrepositorytag):
//     containerRepository(id: "gid://gitlab/ContainerRepository/ID")
//     .tags(first, after) with nodes {name digest createdAt totalSize}
//     (totalSize a BigInt, as a string) and pageInfo {hasNextPage
//     endCursor}. Only that query is answered, whatever its text.
//
// The API is served under /api/v4 (so regprune's --api-url alone selects
// it), /v2/ is proxied to the registry. Projects are configured; their
// registry repositories are what the registry's storage holds under them.

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

// GitLabOptions configure the stand-in.
type GitLabOptions struct {
	// Projects are the projects' full paths ("mygroup/sub/app"); groups
	// are their parent paths.
	Projects []string
	// Token, if set, must come as PRIVATE-TOKEN or JOB-TOKEN.
	Token string
	// Protected are tags (by name) whose delete answers 403.
	Protected map[string]bool
	// PerPage caps per_page (default 100, GitLab's maximum), and the
	// GraphQL page size.
	PerPage int
	// OnDelete, if set, is called before each tag or manifest delete.
	OnDelete func(ref string)
	// Lie, if set, maps tags to the digest the GraphQL listing claims
	// for them (a hostile answer).
	Lie map[string]string
	// NoGraphQL answers every GraphQL query with an error (an older
	// GitLab).
	NoGraphQL bool
}

// GitLabCounts counts the stand-in's requests.
type GitLabCounts struct {
	API, TagDelete, Catalog, GraphQL int
}

// GitLab is the running stand-in: Host names repositories, URL is the
// API URL (http://Host/api/v4); Close, Ref, Counts and SetOptions come
// from standIn.
type GitLab struct {
	standIn[GitLabOptions, GitLabCounts]
}

// StartGitLab starts the stand-in in front of reg (which must not require
// authentication).
func StartGitLab(reg *Registry, o GitLabOptions) (*GitLab, error) {
	g := &GitLab{}
	if err := g.start(reg, o, g, "/api/v4"); err != nil {
		return nil, err
	}
	return g, nil
}

func glError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (g *GitLab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v2/") || r.URL.Path == "/v2" {
		if strings.HasPrefix(r.URL.Path, "/v2/_catalog") {
			g.mu.Lock()
			g.counts.Catalog++
			g.mu.Unlock()
			writeRegistryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
		g.mu.Lock()
		hook := g.opts.OnDelete
		g.mu.Unlock()
		if hook != nil && r.Method == http.MethodDelete {
			hook(r.URL.Path)
		}
		g.proxy.ServeHTTP(w, r)
		return
	}
	if r.URL.Path == "/api/graphql" {
		g.graphql(w, r)
		return
	}
	p, ok := strings.CutPrefix(r.URL.EscapedPath(), "/api/v4/")
	if !ok {
		glError(w, http.StatusNotFound, "404 Not Found")
		return
	}
	g.mu.Lock()
	g.counts.API++
	o := g.opts
	g.mu.Unlock()
	if o.Token != "" && r.Header.Get("PRIVATE-TOKEN") != o.Token && r.Header.Get("JOB-TOKEN") != o.Token {
		glError(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	seg := strings.Split(p, "/")
	if len(seg) < 4 || (seg[0] != "groups" && seg[0] != "projects") || seg[2] != "registry" || seg[3] != "repositories" {
		glError(w, http.StatusNotFound, "404 Not Found")
		return
	}
	full, err := url.PathUnescape(seg[1])
	if err != nil {
		glError(w, http.StatusNotFound, "404 Not Found")
		return
	}
	switch {
	case len(seg) == 4 && r.Method == http.MethodGet:
		repos, ok := g.repositories(seg[0], full)
		if !ok {
			glError(w, http.StatusNotFound, "404 "+strings.TrimSuffix(seg[0], "s")+" Not Found")
			return
		}
		g.page(w, r, repos)
	case len(seg) == 7 && seg[0] == "projects" && seg[5] == "tags" && r.Method == http.MethodDelete:
		g.deleteTag(w, full, seg[4], seg[6])
	default:
		glError(w, http.StatusNotFound, "404 Not Found")
	}
}

type glRepo struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Path      string `json:"path"`
	ProjectID int64  `json:"project_id"`
	Location  string `json:"location"`
	CreatedAt string `json:"created_at"`
}

// all lists every registry repository of the configured projects.
func (g *GitLab) all() []glRepo {
	root := filepath.Join(g.reg.Dir(), "docker", "registry", "v2", "repositories")
	var paths []string
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == "_manifests" {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			paths = append(paths, filepath.ToSlash(rel))
			return filepath.SkipDir
		}
		return nil
	})
	sort.Strings(paths)
	var out []glRepo
	for i, p := range paths {
		for j, proj := range g.opts.Projects {
			if p == proj || strings.HasPrefix(p, proj+"/") {
				name := strings.TrimPrefix(strings.TrimPrefix(p, proj), "/")
				out = append(out, glRepo{ID: int64(100 + i), Name: name, Path: p, ProjectID: int64(10 + j),
					Location: g.Host + "/" + p, CreatedAt: "2026-11-01T00:00:00.000Z"})
				break
			}
		}
	}
	return out
}

// repositories lists a group's (subgroups included) or a project's
// registry repositories; ok is false when no such group or project.
func (g *GitLab) repositories(kind, full string) ([]glRepo, bool) {
	found := false
	for _, proj := range g.opts.Projects {
		if (kind == "projects" && proj == full) || (kind == "groups" && strings.HasPrefix(proj, full+"/")) {
			found = true
		}
	}
	if !found {
		return nil, false
	}
	var out []glRepo
	for _, r := range g.all() {
		proj := r.Path
		if r.Name != "" {
			proj = strings.TrimSuffix(r.Path, "/"+r.Name)
		}
		if (kind == "projects" && proj == full) || (kind == "groups" && strings.HasPrefix(proj, full+"/")) {
			out = append(out, r)
		}
	}
	return out, true
}

func (g *GitLab) page(w http.ResponseWriter, r *http.Request, repos []glRepo) {
	q := r.URL.Query()
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 20
	}
	limit := g.opts.PerPage
	if limit <= 0 {
		limit = 100
	}
	per = min(per, limit)
	page, _ := strconv.Atoi(q.Get("page"))
	page = max(page, 1)
	from, to := min((page-1)*per, len(repos)), min(page*per, len(repos))
	w.Header().Set("X-Page", strconv.Itoa(page))
	w.Header().Set("X-Per-Page", strconv.Itoa(per))
	w.Header().Set("X-Total", strconv.Itoa(len(repos)))
	if to < len(repos) {
		w.Header().Set("X-Next-Page", strconv.Itoa(page+1))
		u := *r.URL
		qq := u.Query()
		qq.Set("page", strconv.Itoa(page+1))
		u.RawQuery = qq.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<http://%s%s>; rel="next"`, r.Host, u.RequestURI()))
	} else {
		w.Header().Set("X-Next-Page", "")
	}
	w.Header().Set("Content-Type", "application/json")
	out := repos[from:to]
	if out == nil {
		out = []glRepo{}
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (g *GitLab) deleteTag(w http.ResponseWriter, project, repoID, tagEsc string) {
	g.mu.Lock()
	g.counts.TagDelete++
	protected, hook := g.opts.Protected, g.opts.OnDelete
	g.mu.Unlock()
	if hook != nil {
		hook(tagEsc)
	}
	tag, err := url.PathUnescape(tagEsc)
	if err != nil {
		glError(w, http.StatusBadRequest, "400 Bad request")
		return
	}
	repos, ok := g.repositories("projects", project)
	var path string
	for _, r := range repos {
		if strconv.FormatInt(r.ID, 10) == repoID {
			path = r.Path
		}
	}
	if !ok || path == "" {
		glError(w, http.StatusNotFound, "404 Repository Not Found")
		return
	}
	if protected[tag] {
		glError(w, http.StatusForbidden, "403 Forbidden - Protected tags cannot be deleted")
		return
	}
	req, err := http.NewRequest(http.MethodDelete, g.reg.URL+"/v2/"+path+"/manifests/"+tag, nil)
	if err != nil {
		glError(w, http.StatusInternalServerError, err.Error())
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		glError(w, http.StatusInternalServerError, "500 Internal Server Error")
		return
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted:
		w.WriteHeader(http.StatusOK)
	case http.StatusNotFound:
		glError(w, http.StatusNotFound, "404 Tag Not Found")
	default:
		glError(w, http.StatusInternalServerError, "500 Internal Server Error")
	}
}

// graphql answers containerRepository.tags.
func (g *GitLab) graphql(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.counts.API++
	g.counts.GraphQL++
	o := g.opts
	g.mu.Unlock()
	if o.Token != "" && r.Header.Get("PRIVATE-TOKEN") != o.Token && r.Header.Get("JOB-TOKEN") != o.Token {
		glError(w, http.StatusUnauthorized, "401 Unauthorized")
		return
	}
	var req struct {
		Query     string `json:"query"`
		Variables struct {
			ID    string `json:"id"`
			After string `json:"after"`
		} `json:"variables"`
	}
	if r.Method != http.MethodPost || json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req) != nil {
		glError(w, http.StatusBadRequest, "400 Bad request")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if o.NoGraphQL || !strings.Contains(req.Query, "containerRepository") {
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"message": "Field 'tags' doesn't exist on type 'ContainerRepository'"}}})
		return
	}
	var repo string
	for _, rp := range g.all() {
		if req.Variables.ID == fmt.Sprintf("gid://gitlab/ContainerRepository/%d", rp.ID) {
			repo = rp.Path
		}
	}
	if repo == "" {
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"containerRepository": nil}})
		return
	}
	base := filepath.Join(g.reg.Dir(), "docker", "registry", "v2", "repositories", filepath.FromSlash(repo), "_manifests", "tags")
	ents, _ := os.ReadDir(base)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	per := o.PerPage
	if per <= 0 {
		per = 100
	}
	from := 0
	if req.Variables.After != "" {
		from, _ = strconv.Atoi(strings.TrimPrefix(req.Variables.After, "cursor-"))
	}
	from = min(from, len(names))
	to := min(from+per, len(names))
	nodes := []map[string]string{}
	for _, name := range names[from:to] {
		link := filepath.Join(base, name, "current", "link")
		b, err := os.ReadFile(link)
		if err != nil {
			continue
		}
		fi, _ := os.Stat(link)
		if l, ok := o.Lie[name]; ok {
			b = []byte(l)
		}
		nodes = append(nodes, map[string]string{"name": name, "digest": string(b),
			"createdAt": fi.ModTime().UTC().Format(time.RFC3339Nano), "totalSize": strconv.FormatInt(g.size(string(b)), 10)})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"containerRepository": map[string]any{"tags": map[string]any{
		"nodes":    nodes,
		"pageInfo": map[string]any{"hasNextPage": to < len(names), "endCursor": "cursor-" + strconv.Itoa(to)},
	}}}})
}

// size is the manifest's layers and config, as GitLab's total_size counts.
func (g *GitLab) size(digest string) int64 {
	hex := strings.TrimPrefix(digest, "sha256:")
	if len(hex) < 2 {
		return 0
	}
	b, _ := os.ReadFile(filepath.Join(g.reg.Dir(), "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data"))
	var m struct {
		Config struct {
			Size int64 `json:"size"`
		} `json:"config"`
		Layers []struct {
			Size int64 `json:"size"`
		} `json:"layers"`
	}
	_ = json.Unmarshal(b, &m)
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}
