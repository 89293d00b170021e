// Package journal is regprune's record of every deletion: before apply
// sends a DELETE it writes an entry (run, time, registry, repository,
// digest or tag, media type, the raw manifest bytes, the tags the manifest
// had, the reason), and once the registry has answered it writes the
// result. Entries are what `regprune restore` pushes back while the
// registry's garbage collector has not yet removed the blobs.
//
// The journal is an SQLite database (modernc.org/sqlite, pure Go) in WAL
// mode with a busy timeout, so several regprune processes can write to it
// at once. Every entry is committed (synchronous=FULL) before its DELETE is
// sent: a crash leaves at worst a "pending" entry for a deletion that may
// or may not have reached the registry, never a deletion without an entry.
// Apply writes the entries of a batch of deletes together (RecordAll) and
// their results in the background (FinishAsync, Flush).
// The journal holds no credentials: only registry names, repository names,
// digests, tags, manifests and reasons. The file is created 0600 in a 0700
// directory. Its schema carries a version, and Open migrates older
// journals forward.
package journal

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/regprune/regprune/internal/safe"
)

// Entry kinds.
const (
	KindManifest = "manifest" // a DELETE by digest: the manifest and every tag naming it
	KindTag      = "tag"      // a DELETE of one tag
)

// Results of an entry.
const (
	ResultPending  = "pending"   // written before the DELETE; no answer recorded (yet)
	ResultDeleted  = "deleted"   // the registry accepted the DELETE
	ResultNotFound = "not_found" // the registry answered 404: already gone
	ResultFailed   = "failed"    // the DELETE failed
	ResultNotSent  = "not_sent"  // written ahead (RecordAll), then the DELETE was not sent (interrupted, refused, skipped)
)

// ErrNoRun means no run has the id asked for.
var ErrNoRun = errors.New("no such run in the journal")

// DefaultPath is $XDG_STATE_HOME/regprune/journal.db, else
// $HOME/.local/state/regprune/journal.db; "" when neither is set.
func DefaultPath(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "regprune", "journal.db")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "regprune", "journal.db")
	}
	return ""
}

// Journal is an open journal. Safe for concurrent use.
type Journal struct {
	db   *sql.DB
	path string
	now  func() time.Time

	ops       chan writeOp  // to the writer (nil when read-only)
	wake      chan struct{} // FinishAsync queued a result (capacity 1)
	closing   chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once

	lateMu  sync.Mutex
	late    []writeOp     // results of FinishAsync, for the writer's next commit
	lateErr error         // the first of their writes that failed, for Flush
	full    chan struct{} // late holds lateBatch results (capacity 1)

	// The writer's statements, prepared once (nil when preparing failed:
	// the writer then has SQLite parse them for every row).
	stmts [numStmts]*sql.Stmt

	// schema is the file's schema version (older when opened read-only).
	schema int
	// held are the lock files of the runs this journal began and has not
	// ended (held.go).
	heldMu sync.Mutex
	held   map[string]*os.File
}

// Options configures Open.
type Options struct {
	// ReadOnly opens an existing journal without creating or migrating
	// it; Open then fails with an error matching fs.ErrNotExist when there
	// is none.
	ReadOnly bool
	// Now is the clock of entry times; nil means time.Now.
	Now func() time.Time
	// BusyTimeout is how long a write waits for another process's write
	// to finish; default 30s.
	BusyTimeout time.Duration
	// NoWAL writes with SQLite's rollback journal instead of WAL: WAL
	// needs memory shared by every process on one host, which a network
	// filesystem (NFS, a ReadWriteMany volume) does not give. Slower.
	NoWAL bool
}

// Open opens (creating if needed) the journal at path and migrates its
// schema to the current version.
func Open(ctx context.Context, path string, o Options) (*Journal, error) {
	if path == "" {
		return nil, errors.New("journal: no path")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 30 * time.Second
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if o.ReadOnly {
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("journal %s: %w", path, err)
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
			return nil, fmt.Errorf("journal %s: %w", path, err)
		}
		if err := checkPath(abs); err != nil {
			return nil, fmt.Errorf("journal %s: %w", path, err)
		}
		// Create the file 0600 before SQLite does (it would use 0644);
		// SQLite gives its -wal and -shm files the database's mode.
		f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|oNoFollow, 0o600)
		if err != nil {
			return nil, fmt.Errorf("journal %s: %w", path, err)
		}
		f.Close()
		if err := os.Chmod(abs, 0o600); err != nil { // a file made by hand, say
			return nil, fmt.Errorf("journal %s: %w", path, err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
	switch {
	case o.ReadOnly:
	case o.NoWAL:
		q.Add("_pragma", "journal_mode(DELETE)")
	default:
		q.Add("_pragma", "journal_mode(WAL)")
	}
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	if o.ReadOnly {
		q.Set("mode", "ro")
	}
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j := &Journal{db: db, path: abs, now: o.Now, closing: make(chan struct{}), wake: make(chan struct{}, 1), full: make(chan struct{}, 1)}
	if o.ReadOnly {
		var v int
		err := db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
		if err != nil && cantOpen(err) {
			// A read-only file system: SQLite cannot create the -shm file
			// that reading a WAL journal needs. Without a write-ahead log
			// to merge, the file alone is the journal, and nothing can
			// change it there: read it as immutable.
			db.Close()
			if fi, werr := os.Stat(abs + "-wal"); werr == nil && fi.Size() > 0 {
				return nil, fmt.Errorf("journal %s: %w: its write-ahead log %s-wal holds changes not yet in the file, which cannot be read without creating %s-shm beside it; read a copy of the directory, or open it once where it can be written", path, err, abs, abs)
			}
			q.Set("immutable", "1")
			dsn = "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + q.Encode()
			if db, err = sql.Open("sqlite", dsn); err != nil {
				return nil, fmt.Errorf("journal %s: %w", path, err)
			}
			j.db = db
			err = db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
		}
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("journal %s: %w", path, err)
		}
		if v > len(migrations) {
			db.Close()
			return nil, fmt.Errorf("journal %s: schema version %d is newer than this regprune knows (%d)", path, v, len(migrations))
		}
		j.schema = v
		return j, nil
	}
	// A damaged file is not written to: its runs could not be read back.
	if err := j.check(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	// Two processes opening a new journal at once: the switch to WAL and
	// the migration take locks that SQLite's busy handler does not always
	// wait for (it answers SQLITE_BUSY at once where waiting could
	// deadlock). Try again until the busy timeout.
	deadline := time.Now().Add(o.BusyTimeout)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 250*time.Millisecond) {
		err := j.migrate(ctx)
		if err == nil {
			break
		}
		if !isBusy(err) || time.Now().After(deadline) {
			db.Close()
			return nil, fmt.Errorf("journal %s: %w", path, err)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			db.Close()
			return nil, fmt.Errorf("journal %s: %w", path, ctx.Err())
		}
	}
	j.schema = len(migrations)
	j.prepare(ctx)
	j.ops, j.stopped = make(chan writeOp), make(chan struct{})
	safe.Go(j.writer)
	return j, nil
}

// Path is the journal's file.
func (j *Journal) Path() string { return j.path }

// Close stops the writer and closes the journal. Writes after Close fail.
func (j *Journal) Close() error {
	j.closeOnce.Do(func() {
		close(j.closing)
		if j.ops != nil {
			<-j.stopped
		}
		for _, s := range j.stmts {
			if s != nil {
				s.Close()
			}
		}
		j.releaseAll()
	})
	return j.db.Close()
}

// cantOpen reports whether err is SQLite's SQLITE_CANTOPEN.
func cantOpen(err error) bool {
	var e interface{ Code() int }
	return errors.As(err, &e) && e.Code()&0xff == 14
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (or one of its
// extended codes).
func isBusy(err error) bool {
	var e interface{ Code() int }
	return errors.As(err, &e) && e.Code()&0xff == 5
}

// migrations[i] brings the schema from version i to i+1. Append only:
// never edit a released migration.
var migrations = []string{
	// 1: runs, entries, and manifest bodies stored once per digest.
	`CREATE TABLE runs (
		id                TEXT PRIMARY KEY,
		started           TEXT NOT NULL,
		finished          TEXT,
		command           TEXT NOT NULL DEFAULT '',
		reclaimable_bytes INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE manifests (
		digest     TEXT PRIMARY KEY,
		media_type TEXT NOT NULL DEFAULT '',
		body       BLOB NOT NULL
	);
	CREATE TABLE entries (
		id            INTEGER PRIMARY KEY AUTOINCREMENT,
		run_id        TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		time          TEXT NOT NULL,
		registry      TEXT NOT NULL,
		repository    TEXT NOT NULL,
		kind          TEXT NOT NULL,
		tag           TEXT NOT NULL DEFAULT '',
		digest        TEXT NOT NULL,
		media_type    TEXT NOT NULL DEFAULT '',
		size          INTEGER NOT NULL DEFAULT 0,
		tags          TEXT NOT NULL DEFAULT '[]',
		item_kind     TEXT NOT NULL DEFAULT '',
		parent        TEXT NOT NULL DEFAULT '',
		subject       TEXT NOT NULL DEFAULT '',
		reason        TEXT NOT NULL DEFAULT '',
		result        TEXT NOT NULL DEFAULT 'pending',
		result_detail TEXT NOT NULL DEFAULT '',
		result_time   TEXT NOT NULL DEFAULT '',
		restored      TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX entries_run ON entries(run_id);
	CREATE INDEX entries_repository_digest ON entries(repository, digest);`,
	// 2: what each run set out to delete, per repository (intents.go).
	`CREATE TABLE intents (
		run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		repository TEXT NOT NULL,
		deletes    TEXT NOT NULL,
		PRIMARY KEY (run_id, repository)
	);
	CREATE INDEX intents_repository ON intents(repository);`,
	// 3: what a run did, as apply's report says it (NULL: not recorded, a
	// run of an older regprune or one that did not end), and whether the
	// run holds a lock file (held.go).
	`ALTER TABLE runs ADD COLUMN freed_bytes INTEGER;
	ALTER TABLE runs ADD COLUMN failed_items INTEGER;
	ALTER TABLE runs ADD COLUMN failed_repositories INTEGER;
	ALTER TABLE runs ADD COLUMN lock_file INTEGER NOT NULL DEFAULT 0;`,
}

// SchemaVersion is the schema version this regprune writes.
var SchemaVersion = len(migrations)

func (j *Journal) migrate(ctx context.Context) error {
	tx, err := j.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock): one migrator at a time
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	v := 0
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this regprune knows (%d)", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrating the schema to version %d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, v); err != nil {
		return err
	}
	return tx.Commit()
}

// NewRunID returns a run id: the UTC start time and 6 random hex digits,
// e.g. 20261201T150700Z-3fa9c1. Ids sort by time.
func NewRunID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// timeFormat is fixed-width, so that times sort as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// BeginRun records the start of a run. command is what ran ("apply"),
// never its arguments (they may hold credentials). The run holds its lock
// (held.go) from before its record exists until EndRun or Close: no
// Prune removes it meanwhile.
func (j *Journal) BeginRun(ctx context.Context, id, command string, started time.Time) error {
	if err := j.hold(id); err != nil {
		return err
	}
	_, err := j.db.ExecContext(ctx, `INSERT INTO runs (id, started, command, lock_file) VALUES (?, ?, ?, 1)`,
		id, started.UTC().Format(timeFormat), command)
	if err != nil {
		j.release(id, true)
		return fmt.Errorf("journal: starting run %s: %w", id, err)
	}
	return nil
}

// FinishRun records the end of a run and its plan's estimate of the bytes
// it frees; EndRun records what the run did.
func (j *Journal) FinishRun(ctx context.Context, id string, reclaimable int64) error {
	_, err := j.db.ExecContext(ctx, `UPDATE runs SET finished = ?, reclaimable_bytes = ? WHERE id = ?`,
		j.now().UTC().Format(timeFormat), reclaimable, id)
	j.release(id, err == nil)
	if err != nil {
		return fmt.Errorf("journal: finishing run %s: %w", id, err)
	}
	return nil
}

// Entry is one deletion.
type Entry struct {
	ID         int64     `json:"id"`
	RunID      string    `json:"run_id"`
	Time       time.Time `json:"time"`
	Registry   string    `json:"registry"`
	Repository string    `json:"repository"` // host[:port]/path
	Kind       string    `json:"kind"`       // KindManifest or KindTag
	Tag        string    `json:"tag,omitempty"`
	Digest     string    `json:"digest"`
	MediaType  string    `json:"media_type,omitempty"`
	Size       int64     `json:"size"`
	// Tags are the tags the manifest had (for a tag entry, the tag).
	Tags     []string `json:"tags"`
	ItemKind string   `json:"item_kind,omitempty"` // image, child, referrer, signature
	Parent   string   `json:"parent,omitempty"`
	Subject  string   `json:"subject,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	// Manifest is the raw manifest, when the journal has it.
	Manifest     []byte    `json:"-"`
	Result       string    `json:"result"`
	ResultDetail string    `json:"result_detail,omitempty"`
	ResultTime   time.Time `json:"result_time,omitzero"`
	Restored     time.Time `json:"restored,omitzero"`
}

// RegistryOf is the host[:port] of a repository name.
func RegistryOf(repository string) string {
	host, _, _ := strings.Cut(repository, "/")
	return host
}

// Record writes e (Result pending) and its manifest, committed to disk
// (fsync) before it returns: the write-ahead entry of a DELETE. It returns
// the entry's id for Finish. Records and results that arrive while another
// commit is under way share the next one (group commit), so concurrent
// deletes pay for one fsync between them.
func (j *Journal) Record(ctx context.Context, e Entry) (int64, error) {
	ids, err := j.RecordAll(ctx, []Entry{e})
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// RecordAll writes es (Result pending) and their manifests in one
// transaction, committed to disk (fsync) before it returns: all of them or
// none. ids[i] is the id of es[i]; ids grow in the order of es. It is the
// write-ahead entry of a batch of DELETEs announced before the first of
// them is sent; each then gets its result with Finish or FinishAsync, and
// one never sent gets ResultNotSent.
func (j *Journal) RecordAll(ctx context.Context, es []Entry) ([]int64, error) {
	tags := make([]string, len(es))
	for i := range es {
		e := &es[i]
		if e.RunID == "" || e.Repository == "" || e.Digest == "" {
			return nil, errors.New("journal: entry without run, repository or digest")
		}
		if e.Registry == "" {
			e.Registry = RegistryOf(e.Repository)
		}
		if e.Time.IsZero() {
			e.Time = j.now()
		}
		if e.Size == 0 && e.Kind == KindManifest {
			e.Size = int64(len(e.Manifest))
		}
		b, err := json.Marshal(nonNil(e.Tags))
		if err != nil {
			return nil, err
		}
		tags[i] = string(b)
	}
	ids := make([]int64, len(es))
	err := j.write(ctx, func(tx *wtx) error {
		for i, e := range es {
			if len(e.Manifest) > 0 {
				if _, err := tx.exec(stmtManifest, e.Digest, e.MediaType, e.Manifest); err != nil {
					return err
				}
			}
			res, err := tx.exec(stmtEntry,
				e.RunID, e.Time.UTC().Format(timeFormat), e.Registry, e.Repository, e.Kind, e.Tag, e.Digest, e.MediaType,
				e.Size, tags[i], e.ItemKind, e.Parent, e.Subject, e.Reason, ResultPending)
			if err != nil {
				return err
			}
			if ids[i], err = res.LastInsertId(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return ids, nil
}

// Finish records the result of entry id, committed before it returns.
func (j *Journal) Finish(ctx context.Context, id int64, result, detail string) error {
	t := j.now().UTC().Format(timeFormat)
	err := j.write(ctx, func(tx *wtx) error {
		_, err := tx.exec(stmtFinish, result, detail, t, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// FinishAsync queues the result of entry id and returns at once: the
// writer commits it with its next transaction, together with whatever
// else is queued. Results alone wait up to lateDelay (or until lateBatch
// of them are queued) so that one transaction carries many; a Record,
// Finish or Flush meanwhile carries them at once. Flush waits for it, and
// so does Close. A result that is lost (a crash first) leaves its entry
// pending, which restore treats as possibly deleted.
func (j *Journal) FinishAsync(id int64, result, detail string) {
	t := j.now().UTC().Format(timeFormat)
	op := writeOp{fn: func(tx *wtx) error {
		_, err := tx.exec(stmtFinish, result, detail, t, id)
		return err
	}}
	full := false
	j.lateMu.Lock()
	select {
	case <-j.closing:
		j.lateErr = cmp.Or(j.lateErr, errClosed)
	default:
		if j.ops == nil {
			j.lateErr = cmp.Or(j.lateErr, errors.New("opened read-only"))
		} else {
			j.late = append(j.late, op)
			full = len(j.late) >= lateBatch
		}
	}
	j.lateMu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	if full {
		select {
		case j.full <- struct{}{}:
		default:
		}
	}
}

// Flush waits until every result FinishAsync queued before it is
// committed, and returns the first error among those writes since the
// last Flush (the entries concerned stay pending).
func (j *Journal) Flush(ctx context.Context) error {
	err := j.write(ctx, func(*wtx) error { return nil })
	j.lateMu.Lock()
	lerr := j.lateErr
	j.lateErr = nil
	j.lateMu.Unlock()
	if err = cmp.Or(lerr, err); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// takeLate returns the queued results of FinishAsync.
func (j *Journal) takeLate() []writeOp {
	j.lateMu.Lock()
	defer j.lateMu.Unlock()
	late := j.late
	j.late = nil
	return late
}

// reply tells op's writer its outcome; a queued result has none waiting,
// and its error goes to the next Flush.
func (j *Journal) reply(op writeOp, err error) {
	if op.done != nil {
		op.done <- err
		return
	}
	if err != nil {
		j.lateMu.Lock()
		j.lateErr = cmp.Or(j.lateErr, err)
		j.lateMu.Unlock()
	}
}

// errClosed is the answer to a write after Close.
var errClosed = errors.New("journal closed")

// maxBatch bounds the writes of one group commit.
const maxBatch = 256

// Results of FinishAsync alone are committed lateDelay after the first of
// them, or once lateBatch of them are queued, whichever comes first: a
// transaction per result would cost more than the results themselves.
const (
	lateDelay = 20 * time.Millisecond
	lateBatch = 512
)

type writeOp struct {
	fn   func(*wtx) error
	done chan error // nil for a result of FinishAsync
}

// write runs fn in a transaction of the writer and waits until it is
// committed. It waits even when ctx is cancelled: the caller must know
// whether its entry is on disk.
func (j *Journal) write(_ context.Context, fn func(*wtx) error) error {
	if j.ops == nil {
		return errors.New("opened read-only")
	}
	op := writeOp{fn: fn, done: make(chan error, 1)}
	select {
	case j.ops <- op:
	case <-j.closing:
		return errClosed
	}
	return <-op.done
}

// writer commits the queued writes, as many as are waiting, and the
// results FinishAsync queued, in one transaction. A transaction that fails
// is retried one write at a time, so that one bad write fails alone. On
// Close it commits the queued results first.
func (j *Journal) writer() {
	defer close(j.stopped)
	gather := time.NewTimer(lateDelay)
	gather.Stop()
	for {
		var batch []writeOp
		select {
		case op := <-j.ops:
			batch = append(batch, op)
		case <-j.wake:
			// Results only: let more of them come, or a write that
			// carries them.
			gather.Reset(lateDelay)
			select {
			case op := <-j.ops:
				batch = append(batch, op)
			case <-j.full:
			case <-gather.C:
			case <-j.closing:
			}
			gather.Stop()
		case <-j.closing:
			if late := j.takeLate(); len(late) > 0 {
				j.commitBatch(late)
			}
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case op := <-j.ops:
				batch = append(batch, op)
			default:
				break more
			}
		}
		// The queued results first: a Flush in batch hears of their
		// errors before it returns.
		batch = append(j.takeLate(), batch...)
		if len(batch) > 0 {
			j.commitBatch(batch)
		}
	}
}

func (j *Journal) commitBatch(batch []writeOp) {
	err := j.commit(batch)
	if err == nil || len(batch) == 1 {
		for _, op := range batch {
			j.reply(op, err)
		}
		return
	}
	for _, op := range batch {
		j.reply(op, j.commit([]writeOp{op}))
	}
}

func (j *Journal) commit(batch []writeOp) error {
	tx, err := j.db.Begin() // BEGIN IMMEDIATE (_txlock); waits busy_timeout for another process
	if err != nil {
		return err
	}
	defer tx.Rollback()
	w := &wtx{tx: tx, j: j}
	for _, op := range batch {
		if err := op.fn(w); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// MarkRestored records that entry id was pushed back.
func (j *Journal) MarkRestored(ctx context.Context, id int64) error {
	_, err := j.db.ExecContext(ctx, `UPDATE entries SET restored = ? WHERE id = ?`, j.now().UTC().Format(timeFormat), id)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Run summarizes one run.
type Run struct {
	ID               string    `json:"id"`
	Started          time.Time `json:"started"`
	Finished         time.Time `json:"finished,omitzero"`
	Command          string    `json:"command"`
	Registries       []string  `json:"registries"`
	Repositories     int       `json:"repositories"`
	Manifests        int       `json:"manifests_deleted"`
	Tags             int       `json:"tags_deleted"`
	Pending          int       `json:"pending,omitempty"`
	Failed           int       `json:"failed,omitempty"`
	ReclaimableBytes int64     `json:"reclaimable_bytes"`
	// ManifestBytes is the size of the manifests the run deleted, which
	// the journal holds.
	ManifestBytes int64 `json:"manifest_bytes"`

	// Failed above is the report's count of failed deletions; for a run
	// that did not record it (one that did not end), its failed entries.
	// FailedRepositories is the report's count of failed repositories.
	FailedRepositories int `json:"failed_repositories,omitempty"`
	// ReclaimableBytes above is the plan's estimate; FreedBytes is what
	// the run freed, as its report said (absent when unknown: a run that
	// deleted something and did not end, or one of an older regprune).
	FreedBytes *int64 `json:"freed_bytes,omitempty"`
	// State is whether the run is over (see RunState).
	State RunState `json:"state"`
}

// Runs lists the runs, newest first.
func (j *Journal) Runs(ctx context.Context) ([]Run, error) {
	outcome := `NULL, NULL, NULL`
	if j.schema >= 3 { // migration 3: the outcome columns
		outcome = `r.freed_bytes, r.failed_items, r.failed_repositories`
	}
	rows, err := j.db.QueryContext(ctx, `SELECT r.id, r.started, COALESCE(r.finished, ''), r.command, r.reclaimable_bytes, `+outcome+`,
		COALESCE((SELECT group_concat(DISTINCT registry) FROM entries e WHERE e.run_id = r.id), ''),
		(SELECT count(DISTINCT repository) FROM entries e WHERE e.run_id = r.id),
		(SELECT count(*) FROM entries e WHERE e.run_id = r.id AND kind = 'manifest' AND result = 'deleted'),
		(SELECT count(*) FROM entries e WHERE e.run_id = r.id AND kind = 'tag' AND result = 'deleted'),
		(SELECT count(*) FROM entries e WHERE e.run_id = r.id AND result = 'pending'),
		(SELECT count(*) FROM entries e WHERE e.run_id = r.id AND result = 'failed'),
		(SELECT COALESCE(sum(size), 0) FROM entries e WHERE e.run_id = r.id AND kind = 'manifest' AND result = 'deleted')
		FROM runs r ORDER BY r.started DESC, r.id DESC`)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var r Run
		var started, finished, regs string
		var freed, failedItems, failedRepos sql.NullInt64
		if err := rows.Scan(&r.ID, &started, &finished, &r.Command, &r.ReclaimableBytes, &freed, &failedItems, &failedRepos,
			&regs, &r.Repositories, &r.Manifests, &r.Tags, &r.Pending, &r.Failed, &r.ManifestBytes); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		switch {
		case freed.Valid:
			r.FreedBytes = &freed.Int64
		case r.Manifests == 0:
			r.FreedBytes = new(int64) // deleted nothing: freed nothing
		}
		if failedItems.Valid {
			r.Failed = int(failedItems.Int64)
		}
		r.FailedRepositories = int(failedRepos.Int64)
		var lock *os.File
		r.State, lock = j.probe(r.ID, finished != "")
		if lock != nil {
			lock.Close()
		}
		r.Started = parseTime(started)
		r.Finished = parseTime(finished)
		r.Registries = []string{}
		if regs != "" {
			r.Registries = strings.Split(regs, ",")
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Run returns the summary of run id, or ErrNoRun.
func (j *Journal) Run(ctx context.Context, id string) (Run, error) {
	runs, err := j.Runs(ctx)
	if err != nil {
		return Run{}, err
	}
	for _, r := range runs {
		if r.ID == id {
			return r, nil
		}
	}
	return Run{}, fmt.Errorf("%w: %s", ErrNoRun, id)
}

// Filter narrows Entries.
type Filter struct {
	Repository string // host[:port]/path; "" for all
	Digest     string // "" for all
	// WithManifests loads each entry's raw manifest.
	WithManifests bool
}

// Entries lists the entries of run id in the order they were written, or
// ErrNoRun.
func (j *Journal) Entries(ctx context.Context, id string, f Filter) ([]Entry, error) {
	var n int
	if err := j.db.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE id = ?`, id).Scan(&n); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoRun, id)
	}
	body := `NULL`
	if f.WithManifests {
		body = `(SELECT m.body FROM manifests m WHERE m.digest = e.digest)`
	}
	q := `SELECT e.id, e.run_id, e.time, e.registry, e.repository, e.kind, e.tag, e.digest, e.media_type, e.size, e.tags,
		e.item_kind, e.parent, e.subject, e.reason, e.result, e.result_detail, e.result_time, e.restored, ` + body + `
		FROM entries e WHERE e.run_id = ?`
	args := []any{id}
	if f.Repository != "" {
		q += ` AND e.repository = ?`
		args = append(args, f.Repository)
	}
	if f.Digest != "" {
		q += ` AND e.digest = ?`
		args = append(args, f.Digest)
	}
	q += ` ORDER BY e.id`
	rows, err := j.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var t, tags, rt, restored string
		if err := rows.Scan(&e.ID, &e.RunID, &t, &e.Registry, &e.Repository, &e.Kind, &e.Tag, &e.Digest, &e.MediaType,
			&e.Size, &tags, &e.ItemKind, &e.Parent, &e.Subject, &e.Reason, &e.Result, &e.ResultDetail, &rt, &restored,
			&e.Manifest); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		e.Time, e.ResultTime, e.Restored = parseTime(t), parseTime(rt), parseTime(restored)
		if err := json.Unmarshal([]byte(tags), &e.Tags); err != nil {
			return nil, fmt.Errorf("journal: entry %d: tags: %w", e.ID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Manifest returns the raw manifest of digest and its media type, when
// the journal holds it.
func (j *Journal) Manifest(ctx context.Context, digest string) ([]byte, string, bool, error) {
	var body []byte
	var mt string
	err := j.db.QueryRowContext(ctx, `SELECT body, media_type FROM manifests WHERE digest = ?`, digest).Scan(&body, &mt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, fmt.Errorf("journal: %w", err)
	}
	return body, mt, true, nil
}

// Deleted returns the digests a run recorded as deleted in repository,
// each with the id of the newest run that deleted it.
func (j *Journal) Deleted(ctx context.Context, repository string) (map[string]string, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT digest, max(run_id) FROM entries
		WHERE repository = ? AND kind = 'manifest' AND result = 'deleted' GROUP BY digest`, repository)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var d, run string
		if err := rows.Scan(&d, &run); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		out[d] = run
	}
	return out, rows.Err()
}

// Prune removes the runs started before cutoff that are over, their
// entries, and the manifests no remaining entry needs (PruneRuns). It
// returns the runs and entries removed.
func (j *Journal) Prune(ctx context.Context, cutoff time.Time) (runs, entries int64, err error) {
	p, err := j.PruneRuns(ctx, cutoff)
	return p.Runs, p.Entries, err
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
