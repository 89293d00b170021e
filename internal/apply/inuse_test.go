package apply_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/regprune/regprune/internal/apply"
	"github.com/regprune/regprune/internal/plan"
)

// An edited plan (or a planner bug) that deletes an image in use, or the
// index whose child a pod runs by digest, or removes a tag in use: the
// final guard keeps them all, from the in-use set alone.
func TestGuardKeepsInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "inuse")
	old := e.image(t0, "1001")
	tagged := e.image(t0.Add(time.Hour), "1002")
	idx := e.index(specs(2, t0), "1003")
	kids := e.children(idx)
	e.image(t0.Add(3*time.Hour), "latest")
	r := e.plan(keep("latest"))
	for _, d := range []v1.Hash{old, tagged, idx} {
		if it := itemOf(t, r, d); it.Action != plan.ActionDelete {
			t.Fatalf("%s: planned %s, want delete", d, it.Action)
		}
	}
	err := apply.Run(e.ctx, e.open(), r, apply.Options{
		InUseDigests: []string{kids[1].String(), "sha256:" + strings.Repeat("0", 64)},
		InUseTags:    []string{"1002"},
	})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, r, old, plan.ActionDelete, plan.ResultDeleted, plan.ReasonDeleted)
	expect(t, r, tagged, plan.ActionDelete, plan.ResultSkipped, plan.ReasonGuardReached, "1002")
	expect(t, r, idx, plan.ActionDelete, plan.ResultSkipped, plan.ReasonGuardReached, plan.GuardInUse)
	if got := itemOf(t, r, idx).ResultReason.String(); !strings.Contains(got, "in use") {
		t.Errorf("reason %q does not say in use", got)
	}
	e.pullable(":1002", ":1003", "@"+kids[0].String(), "@"+kids[1].String(), ":latest")
	if e.exists(old.String()) {
		t.Errorf("%s not deleted", old)
	}
}

// A tag in use is never removed, not even by the opt-in untag of a kept
// image: a plan made before a pod started running repo:1001 (or an
// edited plan) lists 1001 among the kept image's tags to untag; apply,
// told 1001 is in use, leaves it. Before, the guard only kept planned
// deletions, and the untag took the tag the pod pulls.
func TestGuardKeepsInUseTagOfKeptImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "inusetag")
	old := e.image(t0, "0999")
	kept := e.image(t0.Add(time.Hour), "latest", "1001", "1002")
	p := keep("latest")
	p.UntagUnkept = true
	r := e.plan(p)
	if it := itemOf(t, r, kept); it.Action != plan.ActionKeep || !slices.Equal(it.Untag, []string{"1001", "1002"}) {
		t.Fatalf("kept image: %s, untag %v; want keep, untag [1001 1002]", it.Action, it.Untag)
	}
	err := apply.Run(e.ctx, e.open(), r, apply.Options{InUseTags: []string{"1001"}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, r, old, plan.ActionDelete, plan.ResultDeleted, plan.ReasonDeleted)
	e.pullable(":latest", ":1001")
	if got := e.tags(); !slices.Equal(got, []string{"1001", "latest"}) {
		t.Errorf("tags %v, want [1001 latest] (1002 untagged, 1001 in use)", got)
	}
	if it := itemOf(t, r, kept); slices.Contains(it.Untag, "1001") && it.Result == plan.ResultUntagged {
		t.Errorf("kept image reports %s %v", it.Result, it.ResultReason)
	}
}
