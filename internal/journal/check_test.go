package journal_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/journal"
)

// A journal with a damaged page is refused for writing (issue 19 point
// 3), with the file and the way out in the message.
func TestOpenDamagedJournal(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	j := open(t, path)
	const run = "20261101T000000Z-aaaaaa"
	if err := j.BeginRun(ctx, run, "apply", t0); err != nil {
		t.Fatal(err)
	}
	for n := range 50 {
		if _, err := j.Record(ctx, entry(run, "registry.example.com/group/app", n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.EndRun(ctx, run, journal.RunEnd{}); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil { // checkpoints the WAL into the file
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() < 8192 {
		t.Fatalf("journal of %v bytes (%v)", fi.Size(), err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 200)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	if _, err := f.WriteAt(junk, 4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = journal.Open(ctx, path, journal.Options{})
	if !errors.Is(err, journal.ErrDamaged) {
		t.Fatalf("Open of a damaged journal: %v, want ErrDamaged", err)
	}
	for _, want := range []string{path, "move it aside", "mv "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not name %q", err, want)
		}
	}
}

// The journal path is not followed through a symlink (the target keeps its
// mode), and a directory others may write is refused, as the cache's is
// (issue 19 point 18).
func TestOpenUnsafePath(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "journal.db")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	_, err := journal.Open(ctx, link, journal.Options{})
	if !errors.Is(err, journal.ErrUnsafe) || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("Open of a symlink: %v, want ErrUnsafe", err)
	}
	if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("the symlink's target: %v %v, want mode 0644 untouched", fi.Mode(), err)
	}

	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err = journal.Open(ctx, filepath.Join(open, "journal.db"), journal.Options{})
	if !errors.Is(err, journal.ErrUnsafe) || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("Open in a world-writable directory: %v, want ErrUnsafe", err)
	}
	// Through a symlinked directory: the directory it names is checked.
	via := filepath.Join(t.TempDir(), "state")
	if err := os.Symlink(open, via); err != nil {
		t.Fatal(err)
	}
	if _, err = journal.Open(ctx, filepath.Join(via, "journal.db"), journal.Options{}); !errors.Is(err, journal.ErrUnsafe) {
		t.Fatalf("Open through a symlinked world-writable directory: %v, want ErrUnsafe", err)
	}
	if _, err := os.Stat(filepath.Join(open, "journal.db")); !os.IsNotExist(err) {
		t.Fatalf("a journal was created in the refused directory: %v", err)
	}
}
