package engine

import (
	"context"
	"slices"
	"sort"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// Unfinished work. An apply removes the tags of the images it deletes
// before their digests, and deletes indexes before their children: a run
// interrupted in between leaves manifests untagged that no tag leads a
// new plan to. The journal records what each run set out to delete
// (journal.RecordIntents, written by recordIntents before the first
// DELETE in a repository) and what it did; the next plan or apply with
// the journal reads those digests again (inventory.Options.Untagged) and
// finishes them, through the normal re-check, safe order and final guard.
// One becomes a delete candidate only if
//
//   - the registry has it, with no tag, and the plan keeps it only as
//     reached from nothing (no kept tag, index, referrer or subject
//     reaches it, and no rule or in-use list holds it); it is not in
//     use, and lists nothing in use;
//   - the newest run that set out to delete it left it so: that run sent
//     the DELETE of every tag it had then (or of the digest itself), or,
//     for a child or referrer, deleted what it hung from (now gone), or
//     left that untagged too (a candidate as well);
//   - every manifest that lists it, and its subject and referrers still
//     there, are candidates too (they go first, in apply's order).
//
// A manifest someone else untagged is not in the journal and stays; one
// tagged again since is planned by the rules like any image.

// unfinished reads the journal's unfinished work in repository: nil
// without a journal, or when it cannot be read (then nothing of it is
// finished; logged).
func unfinished(ctx context.Context, repository string, o Options) []journal.Unfinished {
	if o.Journal == nil {
		return nil
	}
	us, err := o.Journal.Unfinished(ctx, repository)
	if err != nil {
		o.Logger.Warn("journal: not reading the unfinished work of earlier runs", "repository", repository, "err", err)
		return nil
	}
	return us
}

// unfinishedDigests are the digests of us worth reading from the
// registry: those whose run's record could make them candidates.
func unfinishedDigests(us []journal.Unfinished) []string {
	var out []string
	for _, u := range us {
		if !registry.ValidDigest(u.Digest) {
			continue // not from regprune: never asked for
		}
		if len(u.Tags) == 0 || u.Sent || untaggedAll(u) {
			out = append(out, u.Digest)
		}
	}
	return out
}

func untaggedAll(u journal.Unfinished) bool {
	for _, t := range u.Tags {
		if !slices.Contains(u.Untagged, t) {
			return false
		}
	}
	return true
}

// finishUnfinished plans the deletion of the unfinished work us of
// earlier runs that g, the registry now, still holds (see above). inUse
// are the digests the in-use sources name: one of them, or a manifest
// that lists one, is no candidate (apply's guard keeps them too).
func finishUnfinished(g *graph.Repository, r *plan.RepoPlan, us []journal.Unfinished, inUse map[string][]string, o Options) {
	if len(us) == 0 || r.Refused || r.Err != nil {
		return
	}
	f := unfinishedSet{g: g, parents: g.Parents(), cand: unfinishedCandidates(g, r, us)}
	for d := range f.cand {
		if reachesInUse(g, d, inUse, map[string]bool{}) {
			delete(f.cand, d)
		}
	}
	for changed := true; changed; {
		changed = false
		for d := range f.cand {
			if !f.eligible(d) {
				delete(f.cand, d)
				changed = true
			}
		}
	}
	if len(f.cand) == 0 {
		return
	}
	for i := range r.Items {
		it := &r.Items[i]
		if u, ok := f.cand[it.Digest]; ok {
			f.finish(it, u)
			o.Logger.Info("journal: finishing an interrupted run", "repository", g.Name, "digest", it.Digest, "run", u.Run)
		}
	}
	r.Recount(g)
}

// reachesInUse reports whether d, or a manifest it lists (recursively),
// is in use.
func reachesInUse(g *graph.Repository, d string, inUse map[string][]string, seen map[string]bool) bool {
	if seen[d] {
		return false
	}
	seen[d] = true
	if len(inUse[d]) > 0 {
		return true
	}
	if m := g.Manifests[d]; m != nil {
		for _, c := range m.Children {
			if reachesInUse(g, c, inUse, seen) {
				return true
			}
		}
	}
	return false
}

// unfinishedCandidates are the digests of us that g holds untagged, that
// the plan keeps only as reached from nothing, and that their run left
// so (each tag's DELETE sent, or the digest's).
func unfinishedCandidates(g *graph.Repository, r *plan.RepoPlan, us []journal.Unfinished) map[string]journal.Unfinished {
	items := map[string]*plan.Item{}
	for i := range r.Items {
		items[r.Items[i].Digest] = &r.Items[i]
	}
	tagsOf := g.TagsByDigest()
	cand := map[string]journal.Unfinished{}
	for _, u := range us {
		it, m := items[u.Digest], g.Manifests[u.Digest]
		if it == nil || m == nil || len(tagsOf[u.Digest]) > 0 || !unreached(it) {
			continue
		}
		if len(u.Tags) > 0 && !u.Sent && !untaggedAll(u) {
			continue // a tag it had went some other way
		}
		cand[u.Digest] = u
	}
	return cand
}

// unfinishedSet narrows the candidates of finishUnfinished.
type unfinishedSet struct {
	g       *graph.Repository
	parents map[string][]string
	cand    map[string]journal.Unfinished
}

func (f *unfinishedSet) in(d string) bool      { _, ok := f.cand[d]; return ok }
func (f *unfinishedSet) present(d string) bool { return f.g.Manifests[d] != nil }

// eligible is whether candidate d stays one: what it hung from went with
// its run, and what lists it, its subject and its referrers still there
// are candidates too.
func (f *unfinishedSet) eligible(d string) bool {
	u := f.cand[d]
	if len(u.Tags) == 0 && u.Via != "" && !f.in(u.Via) && !(u.ViaSent && !f.present(u.Via)) {
		return false // what it hung from is there, or went some other way
	}
	for _, p := range f.parents[d] {
		if !f.in(p) {
			return false
		}
	}
	if s := f.g.Manifests[d].Subject; s != "" && f.present(s) && !f.in(s) {
		return false
	}
	for _, ref := range f.g.Referrers[d] {
		if f.present(ref) && !f.in(ref) {
			return false
		}
	}
	return true
}

// finish turns it, the item of candidate u, into a deletion.
func (f *unfinishedSet) finish(it *plan.Item, u journal.Unfinished) {
	ps := slices.Clone(f.parents[it.Digest])
	sort.Strings(ps)
	it.Action = plan.ActionDelete
	it.Parent, it.Subject = "", f.g.Manifests[it.Digest].Subject
	if len(ps) > 0 {
		it.Parent = ps[0] // a candidate: deleted first
	}
	if it.Kind == plan.KindImage && len(u.Tags) == 0 && u.Via != "" && u.Via != it.Subject {
		it.Kind = plan.KindChild // of an index gone since
	}
	it.Reasons = []plan.Reason{plan.Unfinished(u.Run, it.Kind, u.Tags, u.Via)}
}

// unreached reports whether the plan keeps it only because nothing
// reaches it (or as an orphan of a subject that is in no image).
func unreached(it *plan.Item) bool {
	return it.Action == plan.ActionKeep && len(it.Untag) == 0 && len(it.Reasons) == 1 &&
		(it.Reasons[0].Code == plan.ReasonUnreached || it.Reasons[0].Code == plan.ReasonOrphan)
}

// recordIntents records in the journal what apply sets out to delete in
// the repository of t, before its first DELETE there. A failure is
// logged: it costs only the finishing of this run's work if it is
// interrupted.
func (t *journalTarget) recordIntents(ctx context.Context, r *plan.RepoPlan) {
	var in []journal.Intent
	for _, it := range r.Items {
		if it.Action != plan.ActionDelete || it.Result != "" {
			continue
		}
		via := it.Parent
		if via == "" {
			via = it.Subject
		}
		in = append(in, journal.Intent{Digest: it.Digest, Tags: it.Tags, Via: via})
	}
	if len(in) == 0 {
		return
	}
	if err := t.run.j.RecordIntents(context.WithoutCancel(ctx), t.run.id, t.repo, in); err != nil {
		t.run.log.Warn("journal: an interrupt of this run will leave work no later run finishes", "repository", t.repo, "err", err)
	}
}
