package engine_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/regprune/regprune/internal/cache"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// The final guard asks the referrers API through every wrapper of apply's
// Target, as apply runs by default (journal and cache on): a plan file
// edited to delete a kept image's referrer, with its subject link dropped,
// is vetoed because the API names it under the kept image. (The journal's
// wrapper once hid the API from the guard.)
func TestGuardAsksReferrersAPIThroughWrappers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "api"
	api := registrytest.NewTestReferrersAPI(t, reg.URL)
	_, old := gImage(t, reg, repo, 1, "", "1001")
	_, cur := gImage(t, reg, repo, 2, "", "latest")
	rp, err := registry.New(registry.Options{}).Open(ctx, reg.Ref(repo), registry.PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	sbom := gRefer(t, reg, repo, cur)
	gAPIOnly(t, rp, api, cur, sbom) // only the API tells that sbom hangs from latest

	o := opts(reg)
	if o.Cache, err = cache.Open(t.TempDir(), cache.Options{}); err != nil {
		t.Fatal(err)
	}
	if o.Journal, err = journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Journal.Close() })
	target := []engine.Job{{Repository: api.Host + "/" + repo, Policy: keepTag("latest")}}
	var doc map[string]any
	if err := json.Unmarshal(fSave(t, engine.Plan(ctx, target, plan.ModePlan, o)), &doc); err != nil {
		t.Fatal(err)
	}
	edited := 0
	for _, it := range doc["repositories"].([]any)[0].(map[string]any)["images"].([]any) {
		if m := it.(map[string]any); m["digest"] == sbom {
			m["action"] = "delete"
			delete(m, "subject")
			edited++
		}
	}
	if edited != 1 {
		t.Fatalf("edited %d items, want the referrer of latest", edited)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	pl := fLoad(t, b)
	engine.Apply(ctx, pl, o)
	if it := gItem(t, pl, sbom); it.Result != plan.ResultSkipped || it.ResultReason.Code != plan.ReasonGuardReached {
		t.Errorf("referrer of latest: %s %q; want skipped by the final guard", it.Result, it.ResultReason)
	}
	if !gExists(t, reg, repo, sbom) {
		t.Error("the referrer of the kept image was deleted")
	}
	if it := gItem(t, pl, old); it.Result != plan.ResultDeleted {
		t.Errorf("old build: %s %q", it.Result, it.ResultReason)
	}
}
