// Package inventory collects a repository's tags, manifests, index
// children and referrers into a graph.Repository, concurrently. Any error
// while listing or reading fails the whole repository (fail closed): a
// partial graph is never returned.
package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/safe"
)

// Source is what inventory needs from a registry; *registry.Repo has it.
// It is a ReadSource with the referrers API and image configs.
type Source interface {
	ReadSource
	ReferrersSource
	GetBlob(ctx context.Context, digest string, limit int64) ([]byte, error)
}

// Cache stores manifests and configs by digest. Content addressing means
// an entry can never be stale.
type Cache interface {
	Get(digest string) ([]byte, bool)
	Put(digest string, data []byte)
}

// Options tunes a collection.
type Options struct {
	Concurrency int  // requests in flight; default 8
	NeedAges    bool // fetch image configs for their created time and labels
	Cache       Cache
	Logger      *slog.Logger

	// LabelKeys are the config labels and manifest annotations to keep in
	// the graph (graph.Manifest.Labels, Annotations): the expiry keys of
	// policy.Delete. Labels are read only with NeedAges.
	LabelKeys []string
	// Untagged are digests to read besides what the tags reach (with
	// their children and referrers): manifests that no tag names, which
	// the caller has a reason to look at (the journal's unfinished work).
	// One the registry does not have is left out.
	Untagged []string
}

// maxConfigSize bounds an image config.
const maxConfigSize = 4 << 20

// Collect builds the graph of src.
func Collect(ctx context.Context, src Source, o Options) (*graph.Repository, error) {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &collector{src: src, o: o, repo: graph.NewRepository(src.Name())}
	c.read = NewReader(src, ReaderOptions{Concurrency: o.Concurrency, Cache: o.Cache, Resolve: c.resolve})
	c.startHints()
	if err := c.tags(ctx); err != nil {
		return nil, fmt.Errorf("listing %s: %w", src.Name(), err)
	}
	if err := c.manifests(ctx); err != nil {
		return nil, fmt.Errorf("reading %s: %w", src.Name(), err)
	}
	if err := c.referrers(ctx); err != nil {
		return nil, fmt.Errorf("reading referrers in %s: %w", src.Name(), err)
	}
	c.saveHints()
	return c.repo, nil
}

type collector struct {
	src  Source
	read *Reader // every tag, manifest and referrers list is read through it
	o    Options
	mu   sync.Mutex
	repo *graph.Repository

	hints    map[string]string // tag -> digest at the last run (see resolve.go)
	headOnly bool              // resolve every tag with HEAD
	claimed  map[string]bool   // digests read with their tags
}

// tags lists every tag and resolves each (resolve.go), page by page.
func (c *collector) tags(ctx context.Context) error {
	tags, err := c.read.Tags(ctx)
	if err != nil {
		return err
	}
	c.repo.Tags = tags
	return nil
}

// manifests fetches every tagged manifest, then children level by level.
func (c *collector) manifests(ctx context.Context) error {
	root := map[string]bool{}
	var roots []string
	for _, d := range c.repo.Tags {
		if !root[d] {
			root[d] = true
			roots = append(roots, d)
		}
	}
	extra := map[string]bool{}
	for _, d := range c.o.Untagged {
		if !root[d] && !extra[d] {
			extra[d] = true
			roots = append(roots, d)
		}
	}
	sort.Strings(roots)
	return c.read.Walk(ctx, roots, Walk{What: "indexes", MaxDepth: 16, Next: func(ctx context.Context, d string) ([]string, error) {
		switch {
		case extra[d]:
			// From the registry, never the cache: whether the registry
			// still has it is the question.
			body, desc, err := c.src.GetManifest(ctx, d)
			if errors.Is(err, registry.ErrNotFound) {
				return nil, nil // gone: nothing of it to keep or delete
			}
			if err != nil {
				return nil, fmt.Errorf("manifest %s: %w", d, err)
			}
			if c.o.Cache != nil {
				c.o.Cache.Put(d, body)
			}
			m, err := c.read.Parse(d, body, desc.MediaType)
			if err == nil {
				err = c.build(ctx, m)
			}
			if err != nil {
				return nil, err
			}
		case !c.readWithTag(d):
			if err := c.fetch(ctx, d, !root[d]); err != nil {
				return nil, err
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if m := c.repo.Manifests[d]; m != nil {
			return m.Children, nil
		}
		return nil, nil
	}})
}

const createdKey = "org.opencontainers.image.created"

// fetch reads one manifest (and its config when ages are needed).
// optional marks index children: one the registry does not have is
// skipped, since nothing of it can be deleted or kept.
func (c *collector) fetch(ctx context.Context, digest string, optional bool) error {
	m, err := c.read.Manifest(ctx, digest)
	if optional && errors.Is(err, registry.ErrNotFound) {
		c.o.Logger.Warn("index child missing from the registry", "repository", c.src.Name(), "digest", digest)
		return nil
	}
	if err != nil {
		return err
	}
	return c.build(ctx, m)
}

// build adds raw, a manifest read and parsed by the Reader, to the graph
// (reading its config when ages are needed).
func (c *collector) build(ctx context.Context, raw *registry.Manifest) error {
	digest := raw.Digest
	m := &graph.Manifest{Digest: digest, MediaType: raw.MediaType, Size: raw.Size, ArtifactType: raw.ArtifactType, Children: raw.Children()}
	if raw.Config != nil {
		m.Blobs = append(m.Blobs, graph.Blob{Digest: raw.Config.Digest, Size: raw.Config.Size})
		if m.ArtifactType == "" && !graph.IsImageConfigType(raw.Config.MediaType) {
			m.ArtifactType = raw.Config.MediaType
		}
	}
	for _, l := range raw.Layers {
		m.Blobs = append(m.Blobs, graph.Blob{Digest: l.Digest, Size: l.Size})
	}
	if raw.Subject != nil {
		m.Subject = raw.Subject.Digest
	}
	m.CreatedAnnotation = parseTime(raw.Annotations[createdKey])
	m.Annotations = pick(raw.Annotations, c.o.LabelKeys)
	m.Attestations = attestations(raw.Manifests)
	if c.o.NeedAges && raw.Config != nil && graph.IsImageConfigType(raw.Config.MediaType) && raw.Subject == nil {
		if err := c.config(ctx, m, raw.Config.Digest); err != nil {
			return err
		}
	}
	c.mu.Lock()
	if len(c.repo.Manifests) >= registry.MaxManifests {
		c.mu.Unlock()
		return fmt.Errorf("%w: more than %d manifests in %s, the bound of one repository", registry.ErrBadResponse, registry.MaxManifests, c.src.Name())
	}
	c.repo.Manifests[digest] = m
	if m.Subject != "" {
		c.repo.AddReferrer(m.Subject, digest)
	}
	c.mu.Unlock()
	return nil
}

func (c *collector) config(ctx context.Context, m *graph.Manifest, digest string) error {
	var body []byte
	if c.o.Cache != nil {
		if b, ok := c.o.Cache.Get(digest); ok && registry.Verify(digest, b) {
			body = b
		}
	}
	if body == nil {
		b, err := c.src.GetBlob(ctx, digest, maxConfigSize)
		if err != nil {
			return fmt.Errorf("config %s of %s: %w", digest, m.Digest, err)
		}
		body = b
		if c.o.Cache != nil {
			c.o.Cache.Put(digest, body)
		}
	}
	var cfg struct {
		Created string `json:"created"`
		Config  struct {
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil {
		// An unreadable config only means the age is unknown.
		c.o.Logger.Warn("unreadable image config", "digest", digest, "err", err)
		return nil
	}
	m.CreatedConfig = parseTime(cfg.Created)
	m.CreatedLabel = parseTime(cfg.Config.Labels[createdKey])
	m.Labels = pick(cfg.Config.Labels, c.o.LabelKeys)
	return nil
}

// pick returns the entries of kv whose key is in keys; nil for none.
func pick(kv map[string]string, keys []string) map[string]string {
	var out map[string]string
	for _, k := range keys {
		if v, ok := kv[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// attestations lists the entries of an index that buildx marks as
// attestation manifests (provenance, SBOM): they carry no image labels.
func attestations(entries []registry.Descriptor) []string {
	var out []string
	for _, e := range entries {
		if e.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			out = append(out, e.Digest)
		}
	}
	return out
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// referrers links artifacts to their subjects: cosign tags and the
// sha256-<hex> fallback index by name, and the referrers API when the
// registry has one (probed once per repository).
func (c *collector) referrers(ctx context.Context) error {
	for t, d := range c.repo.Tags {
		subject, suffix, ok := graph.ArtifactTag(t)
		if !ok {
			continue
		}
		if suffix == "" {
			// The fallback tag names an index listing the referrers,
			// if what it names is one (graph.FallbackProblem); else it
			// is a warning, and nothing is decided from it.
			if why := c.fallbackProblem(subject, d); why != "" {
				c.repo.FallbackRejected[t] = why
				c.o.Logger.Warn("referrers fallback tag is not an index of referrers; nothing is decided from it", "repository", c.src.Name(), "tag", t, "why", why)
				continue
			}
		}
		c.repo.AddReferrer(subject, d)
		if suffix == "" {
			for _, ch := range c.repo.Manifests[d].Children {
				c.repo.AddReferrer(subject, ch)
			}
		}
	}
	var subjects []string
	tagsOf := c.repo.TagsByDigest() // once: per manifest it is quadratic
	for d, m := range c.repo.Manifests {
		if m.Subject == "" && !isArtifactOnly(tagsOf[d]) {
			subjects = append(subjects, d)
		}
	}
	if len(subjects) == 0 {
		return nil
	}
	sort.Strings(subjects)
	_, ok, err := c.read.Referrers(ctx, subjects[0]) // the Reader keeps the answer
	if err != nil {
		return err
	}
	c.repo.ReferrersProbed, c.repo.ReferrersAPI = true, ok
	if !ok {
		return nil // no referrers API: the fallback tags above are the truth
	}
	// Ask for the referrers of every manifest, then of the referrers
	// found, level by level: a referrer may have referrers of its own (a
	// signature of an SBOM).
	asked := map[string]bool{}
	for depth := 0; len(subjects) > 0; depth++ {
		if depth > 16 {
			return fmt.Errorf("%w: referrers nested deeper than 16", registry.ErrBadResponse)
		}
		for _, s := range subjects {
			asked[s] = true
		}
		next, err := c.referrersOf(ctx, subjects)
		if err != nil {
			return err
		}
		subjects = subjects[:0]
		for _, r := range next {
			if !asked[r] && c.repo.Manifests[r] != nil {
				subjects = append(subjects, r)
			}
		}
	}
	return nil
}

// fallbackProblem is graph.FallbackProblem for the manifest d that the
// fallback tag of subject names, over the manifests read.
func (c *collector) fallbackProblem(subject, d string) string {
	m := c.repo.Manifests[d]
	if m == nil {
		return "its manifest " + d + " could not be read"
	}
	return graph.FallbackProblem(subject, d, m.MediaType, m.Children, func(e string) (string, bool) {
		if em := c.repo.Manifests[e]; em != nil {
			return em.Subject, true
		}
		return "", false
	})
}

// referrersOf asks the referrers API about subjects, records what it
// lists, fetches the referrers not known yet, and returns every referrer
// found. The Reader asks about each subject once.
func (c *collector) referrersOf(ctx context.Context, subjects []string) ([]string, error) {
	var mu sync.Mutex
	found := map[string][]string{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.o.Concurrency)
	for _, s := range subjects {
		g.Go(safe.Func(func() error {
			refs, ok, err := c.read.Referrers(gctx, s)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: referrers of %s: the referrers API stopped answering", registry.ErrBadResponse, s)
			}
			mu.Lock()
			found[s] = append(found[s], refs...)
			mu.Unlock()
			return nil
		}))
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var all, missing []string
	for s, refs := range found {
		for _, r := range refs {
			c.repo.AddReferrer(s, r)
			all = append(all, r)
			if c.repo.Manifests[r] == nil {
				missing = append(missing, r)
			}
		}
	}
	// Fetch referrers the tags did not reach.
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(c.o.Concurrency)
	for _, d := range dedupe(missing) {
		g.Go(safe.Func(func() error { return c.fetch(gctx, d, true) }))
	}
	return dedupe(all), g.Wait()
}

// isArtifactOnly reports whether tags, the tags of a digest, are all
// artifact tags.
func isArtifactOnly(tags []string) bool {
	for _, t := range tags {
		if _, _, ok := graph.ArtifactTag(t); !ok {
			return false
		}
	}
	return len(tags) > 0
}

func dedupe(in []string) []string {
	sort.Strings(in)
	out := in[:0]
	for i, s := range in {
		if i == 0 || s != in[i-1] {
			out = append(out, s)
		}
	}
	return out
}
