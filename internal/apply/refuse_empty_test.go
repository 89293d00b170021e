package apply_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/plan"
)

// Issue 19: apply refuses, on the live tags, a plan that would leave the
// repository without an image, unless the plan allows it. A kept image
// the registry still has, untagged (an image in use, kept by digest), is
// an image that stays: no refusal. A kept digest the registry lacks is
// none.
func TestRefuseEmptyAtApply(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	untagged := e.image(t0).String() // pushed by digest, no tag
	old := e.image(t0.Add(-48*time.Hour), "old").String()
	missing := "sha256:" + strings.Repeat("e", 64)
	repo := func(kept string, allow bool) *plan.RepoPlan {
		return &plan.RepoPlan{Name: e.reg.Ref(e.repo), AllowEmpty: allow, Items: []plan.Item{
			{Digest: kept, Kind: plan.KindImage, Action: plan.ActionKeep},
			{Digest: old, Kind: plan.KindImage, Tags: []string{"old"}, Action: plan.ActionDelete},
		}}
	}

	r := repo(missing, false)
	if err := e.apply(e.open(), r); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(r.Err, plan.ErrRefusedEmpty) || !r.Refused || r.Items[1].ResultReason.Code != plan.ReasonPlanRefused {
		t.Fatalf("keeping a digest the registry lacks: %v, refused %v, %q", r.Err, r.Refused, r.Items[1].ResultReason)
	}
	if !e.exists(old) {
		t.Fatal("old deleted although refused")
	}

	r = repo(untagged, false)
	if err := e.apply(e.open(), r); err != nil || r.Err != nil {
		t.Fatalf("keeping an untagged image: %v %v", err, r.Err)
	}
	if it := r.Items[1]; it.Result != plan.ResultDeleted || e.exists(old) || !e.exists(untagged) {
		t.Fatalf("keeping an untagged image: old %s %q", it.Result, it.ResultReason)
	}

	// With AllowEmpty (the policy's allow_empty, --allow-empty for a plan
	// file) the last tagged image goes.
	old = e.image(t0.Add(-48*time.Hour), "old").String()
	r = repo(missing, true)
	if err := e.apply(e.open(), r); err != nil || r.Err != nil {
		t.Fatalf("allowed: %v %v", err, r.Err)
	}
	if it := r.Items[1]; it.Result != plan.ResultDeleted {
		t.Fatalf("allowed: old %s %q", it.Result, it.ResultReason)
	}
}

// A signature tag is not an image: the plan kept latest and deleted old;
// since, someone deleted latest's image, and its signature tag is all
// that is left besides old. Apply refuses, as it does when no tag at all
// would stay. Before, the signature tag counted as a tag that stays, and
// apply deleted the repository's last image.
func TestRefuseEmptyArtifactTagIsNoImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	old := e.image(t0, "old")
	kept := e.image(t0.Add(time.Hour), "latest")
	if _, err := e.reg.Sign(e.ctx, e.repo, kept, "sig"); err != nil {
		t.Fatal(err)
	}
	r := e.plan(keep("latest"))
	if it := itemOf(t, r, old); it.Action != plan.ActionDelete {
		t.Fatalf("old planned %s, want delete", it.Action)
	}
	if err := e.open().Delete(e.ctx, kept.String()); err != nil {
		t.Fatal(err)
	}
	if got := e.tags(); len(got) != 2 || got[0] != "old" {
		t.Fatalf("tags %v, want the signature tag and old", got)
	}
	if err := e.apply(e.open(), r); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(r.Err, plan.ErrRefusedEmpty) || !r.Refused {
		t.Errorf("refused %v, err %v; want refused", r.Refused, r.Err)
	}
	expect(t, r, old, plan.ActionDelete, plan.ResultSkipped, plan.ReasonPlanRefused)
	if !e.exists(old.String()) {
		t.Fatal("the repository's last image was deleted")
	}
}
