package registry

// GitLab's container registry API (https://docs.gitlab.com/api/container_registry/,
// gitlabhq/gitlabhq:doc/api/container_registry.md): discovery of a
// group's or project's registry repositories (GitLab.com disables
// _catalog), and tag deletes through
// DELETE /projects/:id/registry/repositories/:repository_id/tags/:tag_name,
// which answers 403 for a protected or immutable tag. Manifests are read
// and deleted over v2.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

type gitLab struct {
	a    *apiClient
	path string // the repository path under the registry host
	host string

	mu      sync.Mutex
	project string // URL-escaped project path, once found
	repoID  int64
}

func newGitLab(a *apiClient, path, host string) *gitLab {
	return &gitLab{a: a, path: path, host: host}
}

// glRepository is an entry of the registry repositories lists.
type glRepository struct {
	ID        int64  `json:"id"`
	Path      string `json:"path"`
	ProjectID int64  `json:"project_id"`
	Location  string `json:"location"`
}

// repositories lists the registry repositories under a group or project
// path (u: "/groups/..." or "/projects/..."), following X-Next-Page or Link.
func (a *apiClient) glRepositories(ctx context.Context, u string) ([]glRepository, error) {
	var out []glRepository
	err := a.pages(ctx, u, func(page string) (string, error) {
		var rs []glRepository
		resp, err := a.getJSON(ctx, page, &rs)
		if err != nil {
			return "", err
		}
		out = append(out, rs...)
		if np := strings.TrimSpace(resp.Header.Get("X-Next-Page")); np != "" {
			n, err := strconv.Atoi(np)
			if err != nil || n <= 0 {
				return "", fmt.Errorf("%w: X-Next-Page %s", ErrBadResponse, quoteValue(np))
			}
			next := *resp.Request.URL
			q := next.Query()
			q.Set("page", np)
			next.RawQuery = q.Encode()
			return next.String(), nil
		}
		next, err := nextLink(resp, "")
		if err != nil || next == "" {
			return "", err
		}
		return next, a.sameOrigin(next)
	})
	return out, err
}

// find locates the repository's project and id: the longest prefix of its
// path that is a project listing it.
func (g *gitLab) find(ctx context.Context) (string, int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.project != "" {
		return g.project, g.repoID, nil
	}
	segs := strings.Split(g.path, "/")
	for n := len(segs); n >= 1; n-- {
		project := url.PathEscape(strings.Join(segs[:n], "/"))
		rs, err := g.a.glRepositories(ctx, "/projects/"+project+"/registry/repositories?per_page=100")
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return "", 0, err
		}
		for _, r := range rs {
			if r.Path == g.path {
				if r.ID <= 0 {
					return "", 0, fmt.Errorf("%w: GitLab repository %s has id %d", ErrBadResponse, g.path, r.ID)
				}
				g.project, g.repoID = project, r.ID
				return project, r.ID, nil
			}
		}
	}
	return "", 0, &Error{Method: http.MethodGet, Path: "/projects/:id/registry/repositories", Status: http.StatusNotFound,
		Message: "no GitLab project lists the registry repository " + g.path}
}

// list reads the repository's tags with their digests, creation times
// and sizes from GitLab's GraphQL API (containerRepository.tags, 100 a
// page: https://docs.gitlab.com/api/graphql/reference/#containerrepositorytag),
// since the REST tag list has neither (one request per tag). An API URL
// that does not end in /api/v4 has no GraphQL beside it: no listing. A
// GraphQL answer that is an error (an older GitLab) is no listing either,
// logged: the v2 listing stands alone, as on any registry.
func (g *gitLab) list(ctx context.Context) ([]Listed, error) {
	root, ok := strings.CutSuffix(g.a.base, "/api/v4")
	if !ok {
		return nil, nil
	}
	_, id, err := g.find(ctx)
	if err != nil {
		return nil, err
	}
	const query = `query($id: ContainerRepositoryID!, $after: String) {
  containerRepository(id: $id) {
    tags(first: 100, after: $after) {
      nodes { name digest createdAt totalSize }
      pageInfo { hasNextPage endCursor }
    }
  }
}`
	byDigest := map[string]int{}
	var out []Listed
	after := ""
	seen := map[string]bool{}
	for n := 0; ; n++ {
		if n >= maxAPIPages || seen[after] {
			return nil, fmt.Errorf("%w: GitLab's tag listing repeats a page or never ends", ErrBadResponse)
		}
		seen[after] = true
		vars := map[string]any{"id": fmt.Sprintf("gid://gitlab/ContainerRepository/%d", id)}
		if after != "" {
			vars["after"] = after
		}
		resp, err := g.a.do(ctx, http.MethodPost, root+"/api/graphql", map[string]any{"query": query, "variables": vars})
		if err != nil {
			return nil, err
		}
		var page struct {
			Data struct {
				ContainerRepository *struct {
					Tags struct {
						Nodes []struct {
							Name      string    `json:"name"`
							Digest    string    `json:"digest"`
							CreatedAt time.Time `json:"createdAt"`
							TotalSize string    `json:"totalSize"`
						} `json:"nodes"`
						PageInfo struct {
							HasNextPage bool   `json:"hasNextPage"`
							EndCursor   string `json:"endCursor"`
						} `json:"pageInfo"`
					} `json:"tags"`
				} `json:"containerRepository"`
			} `json:"data"`
			Errors []struct {
				Message string `json:"message"`
			} `json:"errors"`
		}
		err = decodeBounded(resp, &page)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(page.Errors) > 0 || page.Data.ContainerRepository == nil {
			msg := "no containerRepository"
			if len(page.Errors) > 0 {
				msg = g.a.c.secrets.redact(page.Errors[0].Message)
			}
			g.a.c.log.Warn("GitLab's GraphQL API lists no tags; reading them over v2 alone", "repository", g.path, "answer", msg)
			return nil, nil
		}
		tags := page.Data.ContainerRepository.Tags
		for _, t := range tags.Nodes {
			if err := checkDigest("digest of tag "+quoteValue(t.Name)+" in GitLab's listing", t.Digest); err != nil {
				return nil, err
			}
			i, ok := byDigest[t.Digest]
			if !ok {
				i = len(out)
				byDigest[t.Digest] = i
				size, _ := strconv.ParseInt(t.TotalSize, 10, 64)
				out = append(out, Listed{Digest: t.Digest, Size: size, Created: t.CreatedAt})
			}
			out[i].Tags = append(out[i].Tags, t.Name)
		}
		if !tags.PageInfo.HasNextPage {
			return out, nil
		}
		if tags.PageInfo.EndCursor == "" {
			return nil, fmt.Errorf("%w: GitLab's tag listing has a next page and no cursor", ErrBadResponse)
		}
		after = tags.PageInfo.EndCursor
	}
}

// deleteTag deletes a tag through the REST API. A 403 that names a
// protected or immutable tag is ErrProtected: that tag's refusal, not a
// denial of every delete.
func (g *gitLab) deleteTag(ctx context.Context, tag string) error {
	project, id, err := g.find(ctx)
	if err != nil {
		return err
	}
	resp, err := g.a.deleteOnce(ctx, fmt.Sprintf("/projects/%s/registry/repositories/%d/tags/%s", project, id, url.PathEscape(tag)))
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusForbidden {
		if m := strings.ToLower(e.Message); strings.Contains(m, "protected") || strings.Contains(m, "immutable") {
			return fmt.Errorf("%w: tag %s (%s)", ErrProtected, tag, e.Error())
		}
	}
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

func (g *gitLab) deleteDigest(context.Context, string) error { return errUseV2 }

// Discover lists the registry repositories under prefix (a group's or a
// project's full path) on host through GitLab's API: the group's list
// (subgroups included), else the project's. It returns "host/path" names,
// each checked: its location must be on host.
func (c *Client) Discover(ctx context.Context, host, prefix string) ([]string, error) {
	s, err := c.opts.APIs.Resolve(host)
	if err != nil {
		return nil, err
	}
	if s.API != APIGitLab {
		return nil, fmt.Errorf("%s: discovery needs the gitlab API (it uses %s): %w", host, s.API, ErrUnsupported)
	}
	if strings.Trim(prefix, "/") == "" {
		return nil, fmt.Errorf("%s: GitLab discovery needs a group or project path before the first wildcard (%s/GROUP/**)", host, host)
	}
	r := &Repo{c: c}
	ref, err := ParseRepository(host+"/"+strings.Trim(prefix, "/"), c.opts.Insecure)
	if err != nil {
		return nil, err
	}
	r.ref = ref
	if err := c.openVendor(ctx, r); err != nil {
		return nil, c.secrets.wrap(err)
	}
	a := r.v.(*gitLab).a
	path := url.PathEscape(strings.Trim(prefix, "/"))
	rs, err := a.glRepositories(ctx, "/groups/"+path+"/registry/repositories?per_page=100")
	if errors.Is(err, ErrNotFound) {
		rs, err = a.glRepositories(ctx, "/projects/"+path+"/registry/repositories?per_page=100")
	}
	if err != nil {
		return nil, c.secrets.wrap(fmt.Errorf("GitLab registry repositories under %s (credential: %s): %w", prefix, r.cred, err))
	}
	var out []string
	for _, e := range rs {
		loc, ok := strings.CutPrefix(e.Location, host+"/")
		if !ok {
			return nil, fmt.Errorf("%w: GitLab lists a repository at %s, not on %s", ErrBadResponse, quoteValue(e.Location), host)
		}
		if _, err := ParseRepository(host+"/"+loc, c.opts.Insecure); err != nil {
			return nil, fmt.Errorf("%w: GitLab lists a repository %s: %v", ErrBadResponse, quoteValue(e.Location), err)
		}
		out = append(out, host+"/"+loc)
	}
	return out, nil
}
