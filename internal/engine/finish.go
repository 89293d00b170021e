package engine

import (
	"context"
	"sort"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/plan"
)

// finishInterrupted uses the journal to finish what an interrupted run
// left half-done: the signatures and referrers of subjects that a
// recorded run deleted stay behind as orphans (kept: reached from no
// image). It plans their deletion, narrowly:
//
//   - the subject is gone from the registry now, and the journal records
//     regprune deleting it from this same repository;
//   - every tag of the orphan is an artifact tag (sha256-<hex>[.sig|.att|
//     .sbom]) of such a subject, or of another such orphan;
//   - no manifest outside this set lists it as a child, and every
//     referrer of it is in the set too;
//   - the plan had it as a plain keep with nothing to untag.
//
// The deletion then goes through the normal apply path: re-check, safe
// order, final guard.
func finishInterrupted(ctx context.Context, g *graph.Repository, r *plan.Repository, o Options) {
	if o.Journal == nil || r.Refused || r.Err != nil {
		return
	}
	var gone []string
	for s := range g.Referrers {
		if g.Manifests[s] == nil {
			gone = append(gone, s)
		}
	}
	if len(gone) == 0 {
		return
	}
	deleted, err := o.Journal.Deleted(ctx, g.Name)
	if err != nil {
		o.Logger.Warn("journal: not reading what earlier runs deleted", "repository", g.Name, "err", err)
		return
	}
	byRun := map[string]string{} // gone subject -> the run that deleted it
	for _, s := range gone {
		if run, ok := deleted[s]; ok {
			byRun[s] = run
		}
	}
	if len(byRun) == 0 {
		return
	}
	// Candidates: the referrers of those subjects, and theirs, recursively.
	cand := map[string]string{} // digest -> its subject
	var queue []string
	for s := range byRun {
		queue = append(queue, s)
	}
	sort.Strings(queue)
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, d := range g.Referrers[s] {
			if _, seen := cand[d]; !seen && byRun[d] == "" {
				cand[d] = s
				queue = append(queue, d)
			}
		}
	}
	items := map[string]*plan.Item{}
	for i := range r.Items {
		items[r.Items[i].Digest] = &r.Items[i]
	}
	parents := map[string][]string{}
	for p, m := range g.Manifests {
		for _, c := range m.Children {
			parents[c] = append(parents[c], p)
		}
	}
	tagsOf := g.TagsByDigest()
	in := func(d string) bool { _, ok := cand[d]; return ok || byRun[d] != "" }
	eligible := func(d string) bool {
		it := items[d]
		if it == nil || it.Action != plan.ActionKeep || len(it.Untag) > 0 || it.Kind == plan.KindImage || it.Kind == plan.KindChild {
			return false
		}
		for _, t := range tagsOf[d] {
			if s, _, ok := graph.ArtifactTag(t); !ok || !in(s) {
				return false
			}
		}
		if m := g.Manifests[d]; m == nil || (m.Subject != "" && !in(m.Subject)) {
			return false
		}
		for _, p := range parents[d] {
			if !in(p) {
				return false
			}
		}
		for _, ref := range g.Referrers[d] {
			if !in(ref) {
				return false
			}
		}
		return true
	}
	for changed := true; changed; {
		changed = false
		for d := range cand {
			if !eligible(d) {
				delete(cand, d)
				changed = true
			}
		}
	}
	if len(cand) == 0 {
		return
	}
	for i := range r.Items {
		it := &r.Items[i]
		s, ok := cand[it.Digest]
		if !ok {
			continue
		}
		root := s
		for cand[root] != "" {
			root = cand[root]
		}
		it.Action = plan.ActionDelete
		if it.Subject == "" && it.Parent == "" { // else plan's orphan chain says it
			it.Subject = s
		}
		it.Reasons = []plan.Reason{plan.LeftBehind(it.Kind, s, byRun[root], root)}
		o.Logger.Info("journal: finishing an interrupted run", "repository", g.Name, "digest", it.Digest, "run", byRun[root])
	}
	// The repository's counts and each item's frees, with these deletions.
	r.Recount(g)
}
