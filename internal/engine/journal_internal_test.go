package engine

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// When the journal cannot take an entry mid-run, the DELETE is not sent:
// the manifest and the tag stay in the registry.
func TestJournalTargetFailsClosed(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/wrapper"
	ds, err := reg.SeedCI(ctx, repo, 2, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d := ds[0].String()
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := &plan.Plan{Repositories: []plan.RepoPlan{{Name: reg.Ref(repo), Items: []plan.Item{
		{Digest: d, Kind: plan.KindImage, Tags: []string{"1001"}, Action: plan.ActionDelete},
	}}}}
	jr, err := startJournal(ctx, p, Options{Journal: j, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := registry.New(registry.Options{}).Open(ctx, reg.Ref(repo), registry.PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	target := jr.wrap(rp, &p.Repositories[0])
	j.Close() // every entry now fails
	for _, ref := range []string{"1001", d} {
		if err := target.Delete(ctx, ref); !errors.Is(err, ErrJournal) {
			t.Fatalf("Delete(%s) = %v, want ErrJournal", ref, err)
		}
	}
	h, _ := v1.NewHash(d)
	if ok, err := reg.Exists(ctx, repo, h); err != nil || !ok {
		t.Fatalf("%s gone (%v): a DELETE was sent without its entry", d, err)
	}
	if got, err := reg.Tags(ctx, repo); err != nil || len(got) != 3 {
		t.Fatalf("tags %v (%v): a tag DELETE was sent without its entry", got, err)
	}
}
