package journal_test

// Issue 19 point 2: runs prune never removes a run that is still going;
// a run whose process died becomes prunable.

import (
	"bufio"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/journal"
)

// A run that another Journal (as another apply would) holds open is not
// pruned, whatever its age, and goes on writing; once it ends, it is.
func TestPruneKeepsRunningRun(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	j := open(t, path)
	other := open(t, path) // runs prune, in its own process in real life
	const run = "20261101T000000Z-aaaaaa"
	if err := j.BeginRun(ctx, run, "apply", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Record(ctx, entry(run, "registry.example.com/group/app", 1)); err != nil {
		t.Fatal(err)
	}
	p, err := other.PruneRuns(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.Runs != 0 || p.Entries != 0 || !slices.Equal(p.Kept, []string{run}) {
		t.Fatalf("prune of a running run: %+v", p)
	}
	if st, err := other.State(ctx, run); err != nil || st != journal.RunRunning {
		t.Fatalf("state %q %v, want running", st, err)
	}
	// It goes on writing, as apply would.
	id, err := j.Record(ctx, entry(run, "registry.example.com/group/app", 2))
	if err != nil {
		t.Fatalf("writing after a prune: %v", err)
	}
	if err := j.Finish(ctx, id, journal.ResultDeleted, ""); err != nil {
		t.Fatal(err)
	}
	if err := j.EndRun(ctx, run, journal.RunEnd{ReclaimableBytes: 9000, FreedBytes: 1234, FailedItems: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-run-" + run + ".lock"); !os.IsNotExist(err) {
		t.Errorf("the lock file of an ended run is left: %v", err)
	}
	runs, err := other.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := runs[0]; r.State != journal.RunEnded || r.FreedBytes == nil || *r.FreedBytes != 1234 || r.Failed != 1 || r.ReclaimableBytes != 9000 {
		t.Fatalf("ended run %+v", r)
	}
	p, err = other.PruneRuns(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.Runs != 1 || p.Entries != 2 || len(p.Kept) != 0 {
		t.Fatalf("prune of the ended run: %+v", p)
	}
}

// A run in another process is kept while that process runs and writes;
// once the process is killed (no end record), the run is abandoned and
// prunable.
func TestPruneRunOfAnotherProcess(t *testing.T) {
	if os.Getenv(killEnv) != "" {
		t.Skip("in the child")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalKilledProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), killEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	out := bufio.NewReader(stdout)
	last := func() int64 {
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		id, err := strconv.ParseInt(line[:len(line)-1], 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", line)
		}
		return id
	}
	first := last()
	j := open(t, path)
	p, err := j.PruneRuns(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.Runs != 0 || !slices.Equal(p.Kept, []string{"killed"}) {
		t.Fatalf("prune while the run writes: %+v", p)
	}
	// The child goes on: its next entries are written to a run that exists.
	var id int64
	for range 20 {
		id = last()
	}
	if id <= first {
		t.Fatalf("ids %d then %d", first, id)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if st, err := j.State(ctx, "killed"); err != nil || st != journal.RunAbandoned {
		t.Fatalf("state after the kill %q %v, want abandoned", st, err)
	}
	// Not older than the cutoff: kept (and not listed as in progress).
	if p, err := j.PruneRuns(ctx, t0.Add(-time.Hour)); err != nil || p.Runs != 0 || len(p.Kept) != 0 {
		t.Fatalf("prune before its start: %+v %v", p, err)
	}
	p, err = j.PruneRuns(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if p.Runs != 1 || p.Entries < 21 || len(p.Kept) != 0 {
		t.Fatalf("prune after the kill: %+v", p)
	}
	if _, err := os.Stat(path + "-run-killed.lock"); !os.IsNotExist(err) {
		t.Errorf("the pruned run's lock file is left: %v", err)
	}
}

// A run without an end record nor a lock file (an older regprune's) is
// pruned only once nothing was written for it for a day.
func TestPruneRunWithoutLockFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	now := t0.Add(100 * 24 * time.Hour)
	j, err := journal.Open(ctx, path, journal.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const tf = "2006-01-02T15:04:05.000000000Z07:00"
	for _, r := range []struct {
		id   string
		last time.Time
	}{{"old", now.Add(-25 * time.Hour)}, {"recent", now.Add(-time.Hour)}} {
		if _, err := db.Exec(`INSERT INTO runs (id, started, command) VALUES (?, ?, 'apply')`, r.id, t0.Format(tf)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO entries (run_id, time, registry, repository, kind, digest) VALUES (?, ?, 'r', 'r/a', 'manifest', 'sha256:00')`,
			r.id, r.last.UTC().Format(tf)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := j.PruneRuns(ctx, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if p.Runs != 1 || !slices.Equal(p.Kept, []string{"recent"}) {
		t.Fatalf("prune %+v, want old removed, recent kept", p)
	}
}
