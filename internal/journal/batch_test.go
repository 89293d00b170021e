package journal_test

import (
	"context"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/regprune/regprune/internal/journal"
)

// RecordAll: every entry of the batch is on disk, pending and with its
// manifest, when it returns (read through another connection), in the
// order given, ids growing; a batch with one entry the database refuses
// writes none of them.
func TestJournalRecordAll(t *testing.T) {
	ctx := context.Background()
	j, path, run, es := begun(t, 50)
	es = append(es, journal.Entry{RunID: run, Repository: es[0].Repository, Kind: journal.KindTag, Tag: "10001", Digest: es[1].Digest})
	ids, err := j.RecordAll(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	ro := openReadOnly(t, path)
	got, err := ro.Entries(ctx, run, journal.Filter{WithManifests: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(es) || len(ids) != len(es) {
		t.Fatalf("%d entries read, %d ids, want %d", len(got), len(ids), len(es))
	}
	for i, e := range got {
		if e.ID != ids[i] || (i > 0 && ids[i] <= ids[i-1]) || e.Result != journal.ResultPending || e.Digest != es[i].Digest ||
			e.Tag != es[i].Tag || e.Kind == journal.KindManifest && string(e.Manifest) != string(es[i].Manifest) {
			t.Fatalf("entry %d: %+v (id %d)", i, e, ids[i])
		}
	}

	// An entry of an unknown run breaks a foreign key: the whole batch
	// fails, its valid entries included.
	repo := es[0].Repository
	bad := []journal.Entry{entry(run, repo, 100), entry("no-such-run", repo, 101), entry(run, repo, 102)}
	if _, err := j.RecordAll(ctx, bad); err == nil {
		t.Fatal("a batch with an entry of no run was written")
	}
	if got, err = ro.Entries(ctx, run, journal.Filter{}); err != nil || len(got) != len(es) {
		t.Fatalf("%d entries after the failed batch (%v), want %d: part of it was written", len(got), err, len(es))
	}
	if _, _, ok, err := ro.Manifest(ctx, bad[0].Digest); ok || err != nil {
		t.Fatalf("the manifest of the failed batch's first entry is there (%v)", err)
	}
}

// FinishAsync returns at once; Flush commits what was queued before it
// (seen from another connection), from many goroutines at once; Close
// commits what is still queued; after Close a result is refused, and the
// next Flush says so.
func TestJournalFinishAsync(t *testing.T) {
	ctx := context.Background()
	j, path, run, es := begun(t, 200)
	ids, err := j.RecordAll(ctx, es)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i, id := range ids[:100] {
		wg.Go(func() {
			result := journal.ResultDeleted
			if i%10 == 0 {
				result = journal.ResultNotSent
			}
			j.FinishAsync(id, result, "")
		})
	}
	wg.Wait()
	if err := j.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ro := openReadOnly(t, path)
	count := func() map[string]int {
		c := map[string]int{}
		for _, e := range entriesOf(t, ro, run) {
			c[e.Result]++
		}
		return c
	}
	if c := count(); c[journal.ResultDeleted] != 90 || c[journal.ResultNotSent] != 10 || c[journal.ResultPending] != 100 {
		t.Fatalf("after Flush: %v", c)
	}
	r, err := ro.Run(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if r.Manifests != 90 || r.Pending != 100 || r.Failed != 0 {
		t.Errorf("run %+v: not_sent is neither deleted nor failed", r)
	}

	for _, id := range ids[100:] {
		j.FinishAsync(id, journal.ResultDeleted, "")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if c := count(); c[journal.ResultDeleted] != 190 || c[journal.ResultPending] != 0 {
		t.Fatalf("after Close: %v", c)
	}
	j.FinishAsync(ids[0], journal.ResultFailed, "")
	if err := j.Flush(ctx); err == nil {
		t.Fatal("Flush after Close: no error")
	}
}

// Results of FinishAsync wait to share a transaction, but never past the
// next synchronous write: once a Record made after them returns, they are
// on disk too (read through another connection). Results left alone are
// committed without a Flush as well, in time.
func TestJournalFinishAsyncCarried(t *testing.T) {
	ctx := context.Background()
	j, path, run, es := begun(t, 20)
	ids, err := j.RecordAll(ctx, es[:10])
	if err != nil {
		t.Fatal(err)
	}
	ro := openReadOnly(t, path)
	results := func() map[int64]string {
		m := map[int64]string{}
		for _, e := range entriesOf(t, ro, run) {
			m[e.ID] = e.Result
		}
		return m
	}
	for _, id := range ids[:5] {
		j.FinishAsync(id, journal.ResultDeleted, "")
	}
	if _, err := j.Record(ctx, es[10]); err != nil {
		t.Fatal(err)
	}
	r := results()
	for _, id := range ids[:5] {
		if r[id] != journal.ResultDeleted {
			t.Fatalf("entry %d: %q after the next Record returned, want deleted", id, r[id])
		}
	}

	// Alone, the rest are committed by the writer on its own; poll (no
	// time asserted).
	for _, id := range ids[5:] {
		j.FinishAsync(id, journal.ResultNotFound, "gone")
	}
	for {
		r := results()
		n := 0
		for _, id := range ids[5:] {
			if r[id] == journal.ResultNotFound {
				n++
			}
		}
		if n == len(ids[5:]) {
			break
		}
		runtime.Gosched()
	}
}

// openReadOnly opens the journal at path read-only, as another process
// reading it would, for as long as the test runs.
func openReadOnly(t *testing.T, path string) *journal.Journal {
	t.Helper()
	ro, err := journal.Open(context.Background(), path, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	return ro
}

// entriesOf reads the entries of run, without their manifests.
func entriesOf(t *testing.T, ro *journal.Journal, run string) []journal.Entry {
	t.Helper()
	got, err := ro.Entries(context.Background(), run, journal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// begun opens a journal in a temporary directory, begins an apply run in
// it, and returns n manifest entries of that run, not recorded yet.
func begun(t *testing.T, n int) (j *journal.Journal, path, run string, es []journal.Entry) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "journal.db")
	j = open(t, path)
	run = journal.NewRunID(t0)
	if err := j.BeginRun(context.Background(), run, "apply", t0); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		es = append(es, entry(run, "registry.example.com/group/app", i))
	}
	return j, path, run, es
}
