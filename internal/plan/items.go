package plan

import (
	"sort"

	"github.com/regprune/regprune/internal/graph"
)

// items lists the plan's items: the images in the policy's order (newest
// first), the deleted dependants in discovery order (parents before
// children), then, for the reviewer, kept dependants and manifests that
// nothing reaches, by digest.
func (b *builder) items() []Item {
	var out []Item
	decided := map[string]bool{}
	for _, d := range b.ds {
		decided[d.Digest] = true
		it := Item{Digest: d.Digest, Kind: KindImage, Tags: b.tagsOf[d.Digest], Reasons: FromPolicy(d.Reasons), AgeSource: string(d.AgeSource)}
		if d.AgeSource != graph.AgeUnknown {
			t := d.Created.UTC()
			it.Created = &t
		}
		fill(&it, b.repo.Manifests[d.Digest])
		switch {
		case d.Keep:
			it.Action = ActionKeep
			it.Untag = d.StaleTags
		case b.keep[d.Digest]:
			// The policy would delete it, but something kept reaches it:
			// the final action and its cause first, then what the policy
			// alone decided. The image keeps its tags; only with the
			// untag_unkept opt-in do its own tags go.
			it.Action = ActionKeep
			it.Reasons = []Reason{b.keepWhy[d.Digest]}
			for _, r := range d.Reasons {
				it.Reasons = append(it.Reasons, PolicyAlone(r.Rule, r.Text))
			}
			if b.p.UntagUnkept && len(d.Tags) > 0 {
				it.Untag = d.Tags
				it.Reasons = append(it.Reasons, UntagUnkept(d.Tags))
			}
		default:
			it.Action = ActionDelete
			if p := b.del[d.Digest].parent; p != "" {
				it.Parent = p
				it.Reasons = append(it.Reasons, ListedByDeleted(p))
			}
		}
		out = append(out, it)
	}
	for _, d := range b.order {
		r := b.del[d]
		if r.kind == KindImage {
			continue
		}
		decided[d] = true
		it := Item{Digest: d, Kind: r.kind, Tags: b.tagsOf[d], Action: ActionDelete, Parent: r.parent, Subject: r.subject}
		it.Reasons = []Reason{b.delWhy[d]}
		if r.parent != "" && r.parent != b.delWhy[d].Digest {
			it.Reasons = append(it.Reasons, ListedByDeleted(r.parent))
		}
		fill(&it, b.repo.Manifests[d])
		out = append(out, it)
	}
	var rest []string
	for d := range b.repo.Manifests {
		if !decided[d] {
			rest = append(rest, d)
		}
	}
	for _, d := range b.repo.Tags {
		if _, ok := b.repo.Manifests[d]; !ok && !decided[d] {
			decided[d] = true
			rest = append(rest, d)
		}
	}
	sort.Strings(rest)
	parents, subjects := relations(b.repo, b.keep)
	orphans := orphansOf(b.repo, rest, b.keepWhy, b.tagsOf)
	for _, d := range rest {
		it := Item{Digest: d, Kind: kindOf(b.repo, d, b.tagsOf[d], parents), Tags: b.tagsOf[d], Action: ActionKeep}
		if o, ok := orphans[d]; ok {
			orphanItem(&it, o, b.p.DeleteOrphanArtifacts)
		} else if why, ok := b.keepWhy[d]; ok {
			it.Reasons = []Reason{why}
			it.Parent, it.Subject = parents[d], subjects[d]
		} else {
			it.Reasons = []Reason{Unreached()}
		}
		fill(&it, b.repo.Manifests[d])
		out = append(out, it)
	}
	// Children, signatures and referrers show their own build time where
	// it was read (an index's children date the index): for the reader
	// only, no decision uses it.
	for i := range out {
		if it := &out[i]; it.Created == nil && it.Kind != KindImage {
			if t, src := b.repo.Created(it.Digest, b.p.AgeFrom); src != graph.AgeUnknown {
				t = t.UTC()
				it.Created = &t
			}
		}
	}
	return out
}
