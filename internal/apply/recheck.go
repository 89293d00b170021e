package apply

// The re-check: right before deleting, list the repository again, resolve
// every tag, and skip each planned item whose tags changed since the plan.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// resolve lists the tags and HEADs each one. A tag that vanishes between
// list and HEAD is left out; one still listed that does not resolve
// fails the re-check (see inventory.Unresolved).
func (a *run) resolve() (map[string]string, error) {
	var tags []string
	err := a.t.ListTags(a.req, func(page []string) error {
		tags = append(tags, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(tags))
	var mu sync.Mutex
	var missing []string
	g, gctx := errgroup.WithContext(a.req)
	g.SetLimit(a.o.Concurrency)
	for _, t := range tags {
		g.Go(func() error {
			d, err := a.t.Head(gctx, t)
			if errors.Is(err, registry.ErrNotFound) {
				mu.Lock()
				missing = append(missing, t)
				mu.Unlock()
				return nil
			}
			if err != nil {
				return fmt.Errorf("tag %s: %w", t, err)
			}
			mu.Lock()
			out[t] = d.Digest
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	found, err := inventory.Unresolved(a.req, a.t, missing)
	for t, d := range found {
		out[t] = d
	}
	return out, err
}

// verify skips items whose tags changed since the plan. It fails only when
// the manifest of a tag that changed since the plan cannot be read.
func (a *run) verify(items []*plan.Item, now map[string]string) error {
	reached, err := a.reachedByChangedTags(now)
	if err != nil {
		return err
	}
	on := map[string][]string{}
	for t, d := range now {
		on[d] = append(on[d], t)
	}
	// A signature, attestation or referrers tag of a digest, pushed or
	// moved since the plan: someone just signed or annotated it.
	artifacts := map[string][]string{}
	planned := a.plannedTags()
	for t, d := range now {
		if subject, _, ok := graph.ArtifactTag(t); ok && planned[t] != d {
			artifacts[subject] = append(artifacts[subject], t)
		}
	}
	for _, it := range items {
		if it.Result != "" {
			continue
		}
		planned := map[string]bool{}
		for _, t := range it.Tags {
			planned[t] = true
			if d, ok := now[t]; ok && d != it.Digest {
				set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonTagMoved, Tags: []string{t}, Digest: d})
				break
			}
		}
		if it.Result != "" {
			continue
		}
		if it.Action == plan.ActionDelete {
			var appeared []string
			for _, t := range on[it.Digest] {
				if !planned[t] {
					appeared = append(appeared, t)
				}
			}
			if len(appeared) > 0 {
				sort.Strings(appeared)
				set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonTagAppeared, Tags: appeared})
			} else if t, ok := reached[it.Digest]; ok {
				set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonReachedByNewTag, Tags: []string{t}})
			} else if ts := artifacts[it.Digest]; len(ts) > 0 {
				sort.Strings(ts)
				set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonArtifactTagMoved, Tags: ts})
			}
			continue
		}
		// An untag: each stale tag must still name the kept digest.
		var keepTags []string
		for _, t := range it.Untag {
			if d, ok := now[t]; ok && d == it.Digest {
				keepTags = append(keepTags, t)
			}
		}
		if len(keepTags) == 0 {
			set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonStaleTagsGone})
		}
		it.Untag = keepTags
	}
	return nil
}

// plannedTags is every tag the plan saw, with its digest then.
func (a *run) plannedTags() map[string]string {
	out := make(map[string]string, len(a.r.Tags))
	for t, d := range a.r.Tags {
		out[t] = d
	}
	for i := range a.r.Items {
		for _, t := range a.r.Items[i].Tags {
			out[t] = a.r.Items[i].Digest
		}
	}
	return out
}

// reachedByChangedTags finds the planned deletions that a tag not in the
// plan reaches through index children: a tag pushed or moved since the
// plan may name an index that references a digest the plan meant to
// delete (a child, or an image re-used as a child). It reads the manifest
// of each such tag and walks its children, and maps each planned deletion
// it reaches to the tag. A tag that names a planned deletion itself is
// caught by verify's own checks.
func (a *run) reachedByChangedTags(now map[string]string) (map[string]string, error) {
	reached := map[string]string{}
	del := map[string]bool{}
	for i := range a.r.Items {
		if a.r.Items[i].Action == plan.ActionDelete {
			del[a.r.Items[i].Digest] = true
		}
	}
	if len(del) == 0 {
		return reached, nil
	}
	planned := a.plannedTags()
	var changed []string
	for t, d := range now {
		if planned[t] != d {
			changed = append(changed, t)
		}
	}
	sort.Strings(changed)
	if len(changed) > 0 {
		a.o.Logger.Info("tags changed since the plan; reading what they reach before deleting", "repository", a.t.Name(), "tags", len(changed))
	}
	via := map[string]string{} // digest -> the changed tag that reaches it
	var level []string
	for _, t := range changed {
		if d := now[t]; via[d] == "" {
			via[d] = t
			level = append(level, d)
		}
	}
	for depth := 0; len(level) > 0; depth++ {
		if depth > 16 {
			return nil, fmt.Errorf("%w: indexes nested deeper than 16", registry.ErrBadResponse)
		}
		kids := make([][]string, len(level))
		g, gctx := errgroup.WithContext(a.req)
		g.SetLimit(a.o.Concurrency)
		for i, d := range level {
			g.Go(func() error {
				c, err := a.children(gctx, d)
				if err != nil {
					return fmt.Errorf("tag %s: manifest %s: %w", via[d], d, err)
				}
				kids[i] = c
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		var next []string
		for i, d := range level {
			for _, c := range kids[i] {
				if _, ok := reached[c]; !ok && del[c] {
					reached[c] = via[d]
				}
				if via[c] == "" {
					via[c] = via[d]
					next = append(next, c)
				}
			}
		}
		level = next
	}
	return reached, nil
}

// children reads the manifest of digest and returns the digests of its
// index entries (none for an image, or a manifest that is gone).
func (a *run) children(ctx context.Context, digest string) ([]string, error) {
	a.mu.Lock()
	c, ok := a.kids[digest]
	a.mu.Unlock()
	if ok {
		return c, nil
	}
	body, _, err := a.t.GetManifest(ctx, digest)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil // gone since the listing: it reaches nothing
	}
	if err != nil {
		return nil, err
	}
	if c, err = registry.ParseChildren("manifest "+digest, body); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.kids[digest] = c
	a.mu.Unlock()
	return c, nil
}
