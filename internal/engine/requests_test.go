package engine_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cache"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// The requests of a cold `regprune apply --keep-tag latest` over N
// single-platform builds, as the CLI runs it (one client, cache and
// journal on), counted at the registry: what issue 12's 4N+10 bound is
// about. Per tag: a GET (the plan), a HEAD (the re-check) and two
// DELETEs (tag, then digest) for each stale build. Besides: one ping for
// plan and apply, the tag list read three times (plan, re-check, re-check
// after the tags went), one referrers API probe (the guard does not ask
// again where this run's inventory found no API), the HEAD that checks
// the probed tag delete left its manifest, and a HEAD of each tag left
// after the tag phase. The final guard reads the kept manifest from the
// cache, as the plan verified it. After the deletes, the read-back (issue
// 19: what the report calls deleted, the registry was seen not to have)
// lists the tags a fourth time and HEADs each deleted digest: N more
// requests than issue 12's 4N+10, 5N+8 in all. The deleted tags cost
// nothing more: the listing shows them gone.
func TestColdApplyRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	const repo, builds = "ci/app", 20
	if _, err := reg.SeedCI(ctx, repo, builds, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(t.TempDir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour), Cache: c, Journal: j}
	target := []engine.Job{{Repository: proxy.Host + "/" + repo, Policy: keepTag("latest")}}
	pl := engine.Plan(ctx, target, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	if r := pl.Repositories[0]; r.Err != nil || r.Summary.Deleted != builds-1 || r.Summary.Failed+r.Summary.Skipped != 0 {
		t.Fatalf("apply: %v %+v", r.Err, r.Summary)
	}
	const tags, stale = builds + 1, builds - 1
	want := registrytest.Counts{
		TagList:        4,
		ManifestGET:    tags,
		ManifestHEAD:   tags + 1 + 2 + stale,
		ManifestDELETE: 2 * stale,
		Referrers:      1,
		Other:          1, // the ping
	}
	want.Total = want.TagList + want.ManifestGET + want.ManifestHEAD + want.ManifestDELETE + want.Referrers + want.Other
	if got := proxy.Counts(); got != want {
		t.Errorf("cold apply: %+v, want %+v", got, want)
	}
	if max := 5*builds + 8; want.Total > max {
		t.Errorf("%d requests, over 5N+8 = %d", want.Total, max)
	}
}
