package apply

// Two checks that trust neither the plan nor the planner:
//
//   - verifyKept resolves every tag that stays a second way before anything
//     is deleted: a GET of the tag, whose body is hashed and compared with
//     the digest HEAD gave (a stale CDN or proxy cache can answer HEAD and
//     GET differently, and the wrong one must not decide a delete).
//   - guard, right before the digest deletes, computes from the live
//     registry everything the tags that stay reach (index children,
//     referrers: the referrers API where the registry has one, the
//     sha256-<hex> fallback index and the cosign .sig/.att/.sbom tags) and
//     skips every planned delete in that set, naming the tag. It is a small
//     implementation of its own of "nothing reachable from a kept tag is
//     deleted", so that neither a planner bug nor an edited plan file can
//     delete a kept image.

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// staying returns the tags of now that this apply does not remove: every
// tag listed, less the tags of planned deletions and the stale tags of
// kept images that still name the planned digest and have no result yet.
func (a *run) staying(now map[string]string) map[string]string {
	removed := map[string]bool{}
	for i := range a.r.Items {
		it := &a.r.Items[i]
		if it.Result != "" {
			continue
		}
		var ts []string
		switch {
		case it.Action == plan.ActionDelete:
			ts = it.Tags
		case len(it.Untag) > 0:
			ts = it.Untag
		}
		for _, t := range ts {
			if now[t] == it.Digest {
				removed[t] = true
			}
		}
	}
	for _, t := range a.o.InUseTags {
		delete(removed, t) // an in-use tag stays, whatever the plan says
	}
	out := make(map[string]string, len(now))
	for t, d := range now {
		if !removed[t] {
			out[t] = d
		}
	}
	return out
}

// verifyKept GETs each tag that stays (unless the inventory of this run
// already did) and checks that the body hashes to the digest HEAD gave.
// A disagreement, or a tag HEAD knows and GET does not, fails the
// repository closed. The bodies read seed the guard's walk.
func (a *run) verifyKept(now map[string]string) error {
	stay := a.staying(now)
	var tags []string
	for t, d := range stay {
		if a.r.VerifiedTags[t] != d {
			tags = append(tags, t)
		}
	}
	sort.Strings(tags)
	g, gctx := errgroup.WithContext(a.req)
	g.SetLimit(a.o.Concurrency)
	for _, t := range tags {
		want := stay[t]
		g.Go(func() error {
			body, _, err := a.t.GetManifest(gctx, t)
			if err != nil {
				return fmt.Errorf("kept tag %s: HEAD answered %s, GET of the tag failed: %w", t, want, err)
			}
			if !registry.Verify(want, body) {
				return fmt.Errorf("%w: kept tag %s: HEAD answers %s, but GET serves a body that does not hash to it (a stale cache in front of the registry?)", registry.ErrBadResponse, t, want)
			}
			if err := a.read.Seed(want, body); err != nil {
				return fmt.Errorf("kept tag %s: %w", t, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// guard skips every planned digest delete that a tag staying reaches, in
// the registry as it is now (a.latest: the last listing of this apply).
// When it cannot tell, it skips them all and fails the repository. It
// runs before the tag phase (so that no tag of such a digest, a signature
// tag say, is removed) and again right before the digest deletes; the
// second run reads only what changed.
func (a *run) guard() error {
	pending := a.items(func(it *plan.Item) bool { return it.Action == plan.ActionDelete || len(it.Untag) > 0 })
	if len(pending) == 0 {
		return nil
	}
	via, err := a.reachable(a.latest, a.staying(a.latest))
	if err != nil {
		for _, it := range pending {
			set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonGuardFailed, Err: err})
		}
		a.r.Err = plan.Fail(plan.ErrorGuard, err)
		return err
	}
	for _, it := range pending {
		if t, ok := via[it.Digest]; ok && it.Action == plan.ActionDelete {
			a.o.Logger.Warn("final guard kept a planned delete", "repository", a.t.Name(), "digest", it.Digest, "tag", t)
			set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonGuardReached, Tags: []string{t}, Prior: prior(it)})
		}
	}
	return nil
}

// reachable maps each digest that a tag of stay reaches to that tag (the
// first in sort order). all is every tag listed: artifact tags of a
// reached digest reach their own digest even when this apply removes them.
func (a *run) reachable(all, stay map[string]string) (map[string]string, error) {
	edges := map[string][]string{} // subject or parent -> what it reaches beyond its children
	for t, d := range all {
		if subject, _, ok := graph.ArtifactTag(t); ok {
			edges[subject] = append(edges[subject], d)
		}
	}
	for i := range a.r.Items {
		// The plan's own links only add to what is protected.
		it := &a.r.Items[i]
		if it.Subject != "" {
			edges[it.Subject] = append(edges[it.Subject], it.Digest)
		}
		if it.Parent != "" {
			edges[it.Parent] = append(edges[it.Parent], it.Digest)
		}
	}
	tags := make([]string, 0, len(stay))
	for t := range stay {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	via := map[string]string{}
	var level []string
	for _, t := range tags {
		if d := stay[t]; via[d] == "" {
			via[d] = t
			level = append(level, d)
		}
	}
	// In-use digests stay like tags. Only those the plan found are walked
	// from: a digest the registry does not have would fail the walk, and
	// one absent from the plan is deleted by nothing.
	planned := map[string]bool{}
	for i := range a.r.Items {
		planned[a.r.Items[i].Digest] = true
	}
	inUse, err := a.inUseRoots(planned)
	if err != nil {
		return nil, err
	}
	for _, d := range inUse {
		if via[d] == "" {
			via[d] = plan.GuardInUse
			level = append(level, d)
		}
	}
	if a.refsAPI == 0 && a.r.NoReferrersAPI {
		// This run's inventory asked moments ago, and the registry
		// answered 404 (never true of a plan file's repository).
		a.refsAPI = -1
	}
	if a.refsAPI == 0 && len(level) > 0 {
		// Probe once per apply: a registry without the API answers 404.
		// The Reader keeps the answer, so the walk does not ask again.
		_, ok, err := a.read.Referrers(a.req, level[0])
		if err != nil {
			return nil, fmt.Errorf("referrers of %s: %w", level[0], err)
		}
		a.refsAPI = -1
		if ok {
			a.refsAPI = 1
		}
	}
	api := a.refsAPI == 1
	err = a.read.Walk(a.req, level, inventory.Walk{What: "indexes and referrers", MaxDepth: 32,
		Next: func(ctx context.Context, d string) ([]string, error) {
			kids, err := a.read.Children(ctx, d)
			if err != nil {
				return nil, fmt.Errorf("tag %s: %w", via[d], err)
			}
			var found []string
			if api {
				var ok bool
				found, ok, err = a.read.Referrers(ctx, d)
				if err == nil && !ok {
					err = fmt.Errorf("%w: the referrers API stopped answering", registry.ErrBadResponse)
				}
				if err != nil {
					return nil, fmt.Errorf("tag %s: referrers of %s: %w", via[d], d, err)
				}
			}
			return slices.Concat(kids, found, edges[d]), nil
		},
		Found: func(d, n string) {
			if via[n] == "" {
				via[n] = via[d]
			}
		}})
	if err != nil {
		return nil, err
	}
	return via, nil
}

// inUseRoots are the in-use digests the plan found, and every planned
// manifest that reaches one through children in the live registry (the
// index whose child a pod runs by digest stays too), sorted.
func (a *run) inUseRoots(planned map[string]bool) ([]string, error) {
	var roots []string
	for _, d := range a.o.InUseDigests {
		if planned[d] {
			roots = append(roots, d)
		}
	}
	if len(roots) == 0 {
		return nil, nil
	}
	var from []string
	for i := range a.r.Items {
		if it := &a.r.Items[i]; it.Action == plan.ActionDelete && it.Result == "" {
			from = append(from, it.Digest)
		}
	}
	parents := map[string][]string{}
	err := a.read.Walk(a.req, from, inventory.Walk{What: "indexes", MaxDepth: 32,
		Next:  a.read.Children,
		Found: func(d, n string) { parents[n] = append(parents[n], d) }})
	if err != nil {
		return nil, fmt.Errorf("indexes that list an image in use: %w", err)
	}
	seen := map[string]bool{}
	for q := roots; len(q) > 0; {
		d := q[0]
		q = q[1:]
		if seen[d] {
			continue
		}
		seen[d] = true
		q = append(q, parents[d]...)
	}
	out := make([]string, 0, len(seen))
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, nil
}
