package engine_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// An earlier run untagged an image and was interrupted before its digest
// DELETE; since, a pod runs that image by digest. Finishing the run's
// work leaves it alone: the plan keeps it (an image in use), as the
// final guard of apply would. Before, the plan said delete, and only the
// guard kept it.
func TestUnfinishedInUseKept(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/inuse"
	ds, err := reg.SeedCI(ctx, repo, 3, t0, time.Hour) // 1001, 1002, 1003 = latest
	if err != nil {
		t.Fatal(err)
	}
	ours := ds[0].String()
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	run := journal.NewRunID(t0)
	if err := j.BeginRun(ctx, run, "apply", t0); err != nil {
		t.Fatal(err)
	}
	if err := j.RecordIntents(ctx, run, reg.Ref(repo), []journal.Intent{{Digest: ours, Tags: []string{"1001"}}}); err != nil {
		t.Fatal(err)
	}
	id, err := j.Record(ctx, journal.Entry{RunID: run, Repository: reg.Ref(repo), Kind: journal.KindTag, Tag: "1001", Digest: ours})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := registry.New(registry.Options{}).Open(ctx, reg.Ref(repo), registry.PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Delete(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	if err := j.Finish(ctx, id, journal.ResultDeleted, ""); err != nil {
		t.Fatal(err)
	}
	target := []engine.Job{{Repository: reg.Ref(repo), Policy: keepTag("latest", "1002")}}
	o := opts(reg)
	o.Journal = j
	if pl := engine.Plan(ctx, target, plan.ModeApply, o); !hasAction(pl, ours, plan.ActionDelete) {
		t.Fatal("without the pod, the run's work is not finished: the test shows nothing")
	}
	o.InUse = func(string) policy.InUse {
		return policy.InUse{Digests: map[string][]string{ours: {"Pod prod/web"}}}
	}
	pl := engine.Plan(ctx, target, plan.ModeApply, o)
	if hasAction(pl, ours, plan.ActionDelete) {
		t.Errorf("%s, in use, planned for deletion", ours)
	}
	engine.Apply(ctx, pl, o)
	if !gExists(t, reg, repo, ours) {
		t.Fatal("the image in use was deleted")
	}
}

func hasAction(pl *plan.Plan, d string, a plan.Action) bool {
	for _, it := range pl.Repositories[0].Items {
		if it.Digest == d {
			return it.Action == a
		}
	}
	return false
}
