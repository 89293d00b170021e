package engine_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// runs prune in the middle of an apply (issue 19 point 2): at the apply's
// first DELETE, another Journal on the same file (runs prune, in real
// life another process) prunes everything older than now. The running
// run is kept; the apply goes on, journals every deletion and ends; then
// prune removes it.
func TestPruneDuringApply(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/pruned"
	if _, err := reg.SeedCI(ctx, repo, 12, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	pruner, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pruner.Close()

	target, err := url.Parse(reg.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var once sync.Once
	var pruned journal.Pruned
	var pruneErr error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			once.Do(func() { pruned, pruneErr = pruner.PruneRuns(r.Context(), time.Now().Add(time.Hour)) })
		}
		rp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	o := engine.Options{Client: registry.New(registry.Options{Concurrency: 4}), Now: t0.Add(30 * 24 * time.Hour), Journal: j}
	pl := engine.Plan(ctx, []engine.Job{{Repository: host + "/" + repo, Policy: keepTag("latest")}}, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	if pruneErr != nil {
		t.Fatal(pruneErr)
	}
	if pruned.Runs != 0 || !slices.Equal(pruned.Kept, []string{pl.RunID}) {
		t.Fatalf("prune during the apply: %+v, want run %s kept", pruned, pl.RunID)
	}
	if s := pl.Summary; s.Deleted != 11 || s.FailedItems != 0 || s.Failed != 0 {
		t.Fatalf("apply: %+v", s)
	}
	es, err := pruner.Entries(ctx, pl.RunID, journal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, e := range es {
		if e.Kind == journal.KindManifest && e.Result == journal.ResultDeleted {
			deleted++
		}
	}
	if deleted != 11 {
		t.Fatalf("%d manifests journaled as deleted, want 11", deleted)
	}
	p, err := pruner.PruneRuns(ctx, time.Now().Add(time.Hour))
	if err != nil || p.Runs != 1 || len(p.Kept) != 0 {
		t.Fatalf("prune after the apply: %+v %v", p, err)
	}
}
