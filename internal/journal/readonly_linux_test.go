package journal_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/regprune/regprune/internal/journal"
)

// The read commands work on a journal on a read-only file system (issue
// 19 point 18): a bind mount, where the test may mount (else skipped).
func TestReadOnlyFileSystem(t *testing.T) {
	ctx := context.Background()
	src, ro := t.TempDir(), t.TempDir()
	path := filepath.Join(src, "journal.db")
	j := open(t, path)
	const run = "20261101T000000Z-aaaaaa"
	if err := j.BeginRun(ctx, run, "apply", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Record(ctx, entry(run, "registry.example.com/group/app", 1)); err != nil {
		t.Fatal(err)
	}
	if err := j.EndRun(ctx, run, journal.RunEnd{}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if err := syscall.Mount(src, ro, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount here: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(ro, syscall.MNT_DETACH) })
	if err := syscall.Mount(src, ro, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only here: %v", err)
	}
	if err := os.WriteFile(filepath.Join(ro, "probe"), nil, 0o600); err == nil {
		t.Skip("the read-only mount is writable")
	}
	r, err := journal.Open(ctx, filepath.Join(ro, "journal.db"), journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open on a read-only file system: %v", err)
	}
	defer r.Close()
	runs, err := r.Runs(ctx)
	if err != nil || len(runs) != 1 || runs[0].Manifests != 0 || runs[0].State != journal.RunEnded {
		t.Fatalf("runs %+v %v", runs, err)
	}
	es, err := r.Entries(ctx, run, journal.Filter{WithManifests: true})
	if err != nil || len(es) != 1 || len(es[0].Manifest) == 0 {
		t.Fatalf("entries %+v %v", es, err)
	}
}
