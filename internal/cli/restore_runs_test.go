package cli_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// restore of a run whose index needs children that a later run deleted
// names that run and the command, exits 3, and pushes nothing of the
// index; restore of both runs brings everything back (issue 19 point 13).
func TestRestoreNamesTheOtherRun(t *testing.T) {
	ctx := context.Background()
	reg, err := registrytest.Start(ctx, registrytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	t0 := time.Now().Add(-48 * time.Hour)
	spec := func(h int) *registrytest.ImageSpec {
		return &registrytest.ImageSpec{Created: t0.Add(time.Duration(h) * time.Hour), LayerSize: 256}
	}
	idx, idxDigest, err := reg.PushIndex(ctx, "team/multi", types.OCIImageIndex,
		[]registrytest.Child{{Spec: spec(1)}, {Spec: spec(2)}}, nil, "v1")
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.PushImage(ctx, "team/multi", *spec(3), "latest"); err != nil {
		t.Fatal(err)
	}
	index, c1, c2 := idxDigest.String(), im.Manifests[0].Digest.String(), im.Manifests[1].Digest.String()

	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	name := reg.Host + "/team/multi"
	rp, err := registry.New(registry.Options{}).Open(ctx, name, registry.PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	// deleteIn journals and deletes ds as one run.
	deleteIn := func(run string, at time.Time, ds map[string][]string) {
		if err := j.BeginRun(ctx, run, "apply", at); err != nil {
			t.Fatal(err)
		}
		for d, tags := range ds {
			body, _, err := rp.GetManifest(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			id, err := j.Record(ctx, journal.Entry{RunID: run, Repository: name, Kind: journal.KindManifest, Digest: d, Manifest: body, Tags: tags})
			if err != nil {
				t.Fatal(err)
			}
			if err := rp.Delete(ctx, d); err != nil {
				t.Fatal(err)
			}
			if err := j.Finish(ctx, id, journal.ResultDeleted, ""); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.EndRun(ctx, run, journal.RunEnd{}); err != nil {
			t.Fatal(err)
		}
	}
	run1, run2 := journal.NewRunID(t0), journal.NewRunID(t0.Add(time.Hour))
	deleteIn(run1, t0, map[string][]string{index: {"v1"}})
	deleteIn(run2, t0.Add(time.Hour), map[string][]string{c1: nil, c2: nil})

	restore := func(args ...string) (string, int) {
		var stdout, stderr bytes.Buffer
		err := cli.Run(ctx, append([]string{"restore", "--journal", path}, args...), cli.Env{Stdout: &stdout, Stderr: &stderr})
		return stdout.String() + stderr.String(), cli.ExitCode(err)
	}
	out, code := restore(run1, "--yes")
	if code != 3 || strings.Contains(out, "garbage collector") ||
		!strings.Contains(out, "needs run "+run2+": "+name+"@"+index+" (tags v1)") ||
		!strings.Contains(out, "regprune restore "+run1+" "+run2) {
		t.Fatalf("restore of run 1 alone: exit %d\n%s", code, out)
	}
	if _, err := rp.Head(ctx, index); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("run 1 alone pushed the index: %v", err)
	}
	out, code = restore(run1, run2, "--yes")
	if code != 0 || !strings.Contains(out, "result: 3 manifests pushed, 1 tags re-created, 0 failed") {
		t.Fatalf("restore of both runs: exit %d\n%s", code, out)
	}
	d, err := rp.Head(ctx, "v1")
	if err != nil || d.Digest != index {
		t.Fatalf("v1: %v %v, want %s", d.Digest, err, index)
	}
	for _, c := range []string{c1, c2} {
		if _, err := rp.Head(ctx, c); err != nil {
			t.Errorf("child %s: %v", c, err)
		}
	}
}
