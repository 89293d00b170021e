package plan

import (
	"sort"

	"github.com/regprune/regprune/internal/graph"
)

// GoneSubjects are the subjects of g's referrers that g does not have:
// what FinishLeftBehind may finish, if the journal records deleting them.
func GoneSubjects(g *graph.Repository) []string {
	var gone []string
	for s := range g.Referrers {
		if g.Manifests[s] == nil {
			gone = append(gone, s)
		}
	}
	sort.Strings(gone)
	return gone
}

// FinishLeftBehind finishes in r what an interrupted run left half-done:
// the signatures and referrers of subjects that a recorded run deleted
// stay behind as orphans (kept: reached from no image). It plans their
// deletion, narrowly:
//
//   - the subject is gone from the registry now, and deletedBy (the
//     journal's record of what regprune deleted from this same
//     repository: digest -> run) names it;
//   - every tag of the orphan is an artifact tag (sha256-<hex>[.sig|.att|
//     .sbom]) of such a subject, or of another such orphan;
//   - no manifest outside this set lists it as a child, and every
//     referrer of it is in the set too;
//   - the plan had it as a plain keep with nothing to untag.
//
// The deletion then goes through the normal apply path: re-check, safe
// order, final guard. r's frees and summary are recounted. It returns the
// items it turned into deletions (ReasonLeftBehind).
func FinishLeftBehind(g *graph.Repository, r *RepoPlan, deletedBy map[string]string) []*Item {
	byRun := map[string]string{} // gone subject -> the run that deleted it
	for _, s := range GoneSubjects(g) {
		if run, ok := deletedBy[s]; ok {
			byRun[s] = run
		}
	}
	if len(byRun) == 0 {
		return nil
	}
	cand := leftBehindCandidates(g, byRun)
	lb := leftBehind{g: g, byRun: byRun, cand: cand, items: map[string]*Item{}, parents: g.Parents(), tagsOf: g.TagsByDigest()}
	for i := range r.Items {
		lb.items[r.Items[i].Digest] = &r.Items[i]
	}
	for changed := true; changed; {
		changed = false
		for d := range cand {
			if !lb.eligible(d) {
				delete(cand, d)
				changed = true
			}
		}
	}
	if len(cand) == 0 {
		return nil
	}
	var done []*Item
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
		it.Action = ActionDelete
		if it.Subject == "" && it.Parent == "" { // else plan's orphan chain says it
			it.Subject = s
		}
		it.Reasons = []Reason{LeftBehind(it.Kind, s, byRun[root], root)}
		done = append(done, it)
	}
	// The repository's counts and each item's frees, with these deletions.
	r.Recount(g)
	return done
}

// leftBehindCandidates are the referrers of the subjects of byRun, and
// theirs, recursively: digest -> its subject.
func leftBehindCandidates(g *graph.Repository, byRun map[string]string) map[string]string {
	cand := map[string]string{}
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

// leftBehind is the state of FinishLeftBehind's narrowing.
type leftBehind struct {
	g       *graph.Repository
	byRun   map[string]string   // gone subject -> the run that deleted it
	cand    map[string]string   // candidate -> its subject
	items   map[string]*Item    // r's items by digest
	parents map[string][]string // manifest -> the manifests that list it
	tagsOf  map[string][]string
}

// in is whether d is a gone subject or still a candidate.
func (lb *leftBehind) in(d string) bool {
	_, ok := lb.cand[d]
	return ok || lb.byRun[d] != ""
}

// eligible is whether candidate d may be deleted: a plain keep whose
// tags, subject, parents and referrers are all in the set.
func (lb *leftBehind) eligible(d string) bool {
	it := lb.items[d]
	if it == nil || it.Action != ActionKeep || len(it.Untag) > 0 || it.Kind == KindImage || it.Kind == KindChild {
		return false
	}
	for _, t := range lb.tagsOf[d] {
		if s, _, ok := graph.ArtifactTag(t); !ok || !lb.in(s) {
			return false
		}
	}
	if m := lb.g.Manifests[d]; m == nil || (m.Subject != "" && !lb.in(m.Subject)) {
		return false
	}
	for _, p := range lb.parents[d] {
		if !lb.in(p) {
			return false
		}
	}
	for _, ref := range lb.g.Referrers[d] {
		if !lb.in(ref) {
			return false
		}
	}
	return true
}
