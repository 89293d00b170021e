package registry

// GitHub Container Registry through GitHub's packages REST API
// (https://docs.github.com/rest/packages/packages): ghcr.io answers
// 405 UNSUPPORTED to every v2 DELETE, so a manifest is deleted as its
// package version. A version is a manifest digest (its name), with the
// tags naming it (metadata.container.tags) and its push time
// (created_at). There is no tag delete.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

type github struct {
	a     *apiClient
	owner string
	pkg   string // URL-escaped: repo%2Fimage

	// lookup finds a digest's version in the repository's listing.
	lookup func(ctx context.Context, digest string) (Listed, error)

	mu   sync.Mutex
	kind string // "orgs" or "users", once known
}

func newGitHub(a *apiClient, path string) *github {
	owner, pkg, _ := strings.Cut(path, "/")
	return &github{a: a, owner: owner, pkg: url.PathEscape(pkg)}
}

type ghVersion struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Metadata  struct {
		Container struct {
			Tags []string `json:"tags"`
		} `json:"container"`
	} `json:"metadata"`
}

// versions returns the path of the package's versions under kind.
func (g *github) versions(kind string) string {
	return fmt.Sprintf("/%s/%s/packages/container/%s/versions", kind, url.PathEscape(g.owner), g.pkg)
}

func (g *github) list(ctx context.Context) ([]Listed, error) {
	g.mu.Lock()
	kinds := []string{"orgs", "users"}
	if g.kind != "" {
		kinds = []string{g.kind}
	}
	g.mu.Unlock()
	var err error
	for _, kind := range kinds {
		var out []Listed
		out, err = g.listUnder(ctx, kind)
		if err == nil {
			g.mu.Lock()
			g.kind = kind
			g.mu.Unlock()
			return out, nil
		}
		if !isNotFound(err) {
			return nil, err
		}
	}
	return nil, err
}

func isNotFound(err error) bool {
	e, ok := err.(*Error) //nolint:errorlint // an answer of this package, unwrapped
	return ok && e.Status == http.StatusNotFound
}

func (g *github) listUnder(ctx context.Context, kind string) ([]Listed, error) {
	var out []Listed
	err := g.a.pages(ctx, g.versions(kind)+"?per_page=100&state=active", func(u string) (string, error) {
		var page []ghVersion
		resp, err := g.a.getJSON(ctx, u, &page)
		if err != nil {
			return "", err
		}
		for _, v := range page {
			if v.ID <= 0 {
				return "", fmt.Errorf("%w: GitHub package version %s has id %d", ErrBadResponse, quoteValue(v.Name), v.ID)
			}
			out = append(out, Listed{Digest: v.Name, Tags: v.Metadata.Container.Tags, Created: v.CreatedAt, ID: fmt.Sprint(v.ID)})
		}
		next, err := nextLink(resp, "")
		if err != nil {
			return "", err
		}
		if next != "" {
			if err := g.a.sameOrigin(next); err != nil {
				return "", err
			}
		}
		return next, nil
	})
	return out, err
}

// deleteTag: GitHub has no tag delete; answered like a registry that has
// none (405 UNSUPPORTED), without a request.
func (g *github) deleteTag(_ context.Context, tag string) error {
	return &Error{Method: http.MethodDelete, Path: "tag " + tag, Status: http.StatusMethodNotAllowed, Code: "UNSUPPORTED",
		Message: "GitHub's packages API cannot delete a tag alone"}
}

// deleteDigest deletes the package version that names digest (204),
// once GET .../versions/{id} confirms that the listed id is that digest's
// (one more API request per delete). A digest no version names is a 404:
// apply then asks the registry whether it is gone.
func (g *github) deleteDigest(ctx context.Context, digest string) error {
	e, err := g.lookup(ctx, digest)
	if err != nil {
		return err
	}
	g.mu.Lock()
	kind := g.kind
	g.mu.Unlock()
	if kind == "" {
		kind = "orgs"
	}
	// The id comes from a listing: read the version it names right
	// before deleting it, and delete only if it is this digest.
	var v ghVersion
	if _, err := g.a.getJSON(ctx, g.versions(kind)+"/"+url.PathEscape(e.ID), &v); err != nil {
		return err
	}
	if v.Name != digest || fmt.Sprint(v.ID) != e.ID {
		return fmt.Errorf("%w: GitHub package version %s is %s (id %d), not %s as the listing said; not deleted", ErrBadResponse, e.ID, quoteValue(v.Name), v.ID, digest)
	}
	resp, err := g.a.deleteOnce(ctx, g.versions(kind)+"/"+url.PathEscape(e.ID))
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}
