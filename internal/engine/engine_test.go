package engine_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func opts(reg *registrytest.Registry) engine.Options {
	return engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour)}
}

func keepTag(tags ...string) policy.Policy { return policy.Policy{Keep: policy.Keep{Tags: tags}} }

// run plans and applies p to repo of reg.
func run(t *testing.T, reg *registrytest.Registry, repo string, p policy.Policy) *plan.Plan {
	t.Helper()
	ctx := context.Background()
	o := opts(reg)
	pl := engine.Plan(ctx, []engine.Job{{Repository: reg.Ref(repo), Policy: p}}, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	if r := pl.Repositories[0]; r.Err != nil {
		t.Fatalf("repository failed: %s", r.Err)
	}
	return pl
}

func tags(t *testing.T, reg *registrytest.Registry, repo string) []string {
	t.Helper()
	ts, err := reg.Tags(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ts)
	return ts
}

// The seed's case: keep latest, delete every other build; after GC the
// blob store holds only the kept image's blobs.
func TestSeedCase(t *testing.T) { onBackends(t, testSeedCase) }

func testSeedCase(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	const repo = "libinput/libinput/fedora/28"
	ds, err := reg.SeedCI(ctx, repo, 6, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	before, _, _ := reg.BlobStore()
	pl := run(t, reg, repo, keepTag("latest"))
	s := pl.Repositories[0].Summary
	if s.Images != 6 || s.Keep != 1 || s.Delete != 5 || s.Deleted != 5 {
		t.Fatalf("summary = %+v", s)
	}
	// latest's own job tag shares its digest: a kept image keeps every
	// tag, so the newest build keeps both (as the seed job does).
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"1006", "latest"}) {
		t.Fatalf("tags after apply = %v, want [1006 latest]", got)
	}
	if s.Untagged != 0 || s.Untag != 0 {
		t.Fatalf("untag %d, untagged %d; want 0: no tag of a kept image goes without the opt-in", s.Untag, s.Untagged)
	}
	gc, err := reg.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One image left: its manifest, config and layer (distribution stores manifests as blobs).
	if gc.BlobsAfter != 3 {
		t.Fatalf("blobs after GC = %d (before apply %d), want 3 (manifest, config, layer)", gc.BlobsAfter, before)
	}
	if err := reg.Pullable(ctx, repo+":latest"); err != nil {
		t.Fatal(err)
	}
	if err := reg.Pullable(ctx, repo+"@"+ds[len(ds)-1].String()); err != nil {
		t.Fatal(err)
	}
	// The plan's estimate matches what GC freed, within the manifests.
	if est, freed := pl.ReclaimableBytes, gc.Freed(); est != freed {
		t.Errorf("reclaimable_bytes %d, GC freed %d", est, freed)
	}
}
