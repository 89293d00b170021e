package apply

// Unit tests of the pure ordering functions of order.go: table tests of
// the cases that matter, and a randomized comparison against a simple
// reference (the quadratic code apply had before) on small plans,
// tampered ones included (cycles, missing parents, duplicate digests).

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/regprune/regprune/internal/plan"
)

const (
	mtImage = "application/vnd.oci.image.manifest.v1+json"
	mtIndex = "application/vnd.oci.image.index.v1+json"
)

func del(d string, f ...func(*plan.Item)) plan.Item {
	it := plan.Item{Digest: d, Action: plan.ActionDelete, MediaType: mtImage}
	for _, fn := range f {
		fn(&it)
	}
	return it
}

func parent(p string) func(*plan.Item)  { return func(it *plan.Item) { it.Parent = p } }
func subject(s string) func(*plan.Item) { return func(it *plan.Item) { it.Subject = s } }
func tags(ts ...string) func(*plan.Item) {
	return func(it *plan.Item) { it.Tags = ts }
}
func index(it *plan.Item)                   { it.MediaType = mtIndex }
func result(r plan.Result) func(*plan.Item) { return func(it *plan.Item) { it.Result = r } }
func keepItem(it *plan.Item)                { it.Action = plan.ActionKeep }
func todoOf(items []plan.Item) []*plan.Item {
	var out []*plan.Item
	for i := range items {
		if it := &items[i]; it.Action == plan.ActionDelete && it.Result == "" {
			out = append(out, it)
		}
	}
	return out
}

func levelNames(s *schedule) [][]string {
	var out [][]string
	for _, l := range s.levels {
		var names []string
		for _, it := range l {
			names = append(names, it.Digest)
		}
		out = append(out, names)
	}
	return out
}

func liveTags(it *plan.Item) []string { return it.Tags }

func TestScheduleLevels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		items []plan.Item
		want  [][]string
	}{
		{"images only: one level", []plan.Item{del("a"), del("b"), del("c")}, [][]string{{"a", "b", "c"}}},
		{"index before children", []plan.Item{del("c1", parent("i")), del("i", index), del("c2", parent("i"))},
			[][]string{{"i"}, {"c1", "c2"}}},
		{"referrers first, deepest first, indexes before the referrers they list",
			[]plan.Item{
				del("img"),
				del("sig", subject("img")),
				del("fallback", subject("img"), index),
				del("sigsig", subject("sig")),
			},
			[][]string{{"sigsig"}, {"fallback"}, {"sig"}, {"img"}}},
		{"nested index", []plan.Item{del("c", parent("mid")), del("mid", parent("top"), index), del("top", index)},
			[][]string{{"top"}, {"mid"}, {"c"}}},
		{"a cycle is as deep as allowed", []plan.Item{del("x", parent("y")), del("y", parent("x")), del("z")},
			[][]string{{"z"}, {"x", "y"}}},
		{"missing parent counts as none", []plan.Item{del("x", parent("gone")), del("z")}, [][]string{{"x", "z"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSchedule(tc.items, todoOf(tc.items), nil)
			if got := levelNames(s); !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("levels %v, want %v", got, tc.want)
			}
		})
	}
}

func TestScheduleBlocked(t *testing.T) {
	items := []plan.Item{
		del("i", index, tags("v1")),
		del("c", parent("i")),
		del("img", tags("v2")),
		del("sig", subject("img"), tags("sha256-img.sig")),
		del("fallback", subject("img"), index),
		del("csig", subject("c")),
		del("lone", tags("v3")),
	}
	at := func(d string) *plan.Item {
		for i := range items {
			if items[i].Digest == d {
				return &items[i]
			}
		}
		t.Fatalf("no %s", d)
		return nil
	}
	anchored := anchors(items, liveTags)
	if len(anchored) != 2 || anchored[at("i")] != "v1" || anchored[at("img")] != "v2" {
		t.Fatalf("anchors %v: want i (v1) and img (v2), the images referrers hang from", anchored)
	}
	s := newSchedule(items, todoOf(items), anchored)
	gone := func(ds ...string) map[string]bool {
		m := map[string]bool{}
		for _, d := range ds {
			m[d] = true
		}
		return m
	}
	for _, tc := range []struct {
		item string
		gone map[string]bool
		want plan.Reason // no code for not blocked
	}{
		{"c", gone(), plan.Reason{Code: plan.ReasonParentStays, Digest: "i"}},
		{"c", gone("i"), plan.Reason{Code: plan.ReasonReferrerStays, Digest: "csig"}},
		{"c", gone("i", "csig"), plan.Reason{}},
		{"img", gone(), plan.Reason{Code: plan.ReasonReferrerStays, Digest: "sig"}},
		{"img", gone("sig"), plan.Reason{Code: plan.ReasonReferrerStays, Digest: "fallback"}},
		{"img", gone("sig", "fallback"), plan.Reason{}},
		{"sig", gone(), plan.Reason{Code: plan.ReasonRefIndexStays, Digest: "fallback"}},
		{"sig", gone("fallback"), plan.Reason{}},
		{"fallback", gone(), plan.Reason{}},
		// The index keeps its tag until the signature of its child is
		// gone: else an interrupt leaves the signature an orphan.
		{"i", gone(), plan.Reason{Code: plan.ReasonAnchorStays, Digest: "csig", Other: "c"}},
		{"i", gone("csig"), plan.Reason{}},
		{"lone", gone(), plan.Reason{}},
	} {
		got := s.blocked(at(tc.item), tc.gone)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("blocked(%s) with %v gone = %+v, want %+v", tc.item, tc.gone, got, tc.want)
		}
	}
}

func TestAnchors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		items []plan.Item
		want  map[string]string
	}{
		{"no referrers, no anchor", []plan.Item{del("a", tags("x", "y"))}, map[string]string{}},
		{"first tag of a signed image", []plan.Item{del("a", tags("y", "x")), del("s", subject("a"), tags("sha256-a.sig"))},
			map[string]string{"a": "x"}},
		{"every tagged item above a referrer", []plan.Item{
			del("i", index, tags("v1")), del("c", parent("i"), tags("c1")), del("s", subject("c"))},
			map[string]string{"i": "v1", "c": "c1"}},
		{"a skipped referrer counts", []plan.Item{del("a", tags("x")), del("s", subject("a"), result(plan.ResultSkipped))},
			map[string]string{"a": "x"}},
		{"no anchor for a referrer, a kept subject or an untagged one", []plan.Item{
			del("k", keepItem, tags("latest")), del("s", subject("k")),
			del("u"), del("s2", subject("u"), tags("t")), del("s3", subject("s2"))},
			map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for it, tag := range anchors(tc.items, liveTags) {
				got[it.Digest] = tag
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("anchors %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHoldItems(t *testing.T) {
	items := []plan.Item{
		del("img"),
		del("sig", subject("img"), result(plan.ResultSkipped)),
		del("att", subject("img")),
		del("i", index),
		del("c", parent("i")),
		del("other"),
	}
	removed := plan.Reason{Code: plan.ReasonTagsRemoved, Tags: []string{"x"}}
	items[4].ResultReason = removed
	items[3].Result = plan.ResultFailed
	holdItems(items)
	want := map[string]plan.Reason{
		"img":   {Code: plan.ReasonHeldByReferrer, Digest: "sig", Result: plan.ResultSkipped},
		"att":   {Code: plan.ReasonHeldBySubject, Digest: "img", Result: plan.ResultSkipped},
		"c":     {Code: plan.ReasonHeldByParent, Digest: "i", Result: plan.ResultFailed, Prior: &removed},
		"other": {},
	}
	for i := range items {
		w, ok := want[items[i].Digest]
		if !ok {
			continue
		}
		if !reflect.DeepEqual(items[i].ResultReason, w) || (w.Code != "") != (items[i].Result == plan.ResultSkipped) {
			t.Errorf("%s: %s %+v, want %+v", items[i].Digest, items[i].Result, items[i].ResultReason, w)
		}
	}
}

// reference is the ordering apply had before order.go: quadratic, and
// simple enough to trust, plus the anchor rule written as plainly.
type reference struct {
	items    []plan.Item
	anchored map[*plan.Item]string
}

func (r *reference) byDigest() map[string]*plan.Item {
	m := map[string]*plan.Item{}
	for i := range r.items {
		m[r.items[i].Digest] = &r.items[i]
	}
	return m
}

func (r *reference) depth(it *plan.Item) int {
	byDigest := r.byDigest()
	n := 0
	for p := it; p != nil && n < 64; n++ {
		switch {
		case p.Parent != "":
			p = byDigest[p.Parent]
		case p.Subject != "":
			p = byDigest[p.Subject]
		default:
			p = nil
		}
	}
	return n
}

func (r *reference) levels(all []*plan.Item) [][]string {
	var refs, rest []*plan.Item
	for _, it := range all {
		if it.Subject != "" {
			refs = append(refs, it)
		} else {
			rest = append(rest, it)
		}
	}
	refKey := func(it *plan.Item) int {
		if isIndex(it) {
			return 2*r.depth(it) + 1
		}
		return 2 * r.depth(it)
	}
	sort.SliceStable(refs, func(i, j int) bool { return refKey(refs[i]) > refKey(refs[j]) })
	sort.SliceStable(rest, func(i, j int) bool { return r.depth(rest[i]) < r.depth(rest[j]) })
	var out [][]string
	groupBy := func(items []*plan.Item, key func(*plan.Item) int) {
		for i := 0; i < len(items); {
			j, d := i, key(items[i])
			var names []string
			for j < len(items) && key(items[j]) == d {
				names = append(names, items[j].Digest)
				j++
			}
			out = append(out, names)
			i = j
		}
	}
	groupBy(refs, refKey)
	groupBy(rest, r.depth)
	return out
}

func (r *reference) blocked(it *plan.Item, gone map[string]bool) plan.Reason {
	byDigest := r.byDigest()
	if it.Parent != "" {
		if p := byDigest[it.Parent]; p != nil && !gone[p.Digest] {
			return plan.Reason{Code: plan.ReasonParentStays, Digest: it.Parent}
		}
	}
	for i := range r.items {
		other := &r.items[i]
		if other.Action != plan.ActionDelete || gone[other.Digest] || other.Subject == "" {
			continue
		}
		if other.Subject == it.Digest {
			return plan.Reason{Code: plan.ReasonReferrerStays, Digest: other.Digest}
		}
		if it.Subject != "" && other.Subject == it.Subject && isIndex(other) && !isIndex(it) {
			return plan.Reason{Code: plan.ReasonRefIndexStays, Digest: other.Digest}
		}
	}
	if _, ok := r.anchored[it]; !ok {
		return plan.Reason{}
	}
	for i := range r.items {
		o := &r.items[i]
		if o.Action != plan.ActionDelete || o.Subject == "" || gone[o.Digest] {
			continue
		}
		if r.above(o, it) {
			return plan.Reason{Code: plan.ReasonAnchorStays, Digest: o.Digest, Other: o.Subject}
		}
	}
	return plan.Reason{}
}

// above reports whether p is on the chain of parents and subjects above
// the referrer o, its subject included.
func (r *reference) above(o, p *plan.Item) bool {
	byDigest := r.byDigest()
	n := 0
	for q := byDigest[o.Subject]; q != nil && n < 64; n++ {
		if q == p {
			return true
		}
		switch {
		case q.Parent != "":
			q = byDigest[q.Parent]
		case q.Subject != "":
			q = byDigest[q.Subject]
		default:
			q = nil
		}
	}
	return false
}

func (r *reference) anchors() map[string]string {
	out := map[string]string{}
	for i := range r.items {
		p := &r.items[i]
		if p.Action != plan.ActionDelete || p.Subject != "" || len(p.Tags) == 0 {
			continue
		}
		if r.byDigest()[p.Digest] != p {
			continue // a duplicate digest: only the last one is found by digest
		}
		for j := range r.items {
			o := &r.items[j]
			if o.Action == plan.ActionDelete && o.Subject != "" && r.above(o, p) {
				out[p.Digest] = slices.Min(p.Tags)
				break
			}
		}
	}
	return out
}

func randomPlan(rng *rand.Rand) []plan.Item {
	n := 1 + rng.Intn(12)
	name := func() string { return fmt.Sprintf("d%d", rng.Intn(n+2)) } // some missing
	items := make([]plan.Item, n)
	for i := range items {
		it := &items[i]
		it.Digest = fmt.Sprintf("d%d", i)
		if rng.Intn(15) == 0 {
			it.Digest = name() // a duplicate, as a tampered plan may have
		}
		it.Action = plan.ActionDelete
		if rng.Intn(5) == 0 {
			it.Action = plan.ActionKeep
		}
		it.MediaType = mtImage
		if rng.Intn(3) == 0 {
			it.MediaType = mtIndex
		}
		switch rng.Intn(4) {
		case 0:
			it.Parent = name()
		case 1:
			it.Subject = name()
		case 2:
			it.Parent, it.Subject = name(), name()
		}
		for k := rng.Intn(3); k > 0; k-- {
			it.Tags = append(it.Tags, fmt.Sprintf("t%d", rng.Intn(5)))
		}
		if rng.Intn(8) == 0 {
			it.Result = plan.ResultSkipped
		}
	}
	return items
}

func TestScheduleMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for round := 0; round < 3000; round++ {
		items := randomPlan(rng)
		todo := todoOf(items)
		anchored := anchors(items, liveTags)
		ref := &reference{items: items, anchored: anchored}

		gotAnchors := map[string]string{}
		for it, tag := range anchored {
			gotAnchors[it.Digest] = tag
		}
		if want := ref.anchors(); fmt.Sprint(gotAnchors) != fmt.Sprint(want) {
			t.Fatalf("round %d: anchors %v, reference %v\nplan %+v", round, gotAnchors, want, items)
		}
		for _, an := range []map[*plan.Item]string{nil, anchored} {
			ref.anchored = an
			s := newSchedule(items, todo, an)
			if got, want := levelNames(s), ref.levels(todo); !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("round %d: levels %v, reference %v\nplan %+v", round, got, want, items)
			}
			for k := 0; k < 4; k++ {
				gone := map[string]bool{}
				for i := range items {
					if rng.Intn(2) == 0 {
						gone[items[i].Digest] = true
					}
				}
				for _, it := range todo {
					if got, want := s.blocked(it, gone), ref.blocked(it, gone); !reflect.DeepEqual(got, want) {
						t.Fatalf("round %d: blocked(%s) = %q, reference %q\ngone %v\nplan %+v", round, it.Digest, got, want, gone, items)
					}
				}
			}
		}
	}
}

// BenchmarkSchedule orders 100,000 deletions: images with a signature
// each, and indexes with children.
func BenchmarkSchedule(b *testing.B) {
	var items []plan.Item
	for i := 0; len(items) < 100000; i++ {
		d := fmt.Sprintf("img%d", i)
		if i%2 == 0 {
			items = append(items, del(d, tags("t"+d)), del("sig"+d, subject(d), tags("sha256-"+d+".sig")))
		} else {
			items = append(items, del(d, index, tags("t"+d)), del("c1"+d, parent(d)), del("c2"+d, parent(d)))
		}
	}
	gone := map[string]bool{}
	b.ResetTimer()
	for range b.N {
		an := anchors(items, liveTags)
		s := newSchedule(items, todoOf(items), an)
		for _, l := range s.levels {
			for _, it := range l {
				_ = s.blocked(it, gone)
			}
		}
	}
}
