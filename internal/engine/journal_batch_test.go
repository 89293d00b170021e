package engine_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
	"github.com/regprune/regprune/internal/restore"
)

// aheadWatcher is a reverse proxy in front of the registry that, at each
// DELETE, reads the journal file through its own read-only connection (so
// only what is committed counts) and checks that the DELETE's entry is
// there, pending, with the manifest body for a digest. It counts the
// entries announced ahead: pending, for refs whose DELETE has not arrived
// yet. After k DELETEs the registry accepted it calls hook once.
type aheadWatcher struct {
	t    *testing.T
	rp   *httputil.ReverseProxy
	ro   *journal.Journal
	k    int
	hook func()

	mu        sync.Mutex
	sent      map[string]bool // every DELETE that arrived
	accepted  map[string]bool // the registry answered 2xx
	unwritten []string        // DELETEs that arrived before their entry was on disk
	ahead     int             // most entries announced ahead at one DELETE
}

func newAheadWatcher(t *testing.T, reg *registrytest.Registry, journalPath string, k int, hook func()) (*aheadWatcher, string) {
	target, err := url.Parse(reg.URL)
	if err != nil {
		t.Fatal(err)
	}
	ro, err := journal.Open(context.Background(), journalPath, journal.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	w := &aheadWatcher{t: t, rp: httputil.NewSingleHostReverseProxy(target), ro: ro, k: k, hook: hook,
		sent: map[string]bool{}, accepted: map[string]bool{}}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return w, strings.TrimPrefix(srv.URL, "http://")
}

func entryRef(e journal.Entry) string {
	if e.Kind == journal.KindTag {
		return e.Tag
	}
	return e.Digest
}

func (w *aheadWatcher) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		w.rp.ServeHTTP(rw, r)
		return
	}
	_, ref, _ := strings.Cut(r.URL.Path, "/manifests/")
	w.mu.Lock()
	w.sent[ref] = true
	written, ahead := false, 0
	runs, err := w.ro.Runs(r.Context())
	if err != nil {
		w.t.Error(err)
	}
	for _, run := range runs {
		es, err := w.ro.Entries(r.Context(), run.ID, journal.Filter{WithManifests: true})
		if err != nil {
			w.t.Error(err)
		}
		for _, e := range es {
			if e.Result != journal.ResultPending {
				continue
			}
			switch er := entryRef(e); {
			case er == ref && (e.Kind == journal.KindTag || registry.Sha256(e.Manifest) == ref):
				written = true
			case !w.sent[er]:
				ahead++
			}
		}
	}
	if !written {
		w.unwritten = append(w.unwritten, ref)
	}
	w.ahead = max(w.ahead, ahead)
	w.mu.Unlock()

	rec := &statusRecorder{ResponseWriter: rw, status: http.StatusOK}
	w.rp.ServeHTTP(rec, r)
	if rec.status/100 == 2 {
		w.mu.Lock()
		w.accepted[ref] = true
		if len(w.accepted) == w.k && w.hook != nil {
			w.hook()
		}
		w.mu.Unlock()
	}
}

// batchApply seeds n CI images, plans to keep "latest" only through the
// watcher, and applies with the journal at path, at concurrency 4. before,
// if set, runs on the journal's path before the apply.
func batchApply(t *testing.T, n, k int, before func(path string), hook func(cancel context.CancelFunc)) (*plan.Plan, *aheadWatcher, *journal.Journal, *registrytest.Registry, bool) {
	t.Helper()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.SeedCI(ctx, "ci/batch", n, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "journal.db")
	j, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var w *aheadWatcher
	var host string
	w, host = newAheadWatcher(t, reg, path, k, func() {
		if hook != nil {
			hook(cancel)
		}
	})
	o := engine.Options{Client: registry.New(registry.Options{Concurrency: 4}), Now: t0.Add(30 * 24 * time.Hour), Journal: j}
	pl := engine.Plan(ctx, []engine.Job{{Repository: host + "/ci/batch", Policy: keepTag("latest")}}, plan.ModeApply, o)
	if pl.Repositories[0].Err != nil {
		t.Fatal(pl.Repositories[0].Err)
	}
	if before != nil {
		before(path)
	}
	engine.Apply(runCtx, pl, o)
	return pl, w, j, reg, runCtx.Err() != nil
}

// checkJournalMatchesRegistry: nothing was sent before its entry was on
// disk, nothing stays pending, every DELETE the registry accepted is
// recorded deleted, and every entry not sent is not_sent and had no
// DELETE. It returns the entries.
func checkJournalMatchesRegistry(t *testing.T, pl *plan.Plan, w *aheadWatcher, j *journal.Journal) []journal.Entry {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.unwritten) > 0 {
		t.Errorf("DELETEs sent before their journal entry was on disk: %v", w.unwritten)
	}
	es, err := j.Entries(context.Background(), pl.RunID, journal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]string{}
	for _, e := range es {
		ref := entryRef(e)
		if _, twice := recorded[ref]; twice {
			t.Errorf("two entries for %s", ref)
		}
		recorded[ref] = e.Result
		switch e.Result {
		case journal.ResultPending:
			t.Errorf("%s still pending after the run", ref)
		case journal.ResultNotSent:
			if w.sent[ref] {
				t.Errorf("%s is not_sent in the journal; its DELETE was sent", ref)
			}
		case journal.ResultDeleted:
			if !w.accepted[ref] {
				t.Errorf("the journal says %s was deleted; the registry never accepted it", ref)
			}
		}
	}
	for ref := range w.accepted {
		if recorded[ref] != journal.ResultDeleted {
			t.Errorf("the registry deleted %s; the journal says %q", ref, recorded[ref])
		}
	}
	return es
}

// The entries of a batch are on disk before its first DELETE, read from
// another connection at each DELETE; several are announced ahead of their
// DELETE (written per DELETE, at most the 4 in flight would be), and the
// run ends with every entry deleted.
func TestJournalBatchWrittenAhead(t *testing.T) {
	t.Parallel()
	const n = 40
	pl, w, j, _, _ := batchApply(t, n, 0, nil, nil)
	if pl.Summary.Deleted != n-1 {
		t.Fatalf("%d deleted, want %d", pl.Summary.Deleted, n-1)
	}
	es := checkJournalMatchesRegistry(t, pl, w, j)
	if len(es) != 2*(n-1) || len(w.sent) != 2*(n-1) {
		t.Errorf("%d entries and %d DELETEs, want %d of each", len(es), len(w.sent), 2*(n-1))
	}
	for _, e := range es {
		if e.Result != journal.ResultDeleted {
			t.Errorf("%s: %s", entryRef(e), e.Result)
		}
	}
	if w.ahead < 8 {
		t.Errorf("at most %d entries written ahead of their DELETE: the batch was not announced", w.ahead)
	}
	t.Logf("at most %d entries written ahead of their DELETE", w.ahead)
}

// An apply interrupted in the middle of its tags batch: the announced
// tags never sent end not_sent, not pending, and restore of the run
// pushes back only what the registry accepted a DELETE for.
func TestJournalBatchInterrupted(t *testing.T) {
	t.Parallel()
	const n, k = 40, 10
	pl, w, j, reg, cancelled := batchApply(t, n, k, nil, func(cancel context.CancelFunc) { cancel() })
	if !cancelled {
		t.Fatal("the run was not cancelled")
	}
	es := checkJournalMatchesRegistry(t, pl, w, j)
	notSent := 0
	for _, e := range es {
		if e.Result == journal.ResultNotSent {
			notSent++
		}
	}
	if notSent == 0 {
		t.Fatalf("no entry not_sent: the interrupt did not cut the batch (%d DELETEs sent)", len(w.sent))
	}
	ctx := context.Background()
	rp, err := restore.Build(ctx, pl.RunID, restore.Filter{}, restore.Options{Client: registry.New(registry.Options{}), Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range rp.Repositories {
		for _, m := range r.Manifests {
			if !w.accepted[m.Digest] {
				t.Errorf("restore lists manifest %s (%s); its DELETE was never accepted", m.Digest, m.Action)
			}
		}
		for _, tg := range r.Tags {
			if !w.accepted[tg.Tag] && !w.accepted[tg.Digest] {
				t.Errorf("restore lists tag %s (%s); neither it nor its digest was deleted", tg.Tag, tg.Action)
			}
			if tg.Action == restore.ActionLeave {
				t.Errorf("restore would leave tag %s: a tag of the run names another digest", tg.Tag)
			}
		}
	}
	if got := tags(t, reg, "ci/batch"); len(got) < n-len(w.accepted) {
		t.Errorf("%d tags left after %d DELETEs of %d tags", len(got), len(w.accepted), n)
	}
	t.Logf("%d DELETEs sent, %d entries, %d not sent", len(w.sent), len(es), notSent)
}

// The journal fails in the middle of a batch: another connection adds a
// trigger that aborts the entry after the 20th, so the chunk that holds it
// fails as a whole (its first entries would have passed). The chunks on
// disk before go out (the first digest, sent alone, is journaled alone
// before the 20th entry); no DELETE goes out without its entry; nothing of
// the failed chunks is deleted, and what was not deleted is failed.
func TestJournalBatchWriteFails(t *testing.T) {
	t.Parallel()
	const n = 60
	pl, w, j, reg, _ := batchApply(t, n, 0, func(path string) {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`CREATE TRIGGER fail BEFORE INSERT ON entries WHEN (SELECT count(*) FROM entries) >= 20
			BEGIN SELECT RAISE(ABORT, 'injected'); END`); err != nil {
			t.Fatal(err)
		}
	}, nil)
	es := checkJournalMatchesRegistry(t, pl, w, j)
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.sent) != len(es) || len(es) == 0 || len(es) >= 20 {
		t.Errorf("%d DELETEs sent, %d entries written: want one DELETE per entry, and the chunk that reached 20 entries not written", len(w.sent), len(es))
	}
	for _, it := range pl.Repositories[0].Items {
		if it.Action != plan.ActionDelete {
			continue
		}
		// Deleted: its entry was written (checked above); else it stays.
		if gone := !gExists(t, reg, "ci/batch", it.Digest); gone != (it.Result == plan.ResultDeleted) {
			t.Errorf("%s: result %s, gone from the registry %v", it.Digest, it.Result, gone)
		}
	}
	if pl.Summary.FailedItems == 0 {
		t.Errorf("summary %+v: want the items the journal failed counted as failed", pl.Summary)
	}
	t.Logf("%d DELETEs sent, %d entries, summary %+v", len(w.sent), len(es), pl.Summary)
}
