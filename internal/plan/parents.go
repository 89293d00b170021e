package plan

import "slices"

// assignParents gives each deleted manifest that deleted indexes list (a
// platform child, or an image tagged on its own) the deepest of them as
// parent, so that apply deletes every index before what it lists and
// keeps a manifest whose index could not be deleted. Referrers keep their
// subject.
func (b *builder) assignParents() {
	listedBy := map[string][]string{}
	for _, d := range b.order {
		if m := b.repo.Manifests[d]; m != nil {
			for _, c := range m.Children {
				if _, ok := b.del[c]; ok && !slices.Contains(listedBy[c], d) {
					listedBy[c] = append(listedBy[c], d)
				}
			}
		}
	}
	level := map[string]int{}
	var levelOf func(d string) int
	levelOf = func(d string) int {
		if n, ok := level[d]; ok {
			return n
		}
		level[d] = 1 // a cycle cannot happen with digests; stop one anyway
		n := 1
		for _, p := range listedBy[d] {
			n = max(n, levelOf(p)+1)
		}
		level[d] = n
		return n
	}
	for _, d := range b.order {
		r := b.del[d]
		if r.subject != "" || len(listedBy[d]) == 0 {
			continue
		}
		best := ""
		for _, p := range listedBy[d] {
			if best == "" || levelOf(p) > levelOf(best) || (levelOf(p) == levelOf(best) && p < best) {
				best = p
			}
		}
		r.parent = best
		b.del[d] = r
	}
}
