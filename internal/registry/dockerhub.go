package registry

// Docker Hub through its own API (https://docs.docker.com/reference/api/hub/latest/,
// docker/docs:content/reference/api/hub/latest.yaml): the tag listing
// gives each tag's digest, media type, platform digests and push time,
// 100 a page; a tag is deleted with DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/
// (docker/hub-tool:pkg/hub/tags.go), a manifest by digest over v2 once
// untagged. The registry credential is exchanged for a Hub JWT at
// POST {api}/v2/auth/token.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

type dockerHub struct {
	a          *apiClient
	ns, repo   string
	user, pass string

	once   sync.Once
	token  string
	tokErr error
}

func newDockerHub(a *apiClient, path, user, pass string) *dockerHub {
	ns, repo, _ := strings.Cut(path, "/")
	h := &dockerHub{a: a, ns: ns, repo: repo, user: user, pass: pass}
	return h
}

// login exchanges the registry credential for a Hub JWT, once; anonymous
// without one.
func (h *dockerHub) login(ctx context.Context) error {
	h.once.Do(func() {
		if h.user == "" || h.pass == "" {
			return
		}
		resp, err := h.a.do(ctx, http.MethodPost, "/v2/auth/token", map[string]string{"identifier": h.user, "secret": h.pass})
		if err != nil {
			h.tokErr = fmt.Errorf("the Docker Hub token exchange: %w", err)
			return
		}
		defer resp.Body.Close()
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := decodeBounded(resp, &tok); err != nil || tok.AccessToken == "" {
			h.tokErr = fmt.Errorf("%w: the Docker Hub token exchange: no access_token", ErrBadResponse)
			return
		}
		h.a.c.secrets.addAuthorization("Bearer " + tok.AccessToken)
		h.token = tok.AccessToken
		h.a.header = func(hd http.Header) { hd.Set("Authorization", "Bearer "+tok.AccessToken) }
	})
	return h.tokErr
}

type hubTag struct {
	Name          string    `json:"name"`
	Digest        string    `json:"digest"`
	MediaType     string    `json:"media_type"`
	FullSize      int64     `json:"full_size"`
	TagLastPushed time.Time `json:"tag_last_pushed"`
	Images        []struct {
		Digest string `json:"digest"`
	} `json:"images"`
}

func (h *dockerHub) list(ctx context.Context) ([]Listed, error) {
	if err := h.login(ctx); err != nil {
		return nil, err
	}
	byDigest := map[string]int{}
	var out []Listed
	first := fmt.Sprintf("/v2/namespaces/%s/repositories/%s/tags?page_size=100", url.PathEscape(h.ns), url.PathEscape(h.repo))
	err := h.a.pages(ctx, first, func(u string) (string, error) {
		var page struct {
			Next    *string  `json:"next"`
			Results []hubTag `json:"results"`
		}
		if _, err := h.a.getJSON(ctx, u, &page); err != nil {
			return "", err
		}
		for _, t := range page.Results {
			if err := checkDigest("digest of tag "+quoteValue(t.Name)+" in the Docker Hub listing", t.Digest); err != nil {
				return "", err
			}
			i, ok := byDigest[t.Digest]
			if !ok {
				i = len(out)
				byDigest[t.Digest] = i
				out = append(out, Listed{Digest: t.Digest, Size: t.FullSize})
			}
			out[i].Tags = append(out[i].Tags, t.Name)
			if t.TagLastPushed.After(out[i].Created) {
				out[i].Created = t.TagLastPushed
			}
		}
		if page.Next == nil || *page.Next == "" {
			return "", nil
		}
		if err := h.a.sameOrigin(*page.Next); err != nil {
			return "", err
		}
		return *page.Next, nil
	})
	return out, err
}

// deleteTag deletes a tag through the Hub API (204; a 404 is a tag gone).
func (h *dockerHub) deleteTag(ctx context.Context, tag string) error {
	if err := h.login(ctx); err != nil {
		return err
	}
	resp, err := h.a.deleteOnce(ctx, fmt.Sprintf("/v2/repositories/%s/%s/tags/%s/", url.PathEscape(h.ns), url.PathEscape(h.repo), url.PathEscape(tag)))
	if err != nil {
		return err
	}
	drain(resp)
	return nil
}

// deleteDigest: over v2, once untagged (Repo.Delete classifies Hub's
// 403 and 500).
func (h *dockerHub) deleteDigest(context.Context, string) error { return errUseV2 }

// hubDeleteDigest deletes a manifest on Docker Hub, which refuses (403)
// while a tag names it: like a v2 DELETE by digest elsewhere, it removes
// the tags naming the digest first, each confirmed by a HEAD right before
// (a tag moved since the listing stays), then the manifest over v2. Only
// the tags of the listing the handle read first are deleted, never one
// tagged since. A 403 after the tags are gone (a tag pushed since, or
// another image references it) is that item's
// failure (ErrStillReferenced, not a denial of every delete); a 500 means
// Hub retries the delete in the background (ErrPending).
func (r *Repo) hubDeleteDigest(ctx context.Context, digest string) error {
	untag := func() error {
		l, err := r.listing(ctx, false)
		if err != nil {
			return err
		}
		for _, e := range l {
			if e.Digest != digest {
				continue
			}
			for _, t := range e.Tags {
				d, err := r.Head(ctx, t)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if d.Digest != digest {
					continue // moved since the listing: not this manifest's tag
				}
				if err := r.v.deleteTag(ctx, t); err != nil && !errors.Is(err, ErrNotFound) {
					return fmt.Errorf("deleting tag %s: %w", t, err)
				}
			}
		}
		return nil
	}
	if err := untag(); err != nil {
		return err
	}
	// A 403 now is not answered by listing again and deleting what is
	// tagged since: a tag pushed onto digest after the listing is nobody's
	// to delete. Apply retries the item later (ErrStillReferenced), from
	// the same listing.
	err := r.v2Delete(ctx, digest)
	switch status(err) {
	case http.StatusForbidden:
		return fmt.Errorf("%w: Docker Hub refuses to delete %s: it is still tagged or another image references it (%s)", ErrStillReferenced, digest, err.Error())
	case http.StatusInternalServerError:
		return fmt.Errorf("%w: Docker Hub answered 500 to the delete of %s and retries it in the background; the next run verifies (%s)", ErrPending, digest, err.Error())
	}
	return err
}

// status is the HTTP status of an *Error, 0 for any other error.
func status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}
