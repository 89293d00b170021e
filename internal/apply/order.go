package apply

// The order of apply's deletes, as pure functions over the planned items:
// which skips hold what (holdItems), which tag of an image stays until
// what is attached to it is gone (anchors), the levels of the digest
// deletes and what blocks an item of a level (schedule). Each is linear in
// the items, or O(n log n) where it sorts; none takes a lock or sends a
// request.
//
// The order is safe against an interrupt at any point: a deleted image
// that has referrers or signatures in the plan (its own, or its children's)
// keeps one tag, its anchor, until they are gone. A re-run, from the same
// plan or from a new one, then still finds them attached to a tagged image
// and deletes them; none of them is ever left as an orphan.

import (
	"sort"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/plan"
)

// maxChain bounds a walk up parents and subjects (a tampered plan may make
// a cycle).
const maxChain = 64

// holdItems spreads every skip and failure over the planned deletions tied
// to it, before anything of them is deleted: the subject of a referrer
// that stays stays (the referrer names it), and the referrers and children
// of a manifest that stays stay with it. Without this, a signature pushed
// again since the plan would be skipped while its image lost its tags and
// then its digest, and an image skipped for a new tag would lose its
// signatures.
func holdItems(items []plan.Item) {
	byDigest := map[string]*plan.Item{}
	bySubject := map[string][]*plan.Item{}
	byParent := map[string][]*plan.Item{}
	var queue []*plan.Item
	for i := range items {
		it := &items[i]
		if it.Action != plan.ActionDelete {
			continue
		}
		byDigest[it.Digest] = it
		if it.Subject != "" {
			bySubject[it.Subject] = append(bySubject[it.Subject], it)
		}
		if it.Parent != "" {
			byParent[it.Parent] = append(byParent[it.Parent], it)
		}
		if it.Result != "" && it.Result != plan.ResultDeleted {
			queue = append(queue, it)
		}
	}
	hold := func(it *plan.Item, why func(string, plan.Result, *plan.Reason) plan.Reason, s *plan.Item) {
		if it != nil && it.Result == "" {
			set(it, plan.ResultSkipped, why(s.Digest, s.Result, prior(it)))
			queue = append(queue, it)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if s.Subject != "" {
			hold(byDigest[s.Subject], plan.HeldByReferrer, s)
		}
		for _, r := range bySubject[s.Digest] {
			hold(r, plan.HeldBySubject, s)
		}
		for _, c := range byParent[s.Digest] {
			hold(c, plan.HeldByParent, s)
		}
	}
}

// isIndex reports whether it is an index by its media type
// (graph.IsIndexType). An unknown type is not: such an item waits for the
// referrers indexes of its subject like an image does, and children the
// plan gives it still wait for it (blocked's parent rule does not look at
// media types).
func isIndex(it *plan.Item) bool {
	return graph.IsIndexType(it.MediaType)
}

// schedule is the order of the digest deletes: referrers and signatures
// (deepest first, referrers indexes before the referrers they list), then
// the other manifests by depth, indexes before what they list. An item is
// deleted only after every level before its own is done, and only if
// nothing that must go first stayed (blocked).
type schedule struct {
	levels [][]*plan.Item

	byDigest map[string]*plan.Item   // every item; the last one of a digest
	pos      map[*plan.Item]int      // position in the plan
	refs     map[string][]*plan.Item // subject -> planned deletions naming it, in plan order
	idxRefs  map[string][]*plan.Item // the same, indexes only
	// below maps an item that keeps an anchor tag to the planned
	// referrers attached to it or to what it lists, in plan order.
	below map[*plan.Item][]*plan.Item
}

// chainNext is the item above it: its parent, else its subject.
func chainNext(byDigest map[string]*plan.Item, it *plan.Item) *plan.Item {
	switch {
	case it.Parent != "":
		return byDigest[it.Parent]
	case it.Subject != "":
		return byDigest[it.Subject]
	}
	return nil
}

// depths is the length of each item's chain of parents and subjects,
// itself included, capped at maxChain; computed once per item.
func depths(items []plan.Item, byDigest map[string]*plan.Item) map[*plan.Item]int {
	depth := make(map[*plan.Item]int, len(items))
	onPath := map[*plan.Item]bool{}
	var path []*plan.Item
	for i := range items {
		path = path[:0]
		p := &items[i]
		for p != nil {
			if _, ok := depth[p]; ok || onPath[p] {
				break
			}
			onPath[p] = true
			path = append(path, p)
			p = chainNext(byDigest, p)
		}
		below := 0
		switch {
		case p == nil:
		case onPath[p]: // a cycle: no end, as deep as allowed
			below = maxChain
		default:
			below = depth[p]
		}
		for j := len(path) - 1; j >= 0; j-- {
			below = min(maxChain, below+1)
			depth[path[j]] = below
			delete(onPath, path[j])
		}
	}
	return depth
}

// newSchedule orders todo, the planned deletions still to do, among items,
// the whole plan of the repository. anchored lists the items that keep an
// anchor tag until their digest delete (see anchors).
func newSchedule(items []plan.Item, todo []*plan.Item, anchored map[*plan.Item]string) *schedule {
	s := &schedule{
		byDigest: make(map[string]*plan.Item, len(items)),
		pos:      make(map[*plan.Item]int, len(items)),
		refs:     map[string][]*plan.Item{},
		idxRefs:  map[string][]*plan.Item{},
		below:    map[*plan.Item][]*plan.Item{},
	}
	for i := range items {
		it := &items[i]
		s.byDigest[it.Digest] = it
		s.pos[it] = i
	}
	for i := range items {
		it := &items[i]
		if it.Action != plan.ActionDelete || it.Subject == "" {
			continue
		}
		s.refs[it.Subject] = append(s.refs[it.Subject], it)
		if isIndex(it) {
			s.idxRefs[it.Subject] = append(s.idxRefs[it.Subject], it)
		}
		if len(anchored) > 0 {
			for p, n := s.byDigest[it.Subject], 0; p != nil && n < maxChain; p, n = chainNext(s.byDigest, p), n+1 {
				if _, ok := anchored[p]; ok && !containsItem(s.below[p], it) {
					s.below[p] = append(s.below[p], it)
				}
			}
		}
	}
	depth := depths(items, s.byDigest)
	var refs, rest []*plan.Item
	for _, it := range todo {
		if it.Subject != "" {
			refs = append(refs, it)
		} else {
			rest = append(rest, it)
		}
	}
	// Among referrers of one depth, indexes go first: the referrers
	// fallback index (tag sha256-<hex>) lists the other referrers of its
	// subject, and must not be left listing deleted ones.
	refKey := func(it *plan.Item) int {
		if isIndex(it) {
			return 2*depth[it] + 1
		}
		return 2 * depth[it]
	}
	sort.SliceStable(refs, func(i, j int) bool { return refKey(refs[i]) > refKey(refs[j]) })
	sort.SliceStable(rest, func(i, j int) bool { return depth[rest[i]] < depth[rest[j]] })
	group := func(items []*plan.Item, key func(*plan.Item) int) {
		for i := 0; i < len(items); {
			j, k := i, key(items[i])
			for j < len(items) && key(items[j]) == k {
				j++
			}
			s.levels = append(s.levels, items[i:j])
			i = j
		}
	}
	group(refs, refKey)
	group(rest, func(it *plan.Item) int { return depth[it] })
	return s
}

func containsItem(list []*plan.Item, it *plan.Item) bool {
	// Chains are short and an item is added once per walk: the last
	// entry is the only one that can be it.
	return len(list) > 0 && list[len(list)-1] == it
}

// blocked says why it may not be deleted yet (no code if it may), given the
// digests gone so far. Every planned deletion counts here, including
// those skipped or failed before this phase: a referrer skipped because it
// changed since the plan must keep its subject. Its cost is the number of
// referrers tied to it, not the size of the plan.
func (s *schedule) blocked(it *plan.Item, gone map[string]bool) plan.Reason {
	if it.Parent != "" {
		if p := s.byDigest[it.Parent]; p != nil && !gone[p.Digest] {
			return plan.ParentStays(it.Parent)
		}
	}
	// The first in plan order of: a referrer of it still there, and a
	// referrers index of its subject still there (that may list it).
	var first *plan.Item
	var why plan.Reason
	for _, o := range s.refs[it.Digest] {
		if !gone[o.Digest] {
			first, why = o, plan.ReferrerStays(o.Digest)
			break
		}
	}
	if it.Subject != "" && !isIndex(it) {
		for _, o := range s.idxRefs[it.Subject] {
			if !gone[o.Digest] {
				if first == nil || s.pos[o] < s.pos[first] {
					why = plan.RefIndexStays(o.Digest)
				}
				break
			}
		}
	}
	if why.Code != "" {
		return why
	}
	for _, o := range s.below[it] {
		if !gone[o.Digest] {
			return plan.AnchorStays(o.Digest, o.Subject)
		}
	}
	return plan.Reason{}
}

// prior is what was done of it already, nil if nothing.
func prior(it *plan.Item) *plan.Reason {
	if it.ResultReason.IsZero() {
		return nil
	}
	p := it.ResultReason
	return &p
}

// anchors picks, for each deleted item with tags that has planned
// referrers or signatures attached to it or to anything it lists, the one
// tag it keeps until its digest delete: the first of its live tags in
// order. The tags of referrers are not deleted on their own at all: their
// digest delete removes them. live gives an item's tags that still name
// it.
func anchors(items []plan.Item, live func(*plan.Item) []string) map[*plan.Item]string {
	byDigest := make(map[string]*plan.Item, len(items))
	for i := range items {
		byDigest[items[i].Digest] = &items[i]
	}
	out := map[*plan.Item]string{}
	for i := range items {
		r := &items[i]
		// A referrer skipped already counts: it stays, and what it
		// hangs from must stay findable.
		if r.Action != plan.ActionDelete || r.Subject == "" {
			continue
		}
		for p, n := byDigest[r.Subject], 0; p != nil && n < maxChain; p, n = chainNext(byDigest, p), n+1 {
			if _, ok := out[p]; ok || p.Action != plan.ActionDelete || p.Subject != "" {
				continue
			}
			if ts := live(p); len(ts) > 0 {
				out[p] = slicesMin(ts)
			}
		}
	}
	return out
}

func slicesMin(ts []string) string {
	m := ts[0]
	for _, t := range ts[1:] {
		m = min(m, t)
	}
	return m
}
