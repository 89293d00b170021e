package journal

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// NoWAL keeps the journal in SQLite's rollback mode (no -wal or -shm
// file, nothing shared in memory), for a journal on a network
// filesystem; entries are written and read back as with WAL.
func TestNoWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := Open(ctx, path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := j.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "delete" {
		t.Fatalf("journal_mode %q (%v), want delete", mode, err)
	}
	if err := j.BeginRun(ctx, "r1", "apply", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + ext); err == nil {
			t.Errorf("%s exists with NoWAL", path+ext)
		}
	}
	r, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Run(ctx, "r1"); err != nil {
		t.Errorf("the run is not there: %v", err)
	}
}
