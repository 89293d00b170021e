package restore_test

// Issue 19 point 13: a run whose index needs children that a later run
// deleted names that run (it does not blame the garbage collector), and
// the two runs restored together bring everything back, children first.

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
	"github.com/regprune/regprune/internal/restore"
)

func TestRestoreNamesTheRunThatDeletedWhatItNeeds(t *testing.T) {
	for _, b := range []struct {
		name  string
		start func(testing.TB, registrytest.Options) *registrytest.Registry
	}{{"v3", registrytest.New}, {"dist2", registrytest.NewDist2}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // own registry and journal
			testRestoreTwoRuns(t, b.start(t, registrytest.Options{}))
		})
	}
}

func testRestoreTwoRuns(t *testing.T, reg *registrytest.Registry) {
	ctx := context.Background()
	const repo = "team/multi"
	idx, idxDigest, err := reg.PushIndex(ctx, repo, types.OCIImageIndex, kids(1, 2), nil, "v1")
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	index := idxDigest.String()
	c1, c2 := im.Manifests[0].Digest.String(), im.Manifests[1].Digest.String()
	if _, _, err := reg.PushImage(ctx, repo, spec(9), "latest"); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	rp, err := registry.New(registry.Options{}).Open(ctx, reg.Ref(repo), registry.PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	name := reg.Ref(repo)
	entry := func(run, d string, tags ...string) journal.Entry {
		body, _, err := rp.GetManifest(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		return journal.Entry{RunID: run, Repository: name, Kind: journal.KindManifest, Digest: d, Manifest: body, Tags: tags}
	}

	// Run 1 deletes the index; its children's entries stay pending (it
	// was interrupted before their DELETEs, say).
	run1 := journal.NewRunID(t0)
	if err := j.BeginRun(ctx, run1, "apply", t0); err != nil {
		t.Fatal(err)
	}
	ids, err := j.RecordAll(ctx, []journal.Entry{entry(run1, index, "v1"), entry(run1, c1), entry(run1, c2)})
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Delete(ctx, index); err != nil {
		t.Fatal(err)
	}
	if err := j.Finish(ctx, ids[0], journal.ResultDeleted, ""); err != nil {
		t.Fatal(err)
	}
	if err := j.EndRun(ctx, run1, journal.RunEnd{}); err != nil {
		t.Fatal(err)
	}
	// Run 2, later, deletes the children.
	run2 := journal.NewRunID(t0.Add(time.Hour))
	if err := j.BeginRun(ctx, run2, "apply", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ids, err = j.RecordAll(ctx, []journal.Entry{entry(run2, c1), entry(run2, c2)})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range []string{c1, c2} {
		if err := rp.Delete(ctx, d); err != nil {
			t.Fatal(err)
		}
		if err := j.Finish(ctx, ids[i], journal.ResultDeleted, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.EndRun(ctx, run2, journal.RunEnd{}); err != nil {
		t.Fatal(err)
	}

	// Run 1 alone: the index waits for run 2; the children, pending in
	// run 1 and deleted by run 2, are run 2's.
	o := restore.Options{Client: registry.New(registry.Options{}), Journal: j}
	p, err := restore.Build(ctx, run1, restore.Filter{}, o)
	if err != nil {
		t.Fatal(err)
	}
	ms := p.Repositories[0].Manifests
	if len(ms) != 1 || ms[0].Digest != index || ms[0].Action != restore.ActionNeedsRun || ms[0].NeedsRun != run2 || ms[0].Code != restore.WhyNeedsRun {
		t.Fatalf("restore of run 1: %+v, want the index alone, waiting for run %s", ms, run2)
	}
	if s := p.Summary; s.Unrecoverable != 0 || s.UnrecoverableTags != 0 || s.NeedsRun != 1 || s.NeedsRunTags != 1 {
		t.Fatalf("summary %+v", s)
	}
	err = p.Err()
	if !errors.Is(err, restore.ErrNeedsRun) || errors.Is(err, restore.ErrUnrecoverable) {
		t.Fatalf("Err %v, want ErrNeedsRun alone", err)
	}
	if want := "regprune restore " + run1 + " " + run2; p.Command() != want || !slices.Equal(p.NeedRuns, []string{run2}) {
		t.Fatalf("command %q (need %v), want %q", p.Command(), p.NeedRuns, want)
	}
	restore.Apply(ctx, p, o)
	if exists(t, reg, repo, index) || exists(t, reg, repo, c1) {
		t.Fatal("restoring run 1 alone pushed something")
	}

	// Both runs, in either order: children, then the index and its tag.
	p, err = restore.BuildRuns(ctx, []string{run1, run2}, restore.Filter{}, o)
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Summary; s.Push != 3 || s.Tag != 1 || s.NeedsRun != 0 || len(p.NeedRuns) != 0 {
		t.Fatalf("restore of both runs: %+v", s)
	}
	restore.Apply(ctx, p, o)
	if err := p.Err(); err != nil {
		t.Fatalf("restore of both runs: %v", err)
	}
	for _, d := range []string{c1, c2, index} {
		if !exists(t, reg, repo, d) {
			t.Errorf("%s not restored", d)
		}
	}
	if got := liveTags(t, reg, repo); got["v1"] != index || len(got) != 2 {
		t.Errorf("tags %v, want v1 on the index %s and latest", got, index)
	}
}
