package plan

import "github.com/regprune/regprune/internal/graph"

// attributeFrees sets Frees on each deleted item: its manifest's size,
// plus each blob that only deleted manifests reference, given to the first
// deleted item (in plan order) that references it. The items' Frees add up
// to the repository's ReclaimableBytes.
func attributeFrees(repo *graph.Repository, items []Item) {
	deleted := map[string]bool{}
	for _, it := range items {
		if it.Action == ActionDelete {
			deleted[it.Digest] = true
		}
	}
	held := map[string]bool{}
	for d, m := range repo.Manifests {
		if !deleted[d] {
			for _, b := range m.Blobs {
				held[b.Digest] = true
			}
		}
	}
	counted := map[string]bool{}
	for i := range items {
		it := &items[i]
		it.Frees = 0
		if it.Action != ActionDelete {
			continue
		}
		it.Frees = it.Size
		m := repo.Manifests[it.Digest]
		if m == nil {
			continue
		}
		for _, b := range m.Blobs {
			if !held[b.Digest] && !counted[b.Digest] {
				counted[b.Digest] = true
				it.Frees += b.Size
			}
		}
	}
}

// Recount sets r's Frees and Summary again from its items, as Build does,
// after deletions were added to the plan Build made (the journal's
// finishing of an interrupted run or of its unfinished work): the items'
// Frees still add up to ReclaimableBytes. Before apply only.
func (r *RepoPlan) Recount(repo *graph.Repository) {
	attributeFrees(repo, r.Items)
	r.Summary = summarize(repo, r.Items)
}

// FreedBytes is what an apply of r let the garbage collector reclaim
// (Summary.FreedBytes, a lower bound for a partial apply); 0 before apply.
func (r *RepoPlan) FreedBytes() int64 {
	if r.Summary.FreedBytes == nil {
		return 0
	}
	return *r.Summary.FreedBytes
}

// FreedBytes is the total of the repositories' FreedBytes.
func (p *Plan) FreedBytes() int64 {
	if p.Summary.FreedBytes == nil {
		return 0
	}
	return *p.Summary.FreedBytes
}
