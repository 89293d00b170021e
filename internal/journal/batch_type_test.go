package journal_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/regprune/regprune/internal/journal"
)

// Batch: each entry Wait returns is on disk (read through another
// connection) before the caller may send its DELETE; the announced refs
// are written in few transactions; a ref not announced is written alone;
// an entry that cannot be built is not written and Wait says so; Close
// finishes not_sent what was announced and not waited for, and Result
// queues what was.
func TestJournalBatch(t *testing.T) {
	ctx := context.Background()
	j, path, run, es := begun(t, 100)
	byRef := map[string]journal.Entry{}
	var refs []string
	for _, e := range es {
		byRef[e.Digest] = e
		refs = append(refs, e.Digest)
	}
	bad := errors.New("no entry for this ref")
	var built atomic.Int64
	b := j.NewBatch(func(_ context.Context, ref string) (journal.Entry, error) {
		built.Add(1)
		if e, ok := byRef[ref]; ok {
			return e, nil
		}
		if ref == "10000" {
			return journal.Entry{RunID: run, Repository: es[0].Repository, Kind: journal.KindTag, Tag: ref, Digest: es[0].Digest}, nil
		}
		return journal.Entry{}, bad
	})
	b.Announce(ctx, append(refs[:90:90], "unbuildable"))
	ro := openReadOnly(t, path)
	for i, ref := range refs[:80] {
		id, err := b.Wait(ctx, ref)
		if err != nil {
			t.Fatalf("Wait(%s): %v", ref, err)
		}
		got := entriesOf(t, ro, run)
		found := false
		for _, e := range got {
			found = found || e.ID == id && e.Digest == ref && e.Result == journal.ResultPending
		}
		if !found {
			t.Fatalf("entry %d (id %d) is not on disk when Wait returns", i, id)
		}
		b.Result(id, journal.ResultDeleted, "")
	}
	if _, err := b.Wait(ctx, "unbuildable"); !errors.Is(err, bad) {
		t.Fatalf("Wait of a ref without an entry = %v, want its error", err)
	}
	if _, err := b.Wait(ctx, "10000"); err != nil { // not announced: alone
		t.Fatal(err)
	}
	b.Close(func(ref string) string { return "never sent: " + ref })
	if err := j.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range entriesOf(t, ro, run) {
		n[e.Result]++
		if e.Result == journal.ResultNotSent && e.ResultDetail != "never sent: "+e.Digest {
			t.Errorf("not_sent entry %s: detail %q", e.Digest, e.ResultDetail)
		}
	}
	if n[journal.ResultDeleted] != 80 || n[journal.ResultNotSent] != 10 || n[journal.ResultPending] != 1 || len(n) != 3 {
		t.Fatalf("results %v, want 80 deleted, 10 not_sent (announced, not waited for), 1 pending (the tag alone)", n)
	}
	if built.Load() != 92 {
		t.Errorf("%d entries built, want 92 (each once)", built.Load())
	}
}

// An announcement after an interrupt writes nothing; Wait then writes the
// entry alone, and Close finishes nothing not_sent for it.
func TestJournalBatchInterrupted(t *testing.T) {
	j, path, run, es := begun(t, 3)
	b := j.NewBatch(func(_ context.Context, ref string) (journal.Entry, error) {
		for _, e := range es {
			if e.Digest == ref {
				return e, nil
			}
		}
		return journal.Entry{}, errors.New("unknown")
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b.Announce(ctx, []string{es[0].Digest, es[1].Digest, es[2].Digest})
	if _, err := b.Wait(ctx, es[0].Digest); err != nil {
		t.Fatal(err)
	}
	b.Close(func(string) string { return "not sent" })
	if err := j.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := entriesOf(t, openReadOnly(t, path), run)
	if len(got) != 1 || got[0].Digest != es[0].Digest || got[0].Result != journal.ResultPending {
		t.Fatalf("entries %+v, want only the one waited for, pending", got)
	}
}
