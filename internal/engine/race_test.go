package engine_test

// The registry changes between `regprune plan -o json > plan.json` and
// `regprune apply --plan plan.json`: apply deletes only the items that are
// exactly as the plan saw them.

import (
	"context"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

func TestChangedBetweenPlanAndApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/app"
	ds, err := reg.SeedCI(ctx, repo, 8, t0, time.Hour) // 1001..1008, latest on 1008
	if err != nil {
		t.Fatal(err)
	}
	kids := []registrytest.Child{{Spec: &registrytest.ImageSpec{Created: t0}}, {Spec: &registrytest.ImageSpec{Created: t0}}}
	oldIdx, oldHash, err := reg.PushIndex(ctx, repo, types.OCIImageIndex, kids, nil, "multi-old")
	if err != nil {
		t.Fatal(err)
	}
	im, err := oldIdx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	oldKid, otherKid := im.Manifests[0].Digest, im.Manifests[1].Digest

	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour)}
	target := []engine.Job{{Repository: reg.Ref(repo), Policy: keepTag("latest")}}
	saved := fSave(t, engine.Plan(ctx, target, plan.ModePlan, o))
	for _, d := range append(ds[:7], oldHash, oldKid, otherKid) {
		if it := item(t, fLoad(t, saved).Repositories[0], d.String()); it.Action != plan.ActionDelete {
			t.Fatalf("%s planned %s", d, it.Action)
		}
	}

	// Between plan and apply:
	//   1002 is re-pushed to a new image (a planned tag moved);
	//   1003's image is tagged anew (hotfix);
	//   1004's image becomes a child of a new index (multi);
	//   1005's image is signed (a new cosign tag names it);
	//   a new index (multi-2) reuses a child of the planned index;
	//   a new build 1009 arrives.
	_, moved, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: t0.Add(20 * time.Hour)}, "1002")
	if err != nil {
		t.Fatal(err)
	}
	fTag(t, reg, repo, ds[2], "hotfix")
	_, multi, err := reg.PushIndex(ctx, repo, types.OCIImageIndex, []registrytest.Child{{Digest: ds[3]}, {Spec: &registrytest.ImageSpec{}}}, nil, "multi")
	if err != nil {
		t.Fatal(err)
	}
	sig, err := reg.Sign(ctx, repo, ds[4], "sig")
	if err != nil {
		t.Fatal(err)
	}
	_, multi2, err := reg.PushIndex(ctx, repo, types.OCIImageIndex, []registrytest.Child{{Digest: oldKid}}, nil, "multi-2")
	if err != nil {
		t.Fatal(err)
	}
	_, newest, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: t0.Add(21 * time.Hour)}, "1009")
	if err != nil {
		t.Fatal(err)
	}

	p := fLoad(t, saved)
	engine.Apply(ctx, p, o)
	if err := engine.Result(p); err != nil {
		t.Fatalf("outcome: %v", err)
	}
	r := p.Repositories[0]

	// Exactly the unchanged items are deleted.
	wantDeleted := []string{ds[0].String(), ds[5].String(), ds[6].String(), oldHash.String(), otherKid.String()}
	var deleted []string
	for _, it := range r.Items {
		if it.Result == plan.ResultDeleted {
			deleted = append(deleted, it.Digest)
		}
	}
	sort.Strings(deleted)
	sort.Strings(wantDeleted)
	if !slices.Equal(deleted, wantDeleted) {
		t.Errorf("deleted %v,\nwant %v", deleted, wantDeleted)
	}
	for d, want := range map[v1.Hash]plan.Reason{
		ds[1]:  {Code: plan.ReasonTagMoved, Tags: []string{"1002"}, Digest: moved.String()},
		ds[2]:  {Code: plan.ReasonTagAppeared, Tags: []string{"hotfix"}},
		ds[3]:  {Code: plan.ReasonReachedByNewTag, Tags: []string{"multi"}},
		ds[4]:  {Code: plan.ReasonArtifactTagMoved, Tags: []string{registrytest.SignatureTag(ds[4], "sig")}},
		oldKid: {Code: plan.ReasonReachedByNewTag, Tags: []string{"multi-2"}},
	} {
		it := item(t, r, d.String())
		if it.Result != plan.ResultSkipped || !reflect.DeepEqual(it.ResultReason, want) {
			t.Errorf("%s (tags %v): %s %+v; want skipped, %+v", d, it.Tags, it.Result, it.ResultReason, want)
		}
	}
	for _, d := range []v1.Hash{ds[1], ds[2], ds[3], ds[4], ds[7], oldKid, moved, multi, sig, multi2, newest} {
		if ok, err := reg.Exists(ctx, repo, d); err != nil || !ok {
			t.Errorf("%s gone (%v)", d, err)
		}
	}
	// Tags: the skipped items keep theirs, the new ones are untouched,
	// 1008 stays with latest (a kept image keeps every tag).
	want := []string{"1002", "1003", "1004", "1005", "1008", "1009", "hotfix", "latest", "multi", "multi-2", registrytest.SignatureTag(ds[4], "sig")}
	sort.Strings(want)
	if got := tags(t, reg, repo); !slices.Equal(got, want) {
		t.Errorf("tags %v,\nwant %v", got, want)
	}
	for _, ref := range []string{":1002", ":hotfix", ":multi", ":multi-2", ":1009", ":latest", ":1005"} {
		if err := reg.Pullable(ctx, repo+ref); err != nil {
			t.Error(err)
		}
	}

	// The same saved plan once more: nothing more goes.
	again := fLoad(t, saved)
	engine.Apply(ctx, again, o)
	for _, it := range again.Repositories[0].Items {
		if it.Result == plan.ResultDeleted || it.Result == plan.ResultFailed {
			t.Errorf("second apply: %s %s %q", it.Digest, it.Result, it.ResultReason)
		}
	}
	if got := tags(t, reg, repo); !slices.Equal(got, want) {
		t.Errorf("tags after a second apply %v", got)
	}
}

// A tag moved since the plan onto an image the plan deletes: that image
// stays, and so does the one the tag left (it is still planned, but its
// tag changed).
func TestTagMovedOntoPlannedImage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "app"
	ds, err := reg.SeedCI(ctx, repo, 4, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour)}
	target := []engine.Job{{Repository: reg.Ref(repo), Policy: keepTag("latest")}}
	saved := fSave(t, engine.Plan(ctx, target, plan.ModePlan, o))
	// "latest" moves back to build 1: the plan kept build 4 for it and
	// deletes build 1.
	fTag(t, reg, repo, ds[0], "latest")
	p := fLoad(t, saved)
	engine.Apply(ctx, p, o)
	r := p.Repositories[0]
	if it := item(t, r, ds[0].String()); it.Result != plan.ResultSkipped || it.ResultReason.Code != plan.ReasonTagAppeared || !slices.Equal(it.ResultReason.Tags, []string{"latest"}) {
		t.Errorf("build 1: %s %q", it.Result, it.ResultReason)
	}
	if it := item(t, r, ds[3].String()); it.Result == plan.ResultUntagged {
		t.Errorf("build 4's job tag removed although latest moved off it: %q", it.ResultReason)
	}
	for _, d := range []v1.Hash{ds[0], ds[3]} {
		if ok, _ := reg.Exists(ctx, repo, d); !ok {
			t.Errorf("%s gone", d)
		}
	}
	if err := reg.Pullable(ctx, repo+":latest"); err != nil {
		t.Fatal(err)
	}
}

func fTag(t *testing.T, reg *registrytest.Registry, repo string, d v1.Hash, tag string) {
	t.Helper()
	if err := reg.Tag(context.Background(), repo, d, tag); err != nil {
		t.Fatal(err)
	}
}
