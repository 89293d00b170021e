package inventory

import (
	"context"
	"errors"
	"strings"

	"github.com/regprune/regprune/internal/digest"
	"github.com/regprune/regprune/internal/registry"
)

// Hinter is what a Cache may also keep: the tags of each repository and
// their digests at the last run (the disk cache has it).
type Hinter interface {
	Hints(repo string) map[string]string
	PutHints(repo string, tags map[string]string)
}

// headOnlyHosts count a manifest GET as a pull (Docker Hub's rate limit):
// there every tag is resolved with HEAD.
var headOnlyHosts = map[string]bool{"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true}

func (c *collector) startHints() {
	host, _, _ := strings.Cut(c.src.Name(), "/")
	c.headOnly = headOnlyHosts[host]
	// A registry reached through Docker Hub's API (--api dockerhub) is
	// Docker Hub wherever it is named.
	if a, ok := c.src.(interface{ API() registry.APISetting }); ok && a.API().API == registry.APIDockerHub {
		c.headOnly = true
	}
	if h, ok := c.o.Cache.(Hinter); ok {
		c.hints = h.Hints(c.src.Name())
	}
}

// saveHints records the tags of a complete collection for the next run.
func (c *collector) saveHints() {
	if h, ok := c.o.Cache.(Hinter); ok {
		h.PutHints(c.src.Name(), c.repo.Tags)
	}
}

// resolve returns the digest tag names, in one request. A tag whose
// manifest the cache holds at the digest the last run saw is resolved
// with HEAD, and the manifest read from the cache when HEAD confirms it.
// Any other tag is resolved with a GET, which returns the digest and the
// body together: the body is verified against the digest, cached, and
// read into the graph, so no second request is needed for it. Where a GET
// counts as a pull (Docker Hub), every tag is resolved with HEAD.
func (c *collector) resolve(ctx context.Context, tag string) (string, error) {
	if c.headOnly {
		d, err := c.src.Head(ctx, tag)
		return d.Digest, err
	}
	if hint, ok := c.hints[tag]; ok && c.o.Cache != nil {
		if body, ok := c.o.Cache.Get(hint); ok && digest.Verify(hint, body) {
			d, err := c.src.Head(ctx, tag)
			if err != nil || d.Digest != hint {
				return d.Digest, err // moved since: read like any digest
			}
			return hint, c.buildOnce(ctx, hint, body, "", false)
		}
	}
	body, d, err := c.src.GetManifest(ctx, tag)
	if err != nil {
		return "", err
	}
	// A GET of the tag, its body hashed: apply need not GET it again to
	// verify a kept tag (graph.Repository.VerifiedTags).
	c.mu.Lock()
	if c.repo.VerifiedTags == nil {
		c.repo.VerifiedTags = map[string]string{}
	}
	c.repo.VerifiedTags[tag] = d.Digest
	c.mu.Unlock()
	return d.Digest, c.buildOnce(ctx, d.Digest, body, d.MediaType, true)
}

// buildOnce reads body into the graph, and caches it when put is set,
// unless another tag of the same digest did: two tags of one digest read
// concurrently write the cache once.
func (c *collector) buildOnce(ctx context.Context, digest string, body []byte, ctype string, put bool) error {
	c.mu.Lock()
	if c.claimed == nil {
		c.claimed = map[string]bool{}
	}
	first := !c.claimed[digest]
	c.claimed[digest] = true
	c.mu.Unlock()
	if !first {
		return nil
	}
	if put && c.o.Cache != nil {
		c.o.Cache.Put(digest, body)
	}
	m, err := c.read.Parse(digest, body, ctype)
	if err != nil {
		return readErr(err)
	}
	return readErr(c.build(ctx, m))
}

// readWithTag reports whether resolve read the manifest d with a tag
// already.
func (c *collector) readWithTag(d string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.claimed[d] && c.repo.Manifests[d] != nil
}

// readErr marks an error reading what a resolved tag names (its config,
// say): unlike a tag gone since the listing, a 404 there is not "the tag
// is not there", and fails the repository.
func readErr(err error) error {
	if err == nil {
		return nil
	}
	return &readError{err}
}

type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }

// Is matches what the error matches, except registry.ErrNotFound.
func (e *readError) Is(target error) bool {
	return target != registry.ErrNotFound && errors.Is(e.err, target)
}
