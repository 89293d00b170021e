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
