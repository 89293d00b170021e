package plan_test

import (
	"testing"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
)

// FinishLeftBehind deletes the signatures and referrers of a subject the
// journal records deleted, and only those: not one whose subject the
// journal does not name, not one with a tag of its own. Each item's frees
// add up to the repository's total, recomputed from scratch.
func TestFinishLeftBehind(t *testing.T) {
	b := newBuilder()
	kept := b.image("kept", day(1))
	b.tag(kept, "v2")
	gone, other, tagged := dig("gone image"), dig("other gone image"), dig("tagged gone image")
	sig := b.sign(gone, "sig")
	ref := b.refer(gone, "sbom of gone")
	refOfRef := b.refer(ref, "signature of the sbom of gone")
	otherSig := b.sign(other, "sig")
	taggedSig := b.sign(tagged, "sig")
	b.tag(taggedSig, "mine")
	r := build(b, policy.Policy{Keep: policy.Keep{Newest: 1}})
	wantAction(t, r, plan.ActionKeep, sig, ref, refOfRef, otherSig, taggedSig)
	if done := plan.FinishLeftBehind(b.r, &r, map[string]string{kept: "r0"}); done != nil {
		t.Fatalf("nothing gone is recorded, yet %d items finished", len(done))
	}
	before := r.Summary.ReclaimableBytes

	done := plan.FinishLeftBehind(b.r, &r, map[string]string{gone: "run1", tagged: "run1"})
	wantAction(t, r, plan.ActionDelete, sig, ref, refOfRef)
	wantAction(t, r, plan.ActionKeep, kept, otherSig, taggedSig)
	if len(done) != 5 { // sig, ref, refOfRef, and the fallback indexes of gone and of ref
		t.Errorf("%d items finished, want 5", len(done))
	}
	for _, it := range done {
		if it.Reasons[0].Code != plan.ReasonLeftBehind || it.Reasons[0].Run != "run1" || it.Reasons[0].Other != gone {
			t.Errorf("%s: reasons %+v", it.Digest, it.Reasons)
		}
	}
	var frees int64
	for _, it := range r.Items {
		frees += it.Frees
	}
	if got, want := r.Summary.ReclaimableBytes, reclaimable(b.r, r); got != want || frees != got || got <= before {
		t.Errorf("reclaimable %d (was %d), recomputed %d, items' frees %d", got, before, want, frees)
	}
}
