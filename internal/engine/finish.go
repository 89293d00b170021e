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
	byRun := deletedSubjects(ctx, g, o)
	if len(byRun) == 0 {
		return
	}
	cand := orphansOf(g, byRun)
	dropIneligible(g, r, cand, byRun)
	if len(cand) == 0 {
		return
	}
	planLeftBehind(g, r, cand, byRun, o)
	// The repository's counts and each item's frees, with these deletions.
	r.Recount(g)
}

// deletedSubjects returns the subjects that referrers hang from, gone
// from the registry now, that the journal records regprune deleting from
// this repository, each with the run that deleted it. nil when there are
// none or the journal cannot say.
func deletedSubjects(ctx context.Context, g *graph.Repository, o Options) map[string]string {
	var gone []string
	for s := range g.Referrers {
		if g.Manifests[s] == nil {
			gone = append(gone, s)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	deleted, err := o.Journal.Deleted(ctx, g.Name)
	if err != nil {
		o.Logger.Warn("journal: not reading what earlier runs deleted", "repository", g.Name, "err", err)
		return nil
	}
	byRun := map[string]string{} // gone subject -> the run that deleted it
	for _, s := range gone {
		if run, ok := deleted[s]; ok {
			byRun[s] = run
		}
	}
	return byRun
}

// orphansOf returns the candidates: the referrers of the subjects of
// byRun, and theirs, recursively, each with its subject.
func orphansOf(g *graph.Repository, byRun map[string]string) map[string]string {
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
	return cand
}

// orphanSet is what dropIneligible checks each candidate against.
type orphanSet struct {
	g       *graph.Repository
	cand    map[string]string     // digest -> its subject
	byRun   map[string]string     // deleted subject -> its run
	items   map[string]*plan.Item // by digest
	parents map[string][]string   // child -> the manifests listing it
	tagsOf  map[string][]string   // digest -> its tags
}

// in reports whether d is a candidate or a deleted subject.
func (o *orphanSet) in(d string) bool {
	_, ok := o.cand[d]
	return ok || o.byRun[d] != ""
}

// eligible reports whether candidate d may be deleted: a plain keep with
// nothing to untag, only artifact tags of the set, and nothing outside
// the set naming it (subject, parent) or hanging from it.
func (o *orphanSet) eligible(d string) bool {
	it := o.items[d]
	if it == nil || it.Action != plan.ActionKeep || len(it.Untag) > 0 || it.Kind == plan.KindImage || it.Kind == plan.KindChild {
		return false
	}
	for _, t := range o.tagsOf[d] {
		if s, _, ok := graph.ArtifactTag(t); !ok || !o.in(s) {
			return false
		}
	}
	if m := o.g.Manifests[d]; m == nil || (m.Subject != "" && !o.in(m.Subject)) {
		return false
	}
	for _, p := range o.parents[d] {
		if !o.in(p) {
			return false
		}
	}
	for _, ref := range o.g.Referrers[d] {
		if !o.in(ref) {
			return false
		}
	}
	return true
}

// dropIneligible removes from cand every candidate that is not eligible,
// until none is left to remove (removing one can make another
// ineligible).
func dropIneligible(g *graph.Repository, r *plan.Repository, cand, byRun map[string]string) {
	items, parents := itemsAndParents(g, r)
	o := &orphanSet{g: g, cand: cand, byRun: byRun, items: items, parents: parents, tagsOf: g.TagsByDigest()}
	for changed := true; changed; {
		changed = false
		for d := range cand {
			if !o.eligible(d) {
				delete(cand, d)
				changed = true
			}
		}
	}
}

// planLeftBehind turns the plan's items of cand into deletions, each with
// the reason that names the run that left it behind.
func planLeftBehind(g *graph.Repository, r *plan.Repository, cand, byRun map[string]string, o Options) {
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
}

// itemsAndParents indexes r's items by digest, and the manifests of g
// that list each child.
func itemsAndParents(g *graph.Repository, r *plan.Repository) (map[string]*plan.Item, map[string][]string) {
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
	return items, parents
}
