package journal_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/journal"
)

// Unfinished: for each digest a run set out to delete, the newest such
// run, and what that run did of its tags, of itself and of what it hung
// from; a digest the run deleted is left out, and so is another
// repository's. Prune forgets the intents of the runs it removes.
func TestJournalUnfinished(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	j := open(t, path)
	const repo, other = "reg.example/ci/app", "reg.example/ci/other"
	d := func(n int) string { return fmt.Sprintf("sha256:%064x", n) }
	runA, runB := "20261101T000000Z-aaaaaa", "20261102T000000Z-bbbbbb"
	for i, run := range []string{runA, runB} {
		if err := j.BeginRun(ctx, run, "apply", t0.Add(time.Duration(i)*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(j.RecordIntents(ctx, runA, repo, []journal.Intent{
		{Digest: d(1), Tags: []string{"t1"}},
		{Digest: d(2), Tags: []string{"t2", "t2b"}},
		{Digest: d(3), Via: d(1)},
		{Digest: d(4), Tags: []string{"t4"}},
		{Digest: d(5), Via: d(9)},
		{Digest: d(6), Tags: []string{"t6"}},
	}))
	must(j.RecordIntents(ctx, runA, other, []journal.Intent{{Digest: d(7), Tags: []string{"t7"}}}))
	must(j.RecordIntents(ctx, runB, repo, []journal.Intent{{Digest: d(6), Tags: []string{"t6"}}, {Digest: d(8), Tags: []string{"t8"}}}))
	record := func(run, kind, ref, digest, result string) {
		t.Helper()
		e := journal.Entry{RunID: run, Repository: repo, Kind: kind, Digest: digest}
		if kind == journal.KindTag {
			e.Tag = ref
		}
		id, err := j.Record(ctx, e)
		must(err)
		if result != journal.ResultPending {
			must(j.Finish(ctx, id, result, ""))
		}
	}
	record(runA, journal.KindTag, "t1", d(1), journal.ResultDeleted)
	record(runA, journal.KindManifest, "", d(1), journal.ResultNotSent)
	record(runA, journal.KindTag, "t2", d(2), journal.ResultDeleted)
	record(runA, journal.KindTag, "t2b", d(2), journal.ResultPending) // killed in flight
	record(runA, journal.KindTag, "t4", d(4), journal.ResultDeleted)
	record(runA, journal.KindManifest, "", d(4), journal.ResultDeleted) // done
	record(runA, journal.KindManifest, "", d(9), journal.ResultDeleted) // d(5)'s parent
	record(runA, journal.KindTag, "t6", d(6), journal.ResultDeleted)    // but run B is newer
	record(runB, journal.KindTag, "t8", d(8), journal.ResultFailed)
	record(runB, journal.KindManifest, "", d(8), journal.ResultPending)

	us, err := j.Unfinished(ctx, repo)
	must(err)
	want := []journal.Unfinished{
		{Digest: d(1), Run: runA, Tags: []string{"t1"}, Untagged: []string{"t1"}},
		{Digest: d(2), Run: runA, Tags: []string{"t2", "t2b"}, Untagged: []string{"t2", "t2b"}},
		{Digest: d(3), Run: runA, Via: d(1)},
		{Digest: d(5), Run: runA, Via: d(9), ViaSent: true},
		{Digest: d(6), Run: runB, Tags: []string{"t6"}},
		{Digest: d(8), Run: runB, Tags: []string{"t8"}, Sent: true},
	}
	eq := func(a, b journal.Unfinished) bool {
		slices.Sort(a.Untagged)
		return a.Digest == b.Digest && a.Run == b.Run && slices.Equal(a.Tags, b.Tags) && a.Via == b.Via &&
			slices.Equal(a.Untagged, b.Untagged) && a.Sent == b.Sent && a.ViaSent == b.ViaSent
	}
	if !slices.EqualFunc(us, want, eq) {
		t.Fatalf("unfinished:\n got %+v\nwant %+v", us, want)
	}

	// Prune forgets run A's intents with the run, once the run is over
	// (a run still held is never pruned).
	must(j.FinishRun(ctx, runA, 0))
	if _, _, err := j.Prune(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	us, err = j.Unfinished(ctx, repo)
	must(err)
	if len(us) != 2 || us[0].Run != runB || us[1].Run != runB {
		t.Fatalf("after prune: %+v", us)
	}
	if us, err := j.Unfinished(ctx, other); err != nil || len(us) != 0 {
		t.Fatalf("the other repository after prune: %+v %v", us, err)
	}
}

// A journal without the intents table (written before them, and opened
// read-only, as plan does, so not migrated) has no unfinished work to
// read.
func TestJournalUnfinishedOldSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	j := open(t, path)
	j.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP TABLE intents`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ro, err := journal.Open(ctx, path, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if us, err := ro.Unfinished(ctx, "reg.example/ci/app"); err != nil || us != nil {
		t.Fatalf("no intents table: %v %v", us, err)
	}
}

// What docs/journal.md says the intents cost: about 90 bytes of journal per
// planned deletion of a CI image (a digest and one tag), measured on
// 10,000 of them in one repository (897,024 bytes).
func TestJournalIntentsSize(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "journal.db")
	j := open(t, path)
	if err := j.BeginRun(ctx, "r", "apply", t0); err != nil {
		t.Fatal(err)
	}
	const n = 10000
	in := make([]journal.Intent, n)
	for i := range in {
		in[i] = journal.Intent{Digest: fmt.Sprintf("sha256:%064x", i), Tags: []string{strconv.Itoa(10000 + i)}}
	}
	size := func() int64 {
		t.Helper()
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	if err := j.RecordIntents(ctx, "r", "registry.example.com/group/app", in); err != nil {
		t.Fatal(err)
	}
	grew := size() - before
	t.Logf("%d bytes for %d intents: %.1f bytes each", grew, n, float64(grew)/n)
	if grew > 100*n {
		t.Errorf("the intents of %d deletions take %d bytes, more than docs/journal.md's 100 each", n, grew)
	}
}
