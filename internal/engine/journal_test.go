package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cache"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// deleteWatcher is a reverse proxy in front of the registry that, for
// each DELETE, checks that the journal already holds its entry (written
// ahead), forwards it, records what the registry accepted, and cancels
// the run after k accepted DELETEs.
type deleteWatcher struct {
	rp     *httputil.ReverseProxy
	j      *journal.Journal
	k      int
	cancel context.CancelFunc
	t      *testing.T

	mu        sync.Mutex
	accepted  map[string]bool // ref -> the registry answered 2xx
	unwritten []string        // DELETEs that arrived before their entry
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (w *deleteWatcher) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodDelete {
		w.rp.ServeHTTP(rw, r)
		return
	}
	_, ref, _ := strings.Cut(r.URL.Path, "/manifests/")
	if !w.journaled(r.Context(), ref) {
		w.mu.Lock()
		w.unwritten = append(w.unwritten, ref)
		w.mu.Unlock()
	}
	rec := &statusRecorder{ResponseWriter: rw, status: http.StatusOK}
	w.rp.ServeHTTP(rec, r)
	if rec.status/100 == 2 {
		w.mu.Lock()
		w.accepted[ref] = true
		if len(w.accepted) == w.k {
			w.cancel()
		}
		w.mu.Unlock()
	}
}

// journaled reports whether some run has a pending entry for ref.
func (w *deleteWatcher) journaled(ctx context.Context, ref string) bool {
	runs, err := w.j.Runs(ctx)
	if err != nil {
		w.t.Error(err)
		return false
	}
	for _, run := range runs {
		es, err := w.j.Entries(ctx, run.ID, journal.Filter{})
		if err != nil {
			w.t.Error(err)
			return false
		}
		for _, e := range es {
			if (e.Kind == journal.KindTag && e.Tag == ref || e.Kind == journal.KindManifest && e.Digest == ref) && e.Result == journal.ResultPending {
				return true
			}
		}
	}
	return false
}

// An apply cancelled after K DELETEs: every DELETE the registry accepted
// is in the journal, as deleted, and was there before it was sent.
func TestJournalCancelledApply(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/app"
	if _, err := reg.SeedCI(ctx, repo, 24, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	target, err := url.Parse(reg.URL)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	const k = 30 // 23 tag DELETEs, then 7 of the 23 digest DELETEs
	w := &deleteWatcher{rp: httputil.NewSingleHostReverseProxy(target), j: j, k: k, cancel: cancel, t: t, accepted: map[string]bool{}}
	srv := httptest.NewServer(w)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	o := engine.Options{Client: registry.New(registry.Options{Concurrency: 4}), Now: t0.Add(30 * 24 * time.Hour), Journal: j}
	pl := engine.Plan(ctx, []engine.Job{{Repository: host + "/" + repo, Policy: keepTag("latest")}}, plan.ModeApply, o)
	if pl.Repositories[0].Err != nil {
		t.Fatal(pl.Repositories[0].Err)
	}
	engine.Apply(runCtx, pl, o)
	if runCtx.Err() == nil {
		t.Fatal("the run was not cancelled")
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.unwritten) > 0 {
		t.Errorf("DELETEs sent before their journal entry: %v", w.unwritten)
	}
	es, err := j.Entries(ctx, pl.RunID, journal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]string{}
	for _, e := range es {
		ref := e.Digest
		if e.Kind == journal.KindTag {
			ref = e.Tag
		}
		recorded[ref] = e.Result
	}
	for ref := range w.accepted {
		if recorded[ref] != journal.ResultDeleted {
			t.Errorf("the registry deleted %s; the journal says %q", ref, recorded[ref])
		}
	}
	for ref, res := range recorded {
		if res == journal.ResultDeleted && !w.accepted[ref] {
			t.Errorf("the journal says %s was deleted; the registry never accepted it", ref)
		}
		if res == journal.ResultPending {
			t.Errorf("%s still pending after the run", ref)
		}
	}
	deleted, skipped := 0, 0
	for _, it := range pl.Repositories[0].Items {
		switch it.Result {
		case plan.ResultDeleted:
			deleted++
		case plan.ResultSkipped:
			skipped++
		}
	}
	if len(w.accepted) < k || skipped == 0 {
		t.Errorf("%d DELETEs accepted, %d items skipped: the run was not cut short", len(w.accepted), skipped)
	}
	t.Logf("%d DELETEs accepted, %d journal entries, %d items deleted, %d skipped", len(w.accepted), len(es), deleted, skipped)
	// runs shows what the run freed, as the report computed it, not the
	// plan's estimate (issue 19 point 18).
	runs, err := j.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := runs[0]; r.FreedBytes == nil || *r.FreedBytes != pl.FreedBytes() || *r.FreedBytes >= r.ReclaimableBytes ||
		r.Failed != pl.Summary.FailedItems || r.State != journal.RunEnded {
		t.Errorf("run %+v (freed %v), want freed %d of the estimate %d, failed %d", r, r.FreedBytes, pl.FreedBytes(), pl.Summary.ReclaimableBytes, pl.Summary.FailedItems)
	}
}

// An apply interrupted before its first DELETE shows 0 freed in runs.
func TestJournalRunInterruptedBeforeDeleting(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/early"
	if _, err := reg.SeedCI(ctx, repo, 4, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour), Journal: j}
	pl := engine.Plan(ctx, []engine.Job{{Repository: reg.Ref(repo), Policy: keepTag("latest")}}, plan.ModeApply, o)
	if pl.Summary.ReclaimableBytes == 0 {
		t.Fatal("nothing to reclaim")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	engine.Apply(cancelled, pl, o)
	runs, err := j.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].FreedBytes == nil || *runs[0].FreedBytes != 0 || runs[0].Failed != 0 {
		t.Fatalf("runs %+v, want one run that freed 0", runs)
	}
}

// A journal that cannot be written stops apply before any DELETE.
func TestJournalFailClosed(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/closed"
	if _, err := reg.SeedCI(ctx, repo, 3, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	j.Close() // every write now fails
	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour), Journal: j}
	pl := engine.Plan(ctx, []engine.Job{{Repository: reg.Ref(repo), Policy: keepTag("latest")}}, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	if pl.Summary.Deleted != 0 || pl.Summary.Untagged != 0 || pl.Summary.Skipped == 0 {
		t.Fatalf("summary %+v: want nothing deleted", pl.Summary)
	}
	if got := tags(t, reg, repo); len(got) != 4 {
		t.Fatalf("tags %v after a failed journal", got)
	}
	if err := engine.Result(pl); !errors.Is(err, engine.ErrNothing) {
		t.Fatalf("result %v, want ErrNothing (exit 1)", err)
	}
}

// An earlier run deleted an image and was interrupted before its
// signature (the subject went first, as an older order allowed, or its
// signature DELETE failed): the signature stays as an orphan. A re-run
// with the journal deletes it, and only it: an orphan signature whose
// subject someone else deleted stays, and without a journal both stay.
func TestJournalFinishesInterruptedRun(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/finish"
	ds, err := reg.SeedCI(ctx, repo, 3, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := ds[0].String(), ds[1].String()
	oursSig := gSign(t, reg, repo, ours, "sig")
	oursRef := gRefer(t, reg, repo, ours) // an OCI 1.1 artifact, through the fallback tag
	oursIdx := gFallback(t, reg, repo, ours)
	if _, err := reg.GC(ctx); err != nil { // the fallback index ggcr replaced
		t.Fatal(err)
	}
	theirsSig := gSign(t, reg, repo, theirs, "sig")
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()

	// The interrupted run: journaled, it deleted the tag and digest of
	// ours. Someone else deleted theirs, unjournaled.
	rp, err := registry.New(registry.Options{}).Open(ctx, reg.Ref(repo), registry.PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	run := journal.NewRunID(t0)
	if err := j.BeginRun(ctx, run, "apply", t0); err != nil {
		t.Fatal(err)
	}
	body, _, err := rp.GetManifest(ctx, ours)
	if err != nil {
		t.Fatal(err)
	}
	id, err := j.Record(ctx, journal.Entry{RunID: run, Repository: reg.Ref(repo), Kind: journal.KindManifest, Digest: ours, Manifest: body, Tags: []string{"1001"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"1001", ours, "1002", theirs} {
		if err := rp.Delete(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Finish(ctx, id, journal.ResultDeleted, ""); err != nil {
		t.Fatal(err)
	}

	target := []engine.Job{{Repository: reg.Ref(repo), Policy: keepTag("latest")}}
	o := opts(reg)
	pl := engine.Plan(ctx, target, plan.ModePlan, o)
	gWant(t, pl, plan.ActionKeep, "", oursSig, oursRef, oursIdx, theirsSig) // no journal: all stay

	o.Journal = j
	pl = engine.Plan(ctx, target, plan.ModeApply, o)
	gWant(t, pl, plan.ActionDelete, plan.KindSignature, oursSig)
	gWant(t, pl, plan.ActionDelete, "", oursRef, oursIdx)
	gWant(t, pl, plan.ActionKeep, "", theirsSig)
	if it := gItem(t, pl, oursSig); it.Subject != ours || len(it.Reasons) != 1 || it.Reasons[0].Code != plan.ReasonLeftBehind || it.Reasons[0].Run != run {
		t.Errorf("item %+v: want subject %s and the run %s in its reason", it, ours, run)
	}
	if s := pl.Repositories[0].Summary; s.DeleteManifests != 3 || s.ReclaimableBytes == 0 {
		t.Errorf("summary %+v", s)
	}
	var frees int64 // the items' frees add up to reclaimable_bytes
	for _, it := range pl.Repositories[0].Items {
		if frees += it.Frees; it.Action == plan.ActionDelete && it.Frees < it.Size {
			t.Errorf("%s frees %d, less than its own %d bytes", it.Digest, it.Frees, it.Size)
		}
	}
	if r := pl.Repositories[0].Summary.ReclaimableBytes; frees != r {
		t.Errorf("items free %d bytes, the repository %d", frees, r)
	}
	engine.Apply(ctx, pl, o)
	if it := gItem(t, pl, oursSig); it.Result != plan.ResultDeleted {
		t.Fatalf("signature %s: %s (%s)", oursSig, it.Result, it.ResultReason)
	}
	for _, d := range []string{oursRef, oursIdx} {
		if it := gItem(t, pl, d); it.Result != plan.ResultDeleted {
			t.Fatalf("referrer %s: %s (%s)", d, it.Result, it.ResultReason)
		}
	}
	if gExists(t, reg, repo, oursSig) || gExists(t, reg, repo, oursRef) || gExists(t, reg, repo, oursIdx) || !gExists(t, reg, repo, theirsSig) {
		t.Fatal("want our orphan signature and referrers gone and theirs kept")
	}
	want := []string{"latest", "1003", registrytest.SignatureTag(gHash(t, theirs), "sig")}
	slices.Sort(want)
	if got := tags(t, reg, repo); !slices.Equal(got, want) {
		t.Errorf("tags %v, want %v", got, want)
	}
}

// The journal's manifests come from the inventory cache when it has them
// (no extra request), else from one GET by digest per deleted manifest:
// apply with the journal sends exactly that many more manifest GETs than
// the journal's own count says, and the count is 0 with the cache.
func TestJournalManifestReads(t *testing.T) {
	ctx := context.Background()
	for _, cached := range []bool{true, false} {
		t.Run(map[bool]string{true: "cache", false: "no-cache"}[cached], func(t *testing.T) {
			gets := map[bool]int{}
			var reads int64
			for _, journaled := range []bool{false, true} {
				reg := registrytest.New(t, registrytest.Options{})
				const repo = "ci/reads"
				if _, err := reg.SeedCI(ctx, repo, 6, t0, time.Hour); err != nil {
					t.Fatal(err)
				}
				proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
				o := opts(reg)
				var logs bytes.Buffer
				o.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
				if cached {
					c, err := cache.Open(t.TempDir(), cache.Options{})
					if err != nil {
						t.Fatal(err)
					}
					o.Cache = c
				}
				target := []engine.Job{{Repository: proxy.Host + "/" + repo, Policy: keepTag("latest")}}
				pl := engine.Plan(ctx, target, plan.ModeApply, o)
				proxy.Reset()
				if journaled {
					j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
					if err != nil {
						t.Fatal(err)
					}
					defer j.Close()
					o.Journal = j
				}
				engine.Apply(ctx, pl, o)
				if pl.Summary.Deleted != 5 {
					t.Fatalf("%d deleted, want 5", pl.Summary.Deleted)
				}
				gets[journaled] = proxy.Counts().ManifestGET
				dec := json.NewDecoder(&logs)
				for dec.More() {
					var rec struct {
						Msg   string `json:"msg"`
						Reads int64  `json:"manifests_read_for_journal"`
					}
					if err := dec.Decode(&rec); err != nil {
						t.Fatal(err)
					}
					if rec.Msg == "journal" {
						reads = rec.Reads
					}
				}
			}
			want := int64(0)
			if !cached {
				want = 5
			}
			if extra := int64(gets[true] - gets[false]); extra != reads || reads != want {
				t.Fatalf("apply sent %d manifest GETs with the journal, %d without; the journal counted %d reads, want %d",
					gets[true], gets[false], reads, want)
			}
			t.Logf("manifest GETs in apply: %d without the journal, %d with it", gets[false], gets[true])
		})
	}
}
