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
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/digest"
	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/safe"
)

// staying returns the tags of now that this apply does not remove: every
// tag listed, less those a pending item removes (a planned deletion's
// tags, a kept image's stale tags) from the digest it names now, unless
// an entry keeps them: a kept entry of that digest keeps every tag but
// those it untags itself. So an entry that contradicts another (an edited
// plan listing a kept image again for deletion) never takes a tag out of
// the final guard's roots: the tag stays, and the guard keeps what it
// reaches.
func (a *run) staying(now map[string]string) map[string]string {
	// A tag names one digest now, so a tag is removed from that digest.
	gone := map[string]bool{}        // tags a pending item removes
	removed := map[string][]string{} // the same by digest
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
			if now[t] == it.Digest && !gone[t] {
				gone[t] = true
				removed[it.Digest] = append(removed[it.Digest], t)
			}
		}
	}
	for i := range a.r.Items {
		it := &a.r.Items[i]
		if it.Action != plan.ActionKeep {
			continue
		}
		for _, t := range removed[it.Digest] {
			if !slices.Contains(it.Untag, t) {
				delete(gone, t) // a kept entry of the digest keeps it
			}
		}
	}
	for _, t := range a.o.InUseTags {
		delete(gone, t) // an in-use tag stays, whatever the plan says
	}
	out := make(map[string]string, len(now))
	for t, d := range now {
		if !gone[t] {
			out[t] = d
		}
	}
	return out
}

// refuseEmpty refuses, unless the plan allows it (AllowEmpty), an apply
// that would leave the repository without an image: it has tags now, none
// of its image tags stays (a signature, attestation or referrers tag is
// no image), and no image the plan keeps is in the registry (a HEAD of
// each kept image's digest, asked only then, until one answers). Build
// refuses such a plan; this is the same refusal against the registry as it
// is now, so that a plan file listing only deletions, or keeping a digest
// the registry does not have, cannot empty a repository either. It skips
// the pending items and fails the repository, and reports whether it did;
// an error is a HEAD that failed (then nothing is deleted either).
func (a *run) refuseEmpty(now map[string]string, work []*plan.Item) (bool, error) {
	if a.r.AllowEmpty || len(now) == 0 {
		return false, nil
	}
	deletes := false
	for _, it := range work {
		deletes = deletes || (it.Result == "" && it.Action == plan.ActionDelete)
	}
	// A signature, attestation or referrers tag is no image (plan's
	// isImage): only image tags count, now and staying.
	imageTag := func(t string) bool { _, _, artifact := graph.ArtifactTag(t); return !artifact }
	tags := 0
	for t := range now {
		if imageTag(t) {
			tags++
		}
	}
	if tags == 0 {
		return false, nil // no tagged image to leave
	}
	for t := range a.staying(now) {
		if imageTag(t) {
			return false, nil
		}
	}
	if !deletes {
		return false, nil
	}
	for i := range a.r.Items {
		it := &a.r.Items[i]
		if it.Action != plan.ActionKeep || it.Kind != plan.KindImage {
			continue
		}
		_, err := a.t.Head(a.req, it.Digest)
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, registry.ErrNotFound) {
			return false, fmt.Errorf("kept image %s: %w", it.Digest, err)
		}
	}
	err := plan.RefusedEmptyNow(a.t.Name(), tags)
	a.o.Logger.Warn("refused: the plan would leave the repository without an image", "repository", a.t.Name(), "tags", tags)
	for _, it := range work {
		if it.Result == "" {
			set(it, plan.ResultSkipped, plan.PlanRefused())
		}
	}
	a.r.Refused, a.r.Err = true, err
	return true, nil
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
		g.Go(safe.Func(func() error {
			body, _, err := a.t.GetManifest(gctx, t)
			if err != nil {
				return fmt.Errorf("kept tag %s: HEAD answered %s, GET of the tag failed: %w", t, want, err)
			}
			if !digest.Verify(want, body) {
				return fmt.Errorf("%w: kept tag %s: HEAD answers %s, but GET serves a body that does not hash to it (a stale cache in front of the registry?)", registry.ErrBadResponse, t, want)
			}
			if err := a.read.Seed(want, body); err != nil {
				return fmt.Errorf("kept tag %s: %w", t, err)
			}
			return nil
		}))
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
			set(it, plan.ResultSkipped, plan.GuardFailed(err))
		}
		a.r.Err = plan.Fail(plan.ErrorGuard, err)
		return err
	}
	for _, it := range pending {
		if t, ok := via[it.Digest]; ok && it.Action == plan.ActionDelete {
			a.o.Logger.Warn("final guard kept a planned delete", "repository", a.t.Name(), "digest", it.Digest, "tag", t)
			set(it, plan.ResultSkipped, plan.GuardReached(t, prior(it)))
		}
	}
	a.keepInUseTags(pending)
	if err := a.confirmAttached(pending); err != nil {
		for _, it := range pending {
			if it.Result == "" {
				set(it, plan.ResultSkipped, plan.GuardFailed(err))
			}
		}
		a.r.Err = plan.Fail(plan.ErrorGuard, err)
		return err
	}
	return nil
}

// keepInUseTags takes the in-use tags out of the untags of kept images
// (an in-use tag is never removed, whatever the plan says), and skips an
// untag left with nothing to remove, naming the tag in use.
func (a *run) keepInUseTags(pending []*plan.Item) {
	for _, it := range pending {
		if it.Result != "" || it.Action != plan.ActionKeep || len(it.Untag) == 0 {
			continue
		}
		var rest []string
		var used string
		for _, t := range it.Untag {
			if slices.Contains(a.o.InUseTags, t) {
				if used == "" {
					used = t
				}
				continue
			}
			rest = append(rest, t)
		}
		if used == "" {
			continue
		}
		a.o.Logger.Warn("final guard kept a tag in use that the plan untags", "repository", a.t.Name(), "digest", it.Digest, "tag", used)
		it.Untag = rest
		if len(rest) == 0 {
			set(it, plan.ResultSkipped, plan.GuardReached(used, prior(it)))
		}
	}
}

// confirmAttached skips each planned deletion that the plan deletes with
// a subject (a referrer, signature or referrers index; Item.Subject) and
// that the registry as it is now does not show attached to it: its own
// subject field names that subject, or a signature tag of that subject
// (sha256-<hex>.sig, .att, .sbom) names it, or the referrers fallback tag
// of that subject names it and it is a referrers index of that subject by
// the rule inventory applies (graph.FallbackProblem: an OCI image index,
// not the subject itself, whose entries carry that subject). So neither
// a plan file nor a registry that resolves sha256-<hex> to the subject
// itself (GitLab) can make something go with a subject it does not hang
// from. Each item is checked once per apply; the reads go through the
// Reader (and its cache).
func (a *run) confirmAttached(pending []*plan.Item) error {
	if a.attached == nil {
		a.attached = map[*plan.Item]bool{}
	}
	on := map[string][]string{} // digest -> tags naming it now
	for t, d := range a.latest {
		on[d] = append(on[d], t)
	}
	var todo []*plan.Item
	for _, it := range pending {
		if it.Result == "" && it.Action == plan.ActionDelete && it.Subject != "" && !a.attached[it] {
			todo = append(todo, it)
		}
	}
	why := make([]string, len(todo))
	g, gctx := errgroup.WithContext(a.req)
	g.SetLimit(a.o.Concurrency)
	for i, it := range todo {
		g.Go(safe.Func(func() error {
			w, err := a.attachedWhy(gctx, it, on[it.Digest])
			why[i] = w
			return err
		}))
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, it := range todo {
		if why[i] != "" {
			a.o.Logger.Warn("final guard kept a planned delete the registry does not show attached to its subject", "repository", a.t.Name(), "digest", it.Digest, "subject", it.Subject, "why", why[i])
			set(it, plan.ResultSkipped, plan.NotAttached(it.Subject, errors.New(why[i]), prior(it)))
			continue
		}
		a.attached[it] = true
	}
	return nil
}

// attachedWhy says why it is not attached to it.Subject in the registry
// now ("" if it is); tags are the tags naming it now.
func (a *run) attachedWhy(ctx context.Context, it *plan.Item, tags []string) (string, error) {
	fallback := false
	for _, t := range tags {
		s, suffix, ok := graph.ArtifactTag(t)
		switch {
		case !ok || s != it.Subject:
		case suffix != "":
			return "", nil // a signature tag of the subject names it
		default:
			fallback = true
		}
	}
	m, err := a.read.Manifest(ctx, it.Digest)
	if errors.Is(err, registry.ErrNotFound) {
		return "", nil // gone: its delete finds it gone
	}
	if err != nil {
		return "", fmt.Errorf("checking that %s hangs from %s: %w", it.Digest, it.Subject, err)
	}
	if m.Subject != nil && m.Subject.Digest == it.Subject {
		return "", nil
	}
	if !fallback {
		return "neither its subject field, nor a signature tag, nor the referrers fallback tag of " + it.Subject + " ties it to " + it.Subject, nil
	}
	var rerr error
	problem := graph.FallbackProblem(it.Subject, it.Digest, m.MediaType, m.Children(), func(e string) (string, bool) {
		em, err := a.read.Manifest(ctx, e)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			return "", false
		case err != nil:
			rerr = err
			return "", false
		case em.Subject == nil:
			return "", true
		}
		return em.Subject.Digest, true
	})
	if rerr != nil {
		return "", fmt.Errorf("checking the referrers index %s of %s: %w", it.Digest, it.Subject, rerr)
	}
	if problem != "" {
		return "the referrers fallback tag " + graph.FallbackTag(it.Subject) + " names it, but " + problem, nil
	}
	return "", nil
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
	if a.refsAPI == probeUnknown && a.r.NoReferrersAPI {
		// This run's inventory asked moments ago, and the registry
		// answered 404 (never true of a plan file's repository).
		a.refsAPI = probeNo
	}
	if a.refsAPI == probeUnknown && len(level) > 0 {
		// Probe once per apply: a registry without the API answers 404.
		// The Reader keeps the answer, so the walk does not ask again.
		_, ok, err := a.read.Referrers(a.req, level[0])
		if err != nil {
			return nil, fmt.Errorf("referrers of %s: %w", level[0], err)
		}
		a.refsAPI = probeNo
		if ok {
			a.refsAPI = probeYes
		}
	}
	api := a.refsAPI == probeYes
	var mu sync.Mutex
	listed := map[string]bool{}
	err = a.read.Walk(a.req, level, inventory.Walk{What: "indexes and referrers", MaxDepth: 32,
		Next: func(ctx context.Context, d string) ([]string, error) {
			kids, err := a.read.Children(ctx, d)
			if err != nil {
				return nil, fmt.Errorf("tag %s: %w", via[d], err)
			}
			mu.Lock()
			for _, k := range kids {
				listed[k] = true
			}
			mu.Unlock()
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
	a.listedByReached = listed
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
