package journal

// A run in progress holds a lock: BeginRun creates the run's lock file
// beside the journal (journal.db-run-ID.lock, 0600) and takes an exclusive
// flock on it, which the process keeps until EndRun or Close. The kernel
// releases it when the process dies, however it dies. So a run is
//
//   - running while its lock is held (whatever its end record says);
//   - ended once it has an end record and its lock is free;
//   - abandoned when it has no end record and its lock file is there but
//     free: its process died (a crash, kill -9) or closed the journal
//     without ending it.
//
// EndRun removes the lock file once the end is recorded. A run without an
// end record and without a lock file was written by a regprune older than
// the lock (or its lock file was removed by hand): nothing proves it
// over, and Prune takes it only once nothing was written for it for
// staleAfter. Where flock does not exist (held_other.go), the same holds
// for every run without an end record.
//
// Prune never removes a running run: its entries are the undo record of
// deletions under way, and the run would go on writing entries for a run
// that no longer exists.

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// RunState is whether a run is over.
type RunState string

// Run states.
const (
	RunEnded     RunState = "ended"     // it recorded its end
	RunRunning   RunState = "running"   // its process holds its lock
	RunAbandoned RunState = "abandoned" // no end record, lock free: its process died
	RunUnknown   RunState = "unknown"   // no end record, and no lock file to ask
)

// staleAfter is how long a run without an end record nor a lock file
// must have written nothing before Prune takes it.
const staleAfter = 24 * time.Hour

// RunEnd is what EndRun records of a run.
type RunEnd struct {
	// ReclaimableBytes is the plan's estimate.
	ReclaimableBytes int64
	// FreedBytes is what the deletions done let the garbage collector
	// reclaim, as apply computed it for its report.
	FreedBytes int64
	// FailedItems and FailedRepositories are the report's failure counts.
	FailedItems, FailedRepositories int
}

// lockPath is run id's lock file.
func (j *Journal) lockPath(id string) string { return j.path + "-run-" + id + ".lock" }

// validRunID: a run id names a file, so it is kept to letters, digits,
// '-', '_' and '.' (NewRunID's ids are).
func validRunID(id string) bool {
	if id == "" || len(id) > 128 || strings.HasPrefix(id, ".") {
		return false
	}
	return strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == ""
}

// hold creates run id's lock file and takes its lock, kept until release.
func (j *Journal) hold(id string) error {
	if !validRunID(id) {
		return fmt.Errorf("journal: run id %q: want letters, digits, '-', '_' or '.'", id)
	}
	if j.ops == nil {
		return errors.New("journal: opened read-only")
	}
	f, err := os.OpenFile(j.lockPath(id), os.O_RDWR|os.O_CREATE|oNoFollow, 0o600)
	if err != nil {
		return fmt.Errorf("journal: run %s: lock: %w", id, err)
	}
	ok, err := tryLock(f)
	if errors.Is(err, errors.ErrUnsupported) {
		ok, err = true, nil
	}
	if err != nil || !ok {
		f.Close()
		return fmt.Errorf("journal: run %s: lock: %w", id, cmp.Or(err, errors.New("held by another process")))
	}
	j.heldMu.Lock()
	defer j.heldMu.Unlock()
	if j.held == nil {
		j.held = map[string]*os.File{}
	}
	j.held[id] = f
	return nil
}

// release lets run id's lock go; ended removes its lock file first (the
// end is on disk: nothing needs the file any more). A run released
// without its end keeps the file, free: it is then abandoned.
func (j *Journal) release(id string, ended bool) {
	j.heldMu.Lock()
	f := j.held[id]
	delete(j.held, id)
	j.heldMu.Unlock()
	if f == nil {
		return
	}
	f.Close()
	if ended { // after Close: Windows removes no open file
		_ = os.Remove(j.lockPath(id))
	}
}

// releaseAll lets every lock j holds go (Close): those runs are abandoned.
func (j *Journal) releaseAll() {
	j.heldMu.Lock()
	held := j.held
	j.held = nil
	j.heldMu.Unlock()
	for _, f := range held {
		f.Close()
	}
}

// probe tells whether run id is over. When its lock was free, the lock is
// taken and its file returned, for the caller to keep while it removes the
// run (then close it); nil otherwise.
func (j *Journal) probe(id string, finished bool) (RunState, *os.File) {
	if !validRunID(id) { // not one of ours: no lock file to ask
		if finished {
			return RunEnded, nil
		}
		return RunUnknown, nil
	}
	f, err := os.OpenFile(j.lockPath(id), os.O_RDONLY|oNoFollow, 0)
	switch {
	case err == nil:
	case finished && errors.Is(err, fs.ErrNotExist):
		return RunEnded, nil // EndRun removed it
	default:
		return RunUnknown, nil // none (an older regprune's run), or unreadable
	}
	ok, err := tryLock(f)
	switch {
	case err != nil:
		f.Close()
		return RunUnknown, nil
	case !ok:
		f.Close()
		return RunRunning, nil
	case finished:
		return RunEnded, f
	}
	return RunAbandoned, f
}

// State tells whether run id is over (see RunState), or ErrNoRun.
func (j *Journal) State(ctx context.Context, id string) (RunState, error) {
	var finished sql.NullString
	err := j.db.QueryRowContext(ctx, `SELECT finished FROM runs WHERE id = ?`, id).Scan(&finished)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%w: %s", ErrNoRun, id)
	}
	if err != nil {
		return "", fmt.Errorf("journal: %w", err)
	}
	st, f := j.probe(id, finished.Valid)
	if f != nil {
		f.Close()
	}
	return st, nil
}

// EndRun records the end of run id with what it did, and lets its lock
// go. After it, the run writes nothing more.
func (j *Journal) EndRun(ctx context.Context, id string, e RunEnd) error {
	_, err := j.db.ExecContext(ctx, `UPDATE runs SET finished = ?, reclaimable_bytes = ?, freed_bytes = ?,
		failed_items = ?, failed_repositories = ? WHERE id = ?`,
		j.now().UTC().Format(timeFormat), e.ReclaimableBytes, e.FreedBytes, e.FailedItems, e.FailedRepositories, id)
	j.release(id, err == nil)
	if err != nil {
		return fmt.Errorf("journal: finishing run %s: %w", id, err)
	}
	return nil
}

// Pruned is what PruneRuns did.
type Pruned struct {
	Runs, Entries int64
	// Kept are the runs started before the cutoff that were not removed:
	// still running, or without an end record and not provably abandoned.
	Kept []string
}

// PruneRuns removes the runs started before cutoff that are over (ended,
// or abandoned: see RunState), their entries, and the manifests no
// remaining entry needs, then gives the space back to the file system.
// A running run is never removed, whatever its age.
func (j *Journal) PruneRuns(ctx context.Context, cutoff time.Time) (Pruned, error) {
	var out Pruned
	c := cutoff.UTC().Format(timeFormat)
	stale := j.now().Add(-staleAfter)
	if cutoff.Before(stale) {
		stale = cutoff
	}
	staleAt := stale.UTC().Format(timeFormat)
	rows, err := j.db.QueryContext(ctx, `SELECT r.id, r.finished IS NOT NULL,
		max(r.started, COALESCE((SELECT max(max(e.time, e.result_time)) FROM entries e WHERE e.run_id = r.id), ''))
		FROM runs r WHERE r.started < ? ORDER BY r.started`, c)
	if err != nil {
		return out, fmt.Errorf("journal: %w", err)
	}
	type cand struct {
		id       string
		finished bool
		last     string
	}
	var cands []cand
	for rows.Next() {
		var k cand
		if err := rows.Scan(&k.id, &k.finished, &k.last); err != nil {
			rows.Close()
			return out, fmt.Errorf("journal: %w", err)
		}
		cands = append(cands, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("journal: %w", err)
	}
	// The locks of the runs removed are held until the removal is
	// committed.
	var ids []string
	var locks []*os.File
	unlock := func() {
		for _, f := range locks {
			f.Close()
		}
		locks = nil
	}
	defer unlock()
	for _, k := range cands {
		st, f := j.probe(k.id, k.finished)
		if f != nil {
			locks = append(locks, f)
		}
		switch {
		case st == RunEnded, st == RunAbandoned:
			ids = append(ids, k.id)
		case st == RunUnknown && (k.finished || k.last < staleAt):
			ids = append(ids, k.id)
		default:
			out.Kept = append(out.Kept, k.id)
		}
	}
	if len(ids) > 0 {
		if out.Runs, out.Entries, err = j.remove(ctx, ids); err != nil {
			return Pruned{Kept: out.Kept}, err
		}
		unlock() // before the files go: Windows removes no open file
		for _, id := range ids {
			if validRunID(id) {
				_ = os.Remove(j.lockPath(id))
			}
		}
	}
	if out.Runs > 0 {
		// Best effort: another process writing makes VACUUM wait or fail;
		// the space is then reused by later entries instead.
		_, _ = j.db.ExecContext(ctx, `VACUUM`)
		_, _ = j.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return out, nil
}

// remove deletes runs ids, their entries and the manifests no other entry
// needs, in one transaction.
func (j *Journal) remove(ctx context.Context, ids []string) (runs, entries int64, err error) {
	tx, err := j.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("journal: %w", err)
	}
	defer tx.Rollback()
	for _, id := range ids {
		res, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE run_id = ?`, id)
		if err != nil {
			return 0, 0, fmt.Errorf("journal: %w", err)
		}
		n, _ := res.RowsAffected()
		entries += n
		if res, err = tx.ExecContext(ctx, `DELETE FROM runs WHERE id = ?`, id); err != nil {
			return 0, 0, fmt.Errorf("journal: %w", err)
		}
		n, _ = res.RowsAffected()
		runs += n
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM manifests WHERE digest NOT IN (SELECT digest FROM entries)`); err != nil {
		return 0, 0, fmt.Errorf("journal: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("journal: %w", err)
	}
	return runs, entries, nil
}
