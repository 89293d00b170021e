package plan_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/plan/plantest"
	"github.com/regprune/regprune/internal/policy"
)

// Pure table tests of Build over hand-made graphs. The graphs are shaped
// like the ones inventory builds: a referrer is listed under its subject in
// Referrers (from its subject field), and so is a cosign tag's manifest and
// a referrers fallback index together with every artifact it lists.

var now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

const (
	ociIndex    = "application/vnd.oci.image.index.v1+json"
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
	dockerList  = "application/vnd.docker.distribution.manifest.list.v2+json"
	dockerV2    = "application/vnd.docker.distribution.manifest.v2+json"
)

var dig = plantest.Dig

// builder is plantest.Builder under the names these tests use; r is its
// repository.
type builder struct {
	*plantest.Builder
	r *graph.Repository
}

func newBuilder() *builder {
	b := plantest.NewBuilder("127.0.0.1:5000/app")
	return &builder{b, b.R}
}

func (b *builder) image(name string, created time.Time, shared ...graph.Blob) string {
	return b.Image(name, created, shared...)
}

func (b *builder) index(name string, mt string, created time.Time, children ...string) string {
	return b.Index(name, mt, created, children...)
}

func (b *builder) tag(d string, tags ...string)         { b.Tag(d, tags...) }
func (b *builder) sign(subject, suffix string) string   { return b.Sign(subject, suffix) }
func (b *builder) refer(subject, name string) string    { return b.Refer(subject, name) }
func (b *builder) artifact(name, subject string) string { return b.Artifact(name, subject) }

func build(b *builder, p policy.Policy) plan.RepoPlan {
	return plan.Build(b.r, policy.Evaluate(b.r, p, now), p)
}

func itemOf(t *testing.T, r plan.RepoPlan, d string) plan.Item {
	t.Helper()
	var found []plan.Item
	for _, it := range r.Items {
		if it.Digest == d {
			found = append(found, it)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d items for %s, want 1", len(found), d)
	}
	return found[0]
}

func wantAction(t *testing.T, r plan.RepoPlan, action plan.Action, ds ...string) {
	t.Helper()
	for _, d := range ds {
		if it := itemOf(t, r, d); it.Action != action {
			t.Errorf("%s (%s %v): action %s, want %s; reasons %q", d[:19], it.Kind, it.Tags, it.Action, action, it.Reasons)
		}
	}
}

func wantKind(t *testing.T, r plan.RepoPlan, kind, parent, subject string, ds ...string) {
	t.Helper()
	for _, d := range ds {
		it := itemOf(t, r, d)
		if it.Kind != kind || it.Parent != parent || it.Subject != subject {
			t.Errorf("%s: kind %s parent %q subject %q, want %s %q %q", d[:19], it.Kind, it.Parent, it.Subject, kind, parent, subject)
		}
	}
}

// reclaimable recomputes the bytes a plan frees from scratch: the deleted
// manifests, and each blob that deleted manifests reference and no other.
func reclaimable(repo *graph.Repository, r plan.RepoPlan) int64 {
	del := map[string]bool{}
	var n int64
	for _, it := range r.Items {
		if it.Action == plan.ActionDelete {
			del[it.Digest] = true
			if m := repo.Manifests[it.Digest]; m != nil {
				n += m.Size
			}
		}
	}
	size := map[string]int64{}
	byDeleted, byOther := map[string]bool{}, map[string]bool{}
	for d, m := range repo.Manifests {
		for _, bl := range m.Blobs {
			size[bl.Digest] = bl.Size
			if del[d] {
				byDeleted[bl.Digest] = true
			} else {
				byOther[bl.Digest] = true
			}
		}
	}
	for bl := range byDeleted {
		if !byOther[bl] {
			n += size[bl]
		}
	}
	return n
}

func day(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }

func TestBuildIndexKeptByTagKeepsChildren(t *testing.T) {
	for _, mt := range []string{ociIndex, dockerList} {
		t.Run(mt, func(t *testing.T) {
			b := newBuilder()
			a, c := b.image("amd64", day(3)), b.image("arm64", day(3))
			idx := b.index("v1", mt, time.Time{}, a, c)
			b.tag(idx, "v1")
			old := b.image("old", day(9))
			b.tag(old, "old")
			r := build(b, policy.Policy{Keep: policy.Keep{Tags: []string{"v1"}}})
			wantAction(t, r, plan.ActionKeep, idx, a, c)
			wantKind(t, r, plan.KindChild, idx, "", a, c)
			wantAction(t, r, plan.ActionDelete, old)
			if r.Summary.Images != 2 || r.Summary.Keep != 1 || r.Summary.Delete != 1 || r.Summary.DeleteManifests != 1 {
				t.Errorf("summary %+v", r.Summary)
			}
			// The index's age comes from its children's configs.
			if it := itemOf(t, r, idx); it.AgeSource != string(graph.AgeFromChildren) || !it.Created.Equal(day(3)) {
				t.Errorf("index age %v from %q, want %v from children", it.Created, it.AgeSource, day(3))
			}
			if got, want := r.Summary.ReclaimableBytes, reclaimable(b.r, r); got != want || want != b.r.Manifests[old].Size+10300 {
				t.Errorf("reclaimable %d, recomputed %d", got, want)
			}
		})
	}
}

func TestBuildOldIndexDeletedWhole(t *testing.T) {
	b := newBuilder()
	base := graph.Blob{Digest: dig("base layer"), Size: 50000}
	var idxs []string
	for i, age := range []int{30, 20, 10} {
		n := string(rune('a' + i))
		x, y := b.image(n+"/amd64", day(age), base), b.image(n+"/arm64", day(age), base)
		// The newest index carries its own created annotation, a day
		// newer than its children.
		var ann time.Time
		if i == 2 {
			ann = day(age - 1)
		}
		idx := b.index(n, ociIndex, ann, x, y)
		b.tag(idx, "build-"+n)
		idxs = append(idxs, idx)
	}
	r := build(b, policy.Policy{Keep: policy.Keep{Newest: 1}})
	wantAction(t, r, plan.ActionKeep, idxs[2])
	if it := itemOf(t, r, idxs[2]); it.AgeSource != string(graph.AgeFromAnnotation) || !it.Created.Equal(day(9)) {
		t.Errorf("newest index age %v from %q, want its annotation", it.Created, it.AgeSource)
	}
	wantAction(t, r, plan.ActionDelete, idxs[0], idxs[1])
	for _, idx := range idxs[:2] {
		m := b.r.Manifests[idx]
		wantAction(t, r, plan.ActionDelete, m.Children...)
		wantKind(t, r, plan.KindChild, idx, "", m.Children...)
	}
	// The shared base layer is held by the kept index's children.
	if got, want := r.Summary.ReclaimableBytes, reclaimable(b.r, r); got != want {
		t.Errorf("reclaimable %d, recomputed %d", got, want)
	}
	if r.Summary.DeleteManifests != 6 || r.Summary.Images != 3 || r.Summary.Keep != 1 {
		t.Errorf("summary %+v", r.Summary)
	}
}

func TestBuildSharedChild(t *testing.T) {
	b := newBuilder()
	shared := b.image("shared", day(5))
	onlyOld := b.image("only-old", day(8))
	onlyNew := b.image("only-new", day(2))
	oldIdx := b.index("old", dockerList, time.Time{}, shared, onlyOld)
	newIdx := b.index("new", dockerList, time.Time{}, shared, onlyNew)
	b.tag(oldIdx, "1.0")
	b.tag(newIdx, "2.0", "latest")
	r := build(b, policy.Policy{Keep: policy.Keep{Tags: []string{"latest"}}})
	wantAction(t, r, plan.ActionKeep, newIdx, shared, onlyNew)
	wantAction(t, r, plan.ActionDelete, oldIdx, onlyOld)
	wantKind(t, r, plan.KindChild, oldIdx, "", onlyOld)
	// The shared child is reported under the kept parent.
	wantKind(t, r, plan.KindChild, newIdx, "", shared)
	if got, want := r.Summary.ReclaimableBytes, reclaimable(b.r, r); got != want {
		t.Errorf("reclaimable %d, recomputed %d", got, want)
	}
	if got := r.Summary.ReclaimableBytes; got != b.r.Manifests[oldIdx].Size+b.r.Manifests[onlyOld].Size+10300 {
		t.Errorf("reclaimable %d counts the shared child", got)
	}
}

// A tag naming a child of a kept index: the policy would delete that
// image, but the kept index reaches it, so it stays with its tag; the
// first reason is the final action and its cause, the policy's own
// verdict comes after. Only with untag_unkept does its own tag go.
func TestBuildChildTaggedOnItsOwn(t *testing.T) {
	b := newBuilder()
	a, c := b.image("amd64", day(40)), b.image("arm64", day(40))
	idx := b.index("idx", ociIndex, time.Time{}, a, c)
	b.tag(idx, "latest")
	b.tag(a, "amd64-build-7")
	p := policy.Policy{Keep: policy.Keep{Tags: []string{"latest"}}, Delete: policy.Delete{OlderThan: 24 * time.Hour}}
	r := build(b, p)
	wantAction(t, r, plan.ActionKeep, idx, a, c)
	it := itemOf(t, r, a)
	if it.Kind != plan.KindImage || len(it.Untag) != 0 {
		t.Errorf("tagged child %+v, want an image kept with its own tag", it)
	}
	if want := (plan.Reason{Code: plan.ReasonKeptReached, Relation: "child", Of: "index", Digest: idx, Tags: []string{"latest"}}); len(it.Reasons) < 2 || !reflect.DeepEqual(it.Reasons[0], want) || it.Reasons[1].Code != plan.ReasonPolicyAlone {
		t.Errorf("reasons %+v, want %+v first, then the policy's own verdict", it.Reasons, want)
	}
	p.UntagUnkept = true
	r = build(b, p)
	if it := itemOf(t, r, a); !slices.Equal(it.Untag, []string{"amd64-build-7"}) || it.Action != plan.ActionKeep {
		t.Errorf("with untag_unkept: tagged child %+v, want kept with its own tag untagged", it)
	}
	if r.Summary.DeleteManifests != 0 || r.Summary.ReclaimableBytes != 0 {
		t.Errorf("summary %+v, want nothing deleted", r.Summary)
	}

	// The other way round: the index goes, the child's own tag is kept, so
	// the child stays while its sibling goes.
	r = build(b, policy.Policy{Keep: policy.Keep{Tags: []string{"amd64-build-7"}}})
	wantAction(t, r, plan.ActionDelete, idx, c)
	wantAction(t, r, plan.ActionKeep, a)
	wantKind(t, r, plan.KindChild, idx, "", c)
	if got, want := r.Summary.ReclaimableBytes, reclaimable(b.r, r); got != want {
		t.Errorf("reclaimable %d, recomputed %d", got, want)
	}
}

func TestBuildSignaturesAndReferrers(t *testing.T) {
	b := newBuilder()
	kept, gone := b.image("kept", day(1)), b.image("gone", day(20))
	b.tag(kept, "v2")
	b.tag(gone, "v1")
	keptSig, keptAtt := b.sign(kept, "sig"), b.sign(kept, "att")
	keptRef1, keptRef2 := b.refer(kept, "sbom of kept"), b.refer(kept, "scan of kept")
	keptRefOfRef := b.refer(keptRef1, "signature of the sbom of kept")
	goneSig := b.sign(gone, "sig")
	goneRef := b.refer(gone, "sbom of gone")
	goneRefOfRef := b.refer(goneRef, "signature of the sbom of gone")
	keptFallback, goneFallback := b.r.Tags[graph.FallbackTag(kept)], b.r.Tags[graph.FallbackTag(gone)]
	goneRefFallback := b.r.Tags[graph.FallbackTag(goneRef)]

	r := build(b, policy.Policy{Keep: policy.Keep{Newest: 1}})
	if r.Summary.Images != 2 || r.Summary.Keep != 1 {
		t.Fatalf("summary %+v: signatures and referrers must not count as images", r.Summary)
	}
	wantAction(t, r, plan.ActionKeep, kept, keptSig, keptAtt, keptRef1, keptRef2, keptRefOfRef, keptFallback)
	wantAction(t, r, plan.ActionDelete, gone, goneSig, goneRef, goneRefOfRef, goneFallback, goneRefFallback)
	wantKind(t, r, plan.KindSignature, "", gone, goneSig)
	wantKind(t, r, plan.KindReferrer, "", gone, goneRef, goneFallback)
	wantKind(t, r, plan.KindReferrer, "", goneRef, goneRefOfRef, goneRefFallback)
	wantKind(t, r, plan.KindSignature, "", kept, keptSig, keptAtt)
	if it := itemOf(t, r, goneSig); !slices.Equal(it.Tags, []string{graph.FallbackTag(gone) + ".sig"}) {
		t.Errorf("signature tags %v", it.Tags)
	}
	// One vocabulary both ways: the first reason is the final action and
	// its cause.
	reached := func(code plan.ReasonCode, rel, of, d, tag string) plan.Reason {
		return plan.Reason{Code: code, Relation: rel, Of: of, Digest: d, Tags: []string{tag}}
	}
	for d, want := range map[string]plan.Reason{
		keptSig:      reached(plan.ReasonKeptReached, "signature", "image", kept, "v2"),
		goneSig:      reached(plan.ReasonDeleteReached, "signature", "image", gone, "v1"),
		keptRef1:     reached(plan.ReasonKeptReached, "referrer", "image", kept, "v2"),
		goneRef:      reached(plan.ReasonDeleteReached, "referrer", "image", gone, "v1"),
		keptRefOfRef: reached(plan.ReasonKeptReached, "referrer", "referrer", keptRef1, "v2"),
		goneRefOfRef: reached(plan.ReasonDeleteReached, "referrer", "referrer", goneRef, "v1"),
	} {
		if got := itemOf(t, r, d).Reasons; len(got) == 0 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("%s: reasons %+v, want %+v first", d, got, want)
		}
	}
	if got, want := r.Summary.ReclaimableBytes, reclaimable(b.r, r); got != want {
		t.Errorf("reclaimable %d, recomputed %d", got, want)
	}
}

func TestBuildNestedIndexes(t *testing.T) {
	b := newBuilder()
	mk := func(n string, age int) (outer, inner string, leaves []string) {
		l1, l2, l3 := b.image(n+"/l1", day(age)), b.image(n+"/l2", day(age)), b.image(n+"/l3", day(age))
		inner = b.index(n+"/inner", ociIndex, time.Time{}, l1, l2)
		outer = b.index(n+"/outer", ociIndex, time.Time{}, inner, l3)
		b.tag(outer, n)
		return outer, inner, []string{l1, l2, l3}
	}
	o1, i1, l1 := mk("old", 10)
	o2, i2, l2 := mk("new", 1)
	r := build(b, policy.Policy{Keep: policy.Keep{Newest: 1}})
	wantAction(t, r, plan.ActionKeep, append([]string{o2, i2}, l2...)...)
	wantAction(t, r, plan.ActionDelete, append([]string{o1, i1}, l1...)...)
	wantKind(t, r, plan.KindChild, o1, "", i1, l1[2])
	wantKind(t, r, plan.KindChild, i1, "", l1[0], l1[1])
	if it := itemOf(t, r, o2); it.AgeSource != string(graph.AgeFromChildren) {
		t.Errorf("nested index age from %q, want children", it.AgeSource)
	}
	// Parents come before their children in the plan.
	pos := map[string]int{}
	for i, it := range r.Items {
		pos[it.Digest] = i
	}
	if !(pos[o1] < pos[i1] && pos[i1] < pos[l1[0]]) {
		t.Errorf("deleted items out of order: outer %d inner %d leaf %d", pos[o1], pos[i1], pos[l1[0]])
	}
}

func TestBuildRefusesToDeleteEverything(t *testing.T) {
	b := newBuilder()
	x := b.image("x", day(40))
	b.tag(x, "x")
	sig := b.sign(x, "sig")
	p := policy.Policy{Delete: policy.Delete{OlderThan: 24 * time.Hour}}
	r := build(b, p)
	if !r.Refused || r.Summary.DeleteManifests != 0 || r.Summary.ReclaimableBytes != 0 {
		t.Fatalf("plan %+v, want refused with nothing to delete", r.Summary)
	}
	wantAction(t, r, plan.ActionKeep, x, sig)
	p.AllowEmpty = true
	r = build(b, p)
	wantAction(t, r, plan.ActionDelete, x, sig)
}

// keep-newest counts images, never signature artifacts, referrers or
// platform children, however many of them there are.
func TestBuildKeepNewestCountsImagesOnly(t *testing.T) {
	b := newBuilder()
	var idxs []string
	for i := range 5 {
		n := string(rune('a' + i))
		idx := b.index(n, ociIndex, time.Time{}, b.image(n+"/amd64", day(10-i)), b.image(n+"/arm64", day(10-i)))
		b.tag(idx, "build-"+n)
		b.sign(idx, "sig")
		b.sign(idx, "att")
		b.refer(idx, "sbom "+n)
		idxs = append(idxs, idx)
	}
	r := build(b, policy.Policy{Keep: policy.Keep{Newest: 3}})
	if s := r.Summary; s.Images != 5 || s.Keep != 3 || s.Delete != 2 {
		t.Fatalf("summary %+v, want 5 images, 3 kept", s)
	}
	wantAction(t, r, plan.ActionKeep, idxs[2:]...)
	wantAction(t, r, plan.ActionDelete, idxs[:2]...)
	// Each deleted index takes 2 children, 2 signatures, 1 artifact and
	// its fallback index: 7 manifests.
	if r.Summary.DeleteManifests != 14 {
		t.Errorf("delete manifests %d, want 14", r.Summary.DeleteManifests)
	}
}

func TestPlanJSONCarriesGraphFields(t *testing.T) {
	b := newBuilder()
	a := b.image("a", day(40))
	idx := b.index("idx", ociIndex, time.Time{}, a)
	b.tag(idx, "old")
	b.sign(idx, "sig")
	b.refer(idx, "sbom")
	k := b.image("k", day(1))
	b.tag(k, "latest")
	r := build(b, policy.Policy{Keep: policy.Keep{Tags: []string{"latest"}}})
	p := plan.New(plan.ModePlan, now, []plan.RepoPlan{r, r})
	var buf bytes.Buffer
	if err := plan.WriteJSON(&buf, p); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Reclaimable  int64 `json:"reclaimable_bytes"`
		Repositories []struct {
			Summary struct {
				Reclaimable int64 `json:"reclaimable_bytes"`
			} `json:"summary"`
			Images []struct {
				Digest, Kind, Parent, Subject, Action string
			} `json:"images"`
		} `json:"repositories"`
		Summary struct {
			Reclaimable int64 `json:"reclaimable_bytes"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	per := doc.Repositories[0].Summary.Reclaimable
	if per == 0 || per != r.Summary.ReclaimableBytes || doc.Reclaimable != 2*per || doc.Summary.Reclaimable != 2*per {
		t.Fatalf("reclaimable_bytes: repository %d, top level %d, totals %d", per, doc.Reclaimable, doc.Summary.Reclaimable)
	}
	kinds := map[string]int{}
	for _, it := range doc.Repositories[0].Images {
		kinds[it.Kind]++
		switch it.Kind {
		case plan.KindChild:
			if it.Parent != idx {
				t.Errorf("child %s: parent %q", it.Digest, it.Parent)
			}
		case plan.KindReferrer, plan.KindSignature:
			if it.Subject != idx {
				t.Errorf("%s %s: subject %q", it.Kind, it.Digest, it.Subject)
			}
		}
	}
	if kinds[plan.KindImage] != 2 || kinds[plan.KindChild] != 1 || kinds[plan.KindSignature] != 1 || kinds[plan.KindReferrer] != 2 {
		t.Errorf("kinds %v", kinds)
	}
}
