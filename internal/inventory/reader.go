package inventory

// The Reader is the one way regprune reads a repository: list and resolve
// its tags, read and parse manifests, walk index children and referrers.
// Collect builds the graph through it; apply's re-check and final guard
// read the live registry through it.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/safe"
)

// ReadSource is what a Reader needs from a registry; *registry.Repo has
// it. Source and apply's Target embed it.
type ReadSource interface {
	Name() string
	ListTags(ctx context.Context, fn func(tags []string) error) error
	Head(ctx context.Context, ref string) (registry.Descriptor, error)
	GetManifest(ctx context.Context, ref string) ([]byte, registry.Descriptor, error)
}

// ReaderOptions tunes a Reader.
type ReaderOptions struct {
	Concurrency int   // requests in flight; default 8
	Cache       Cache // manifests by digest, verified on read; nil: none
	// Resolve resolves one listed tag to its digest; nil: a HEAD of the
	// tag (apply's re-check: a cold plan read each tag by GET already).
	// Collect passes its own, which reads the manifest with the tag.
	Resolve func(ctx context.Context, tag string) (string, error)
}

// Reader reads one repository. Safe for concurrent use.
type Reader struct {
	src ReadSource
	o   ReaderOptions

	mu   sync.Mutex
	kids map[string][]string // what each manifest lists, by digest (Children)
	refs map[string][]string // what the referrers API lists, by subject (Referrers)
}

// pagesAhead is how many listed pages may wait for their tags to be
// resolved while the listing goes on.
const pagesAhead = 16

// NewReader returns a Reader of src.
func NewReader(src ReadSource, o ReaderOptions) *Reader {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	return &Reader{src: src, o: o, kids: map[string][]string{}, refs: map[string][]string{}}
}

// Tags lists every tag and resolves each, page by page as the listing
// arrives. The listing runs ahead of the resolution (up to pagesAhead
// pages), so that the next page is not asked for only once the tags of
// this one are resolved. A tag deleted between the listing and its
// resolution is left out; a tag still listed that does not resolve fails
// (Unresolved): a kept tag missing from what is read would let its digest
// be deleted.
func (r *Reader) Tags(ctx context.Context) (map[string]string, error) {
	resolve := r.o.Resolve
	if resolve == nil {
		resolve = func(ctx context.Context, tag string) (string, error) {
			d, err := r.src.Head(ctx, tag)
			return d.Digest, err
		}
	}
	out := map[string]string{}
	var mu sync.Mutex
	var missing []string
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.o.Concurrency)
	pages := make(chan []string, pagesAhead)
	var err error // the listing's; read after pages is closed
	safe.Go(func() {
		defer close(pages)
		err = r.src.ListTags(gctx, func(page []string) error {
			select {
			case pages <- page:
				return nil
			case <-gctx.Done():
				return context.Cause(gctx)
			}
		})
	})
	for page := range pages {
		for _, t := range page {
			g.Go(safe.Func(func() error {
				d, err := resolve(gctx, t)
				if errors.Is(err, registry.ErrNotFound) {
					// Deleted between the listing and the HEAD, or an
					// inconsistent registry: Unresolved tells which.
					mu.Lock()
					missing = append(missing, t)
					mu.Unlock()
					return nil
				}
				if err != nil {
					return fmt.Errorf("tag %s: %w", t, err)
				}
				mu.Lock()
				out[t] = d
				mu.Unlock()
				return nil
			}))
		}
	}
	if werr := g.Wait(); werr != nil {
		return nil, werr
	}
	if err != nil {
		return nil, err
	}
	found, err := Unresolved(ctx, r.src, missing)
	for t, d := range found {
		out[t] = d
	}
	return out, err
}

// Exists HEADs ref (a tag or a digest): the digest it names, and whether
// the registry has it; a 404 is no error.
func (r *Reader) Exists(ctx context.Context, ref string) (string, bool, error) {
	d, err := r.src.Head(ctx, ref)
	if errors.Is(err, registry.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return d.Digest, true, nil
}

// Manifest reads the manifest digest: from the cache when it holds it,
// else with a GET by digest (the body verified against the digest), and
// parses it (Parse). A manifest the registry does not have is an error
// that matches registry.ErrNotFound.
func (r *Reader) Manifest(ctx context.Context, digest string) (*registry.Manifest, error) {
	if r.o.Cache != nil {
		if b, ok := r.o.Cache.Get(digest); ok && registry.Verify(digest, b) {
			return r.Parse(digest, b, "")
		}
	}
	body, desc, err := r.src.GetManifest(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", digest, err)
	}
	if r.o.Cache != nil {
		r.o.Cache.Put(digest, body)
	}
	return r.Parse(digest, body, desc.MediaType)
}

// Parse reads body, the verified manifest digest, into the manifest
// model (registry.ParseManifest, with its bounds). ctype is the
// Content-Type the body came with ("" from the cache). A body without a
// mediaType field takes ctype, else the type its fields imply: an OCI
// index if it lists manifests, an OCI manifest if it has a config (as
// registries serve it, so that a run from the cache reads exactly what a
// cold run reads).
func (r *Reader) Parse(digest string, body []byte, ctype string) (*registry.Manifest, error) {
	m, err := registry.ParseManifest("manifest "+digest, body)
	if err != nil {
		return nil, err
	}
	m.Digest = digest
	switch {
	case m.MediaType != "":
	case ctype != "":
		m.MediaType = ctype
	case len(m.Manifests) > 0:
		m.MediaType = graph.MediaOCIIndex
	case m.Config != nil:
		m.MediaType = graph.MediaOCIManifest
	}
	return m, nil
}

// Children returns the digests the manifest digest lists, reading it at
// most once per Reader; none for an image, and none for a manifest the
// registry no longer has (gone since the listing, it reaches nothing).
func (r *Reader) Children(ctx context.Context, digest string) ([]string, error) {
	r.mu.Lock()
	c, ok := r.kids[digest]
	r.mu.Unlock()
	if ok {
		return c, nil
	}
	m, err := r.Manifest(ctx, digest)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c = m.Children()
	r.mu.Lock()
	r.kids[digest] = c
	r.mu.Unlock()
	return c, nil
}

// Seed parses body, the verified manifest digest read by the caller (a
// GET of a tag naming it), and records what it lists, so that Children
// does not read it again.
func (r *Reader) Seed(digest string, body []byte) error {
	m, err := r.Parse(digest, body, "")
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.kids[digest] = m.Children()
	r.mu.Unlock()
	return nil
}

// ReferrersSource is the OCI referrers API: the referrers index of
// digest as the registry sent it; ok is false when the registry has none
// (it answered 404). *registry.Repo has it; Source and apply's Target
// embed it, and a Reader asks it where its ReadSource has it.
type ReferrersSource interface {
	Referrers(ctx context.Context, digest string) (body []byte, ok bool, err error)
}

// Referrers returns the referrers the referrers API lists for digest,
// asking at most once per Reader. ok is false when the registry has no
// referrers API (it answered 404) or the source cannot ask.
func (r *Reader) Referrers(ctx context.Context, digest string) (refs []string, ok bool, err error) {
	r.mu.Lock()
	refs, ok = r.refs[digest]
	r.mu.Unlock()
	if ok {
		return refs, true, nil
	}
	api, can := r.src.(ReferrersSource)
	if !can {
		return nil, false, nil
	}
	body, ok, err := api.Referrers(ctx, digest)
	if err != nil || !ok {
		return nil, false, err
	}
	m, err := registry.ParseManifest("referrers of "+digest, body)
	if err != nil {
		return nil, false, err
	}
	refs = m.Children()
	r.mu.Lock()
	r.refs[digest] = refs
	r.mu.Unlock()
	return refs, true, nil
}

// Walk is one walk of a Reader: from its roots, level by level.
type Walk struct {
	// What nests, for the error when the walk goes deeper than MaxDepth
	// levels below the roots ("indexes").
	What     string
	MaxDepth int
	// Next reads d and returns what it leads to. It runs concurrently,
	// at most Concurrency at once; an error stops the walk.
	Next func(ctx context.Context, d string) ([]string, error)
	// Found, if set, is called for every digest a digest of the level
	// leads to, seen before or not, in order, once the level is read; not
	// concurrently.
	Found func(from, to string)
}

// Walk reads roots with w.Next, then the digests they lead to that were
// not read yet, level by level (each level sorted), each digest once. It
// fails, with an error that matches registry.ErrBadResponse, when the
// levels nest deeper than w.MaxDepth or reach more than
// registry.MaxManifests manifests.
func (r *Reader) Walk(ctx context.Context, roots []string, w Walk) error {
	seen := map[string]bool{}
	var level []string
	for _, d := range roots {
		if !seen[d] {
			seen[d] = true
			level = append(level, d)
		}
	}
	for depth := 0; len(level) > 0; depth++ {
		if depth > w.MaxDepth {
			return fmt.Errorf("%w: %s nested deeper than %d", registry.ErrBadResponse, w.What, w.MaxDepth)
		}
		out := make([][]string, len(level))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.o.Concurrency)
		for i, d := range level {
			g.Go(safe.Func(func() error {
				var err error
				out[i], err = w.Next(gctx, d)
				return err
			}))
		}
		if err := g.Wait(); err != nil {
			return err
		}
		var next []string
		for i, d := range level {
			for _, n := range out[i] {
				if w.Found != nil {
					w.Found(d, n)
				}
				if !seen[n] {
					seen[n] = true
					next = append(next, n)
				}
			}
		}
		if len(seen) > registry.MaxManifests {
			return fmt.Errorf("%w: more than %d manifests reached from %d roots", registry.ErrBadResponse, registry.MaxManifests, len(roots))
		}
		sort.Strings(next)
		level = next
	}
	return nil
}
