package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/cache"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// An apply interrupted after its tag phase leaves the images it untagged,
// and an index it untagged (or deleted) with its children, in the
// registry with no tag: a new plan by the rules cannot see them. With the
// journal, the next apply by the rules finds them and deletes them, and
// only them: a manifest pushed without a tag by someone else stays, one
// tagged again since is kept by the rules, one a kept index now lists is
// kept with it, and every kept image still pulls. The interrupt comes at
// the first digest DELETE: a Ctrl-C while it is in flight (it completes),
// or a Ctrl-C and the DELETE refused (nothing of the digests goes); or
// the process is killed (SIGKILL) at the second digest DELETE, which is
// not forwarded, leaving the entries written ahead pending.
func TestUnfinishedRunFinishedByRules(t *testing.T) { onBackends(t, testUnfinishedRunFinishedByRules) }

func testUnfinishedRunFinishedByRules(t *testing.T, newReg newRegistry) {
	if os.Getenv(unfinishedChildEnv) != "" {
		t.Skip("in the child")
	}
	for _, how := range []string{"ctrl-c", "refused", "killed"} {
		for _, indexOnly := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/index-only=%v", how, indexOnly), func(t *testing.T) {
				unfinishedCase(t, newReg, how, indexOnly)
			})
		}
	}
}

// unfinishedChildEnv names the repository (and, after a space, the
// journal) of TestUnfinishedKilledApply.
const unfinishedChildEnv = "REGPRUNE_UNFINISHED_CHILD"

var unfinishedPolicy = keepTag("latest", "hotfix", "bundle")

// TestUnfinishedKilledApply is the child of the "killed" cases of
// TestUnfinishedRunFinishedByRules: it applies the rules to the
// repository with the journal, one request at a time, until killed.
func TestUnfinishedKilledApply(t *testing.T) {
	repo, path, ok := strings.Cut(os.Getenv(unfinishedChildEnv), " ")
	if !ok {
		t.Skip("the child of TestUnfinishedRunFinishedByRules")
	}
	ctx := context.Background()
	j, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := engine.Options{Client: registry.New(registry.Options{Concurrency: 1}), Now: t0.Add(30 * 24 * time.Hour), Journal: j}
	p := engine.Plan(ctx, []engine.Job{{Repository: repo, Policy: unfinishedPolicy}}, plan.ModeApply, o)
	engine.Apply(ctx, p, o)
	t.Fatal("not killed") // the parent kills it at its second digest DELETE
}

func unfinishedCase(t *testing.T, newReg newRegistry, how string, indexOnly bool) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	const repo = "ci/unfinished"
	push := func(created time.Time, tags ...string) (v1.Image, string) {
		img, h, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: created}, tags...)
		if err != nil {
			t.Fatal(err)
		}
		return img, h.String()
	}
	imgs := map[string]v1.Image{}
	if !indexOnly {
		for i, tags := range [][]string{{"o1", "o1-b"}, {"o2"}, {"o3"}, {"o4"}} {
			img, d := push(t0.Add(time.Duration(i)*time.Minute), tags...)
			imgs[d] = img
		}
	}
	_, idx, err := reg.PushIndex(ctx, repo, types.OCIImageIndex, []registrytest.Child{
		{Spec: &registrytest.ImageSpec{Created: t0}}, {Spec: &registrytest.ImageSpec{Created: t0}},
	}, nil, "multi-old")
	if err != nil {
		t.Fatal(err)
	}
	push(t0.Add(time.Hour), "latest")
	_, theirs := push(t0) // someone else's, pushed without a tag
	kids := gChildren(t, reg, repo, idx.String())
	path := filepath.Join(t.TempDir(), "journal.db")
	policy := unfinishedPolicy

	// The interrupted apply.
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	var child atomic.Pointer[exec.Cmd]
	var digestDeletes atomic.Int64
	var rerun atomic.Bool
	var mu sync.Mutex
	var order []string // the DELETEs of the re-run
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodDelete && rerun.Load() {
			_, ref, _ := strings.Cut(r.URL.Path, "/manifests/")
			mu.Lock()
			order = append(order, ref)
			mu.Unlock()
			return false
		}
		if r.Method != http.MethodDelete || !strings.Contains(r.URL.Path, "/manifests/sha256:") {
			return false
		}
		n := digestDeletes.Add(1)
		switch how {
		case "ctrl-c":
			cancel() // while this DELETE is in flight: it completes
		case "refused":
			cancel()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			fmt.Fprint(w, `{"errors":[{"code":"UNSUPPORTED","message":"refused by the test"}]}`)
			return true
		case "killed":
			if n >= 2 {
				if c := child.Load(); c != nil {
					_ = c.Process.Kill()
				}
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
		}
		return false
	}})
	target := []engine.Job{{Repository: proxy.Host + "/" + repo, Policy: policy}}
	first := engine.Plan(ctx, target, plan.ModePlan, engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour)})
	if how == "killed" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUnfinishedKilledApply$", "-test.count=1")
		cmd.Env = append(os.Environ(), unfinishedChildEnv+"="+proxy.Host+"/"+repo+" "+path)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		child.Store(cmd)
		if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("child: %v\n%s", err, out.String())
		}
	}
	j, err := journal.Open(ctx, path, journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	o := engine.Options{Client: registry.New(registry.Options{Concurrency: 1}), Now: t0.Add(30 * 24 * time.Hour), Journal: j}
	if how != "killed" {
		pl := engine.Plan(ctx, target, plan.ModeApply, o)
		engine.Apply(ictx, pl, o)
	}
	runs, err := j.Runs(ctx)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %+v (%v), want the interrupted one", runs, err)
	}
	runID := runs[0].ID
	t.Logf("run %s: %d digest DELETEs, %d entries pending", runID, digestDeletes.Load(), runs[0].Pending)
	var planned []string
	for _, it := range first.Repositories[0].Items {
		if it.Action == plan.ActionDelete {
			planned = append(planned, it.Digest)
		}
	}
	if want := len(imgs) + 3; len(planned) != want {
		t.Fatalf("first plan deletes %d manifests, want %d", len(planned), want)
	}

	// What it left: untagged and still there.
	// What a plan without the journal sees: what the tags reach.
	reached := map[string]bool{}
	for _, it := range engine.Plan(ctx, []engine.Job{{Repository: reg.Ref(repo), Policy: policy}}, plan.ModePlan, opts(reg)).Repositories[0].Items {
		reached[it.Digest] = true
	}
	var left, leftImages []string
	for _, d := range planned {
		if gExists(t, reg, repo, d) && !reached[d] {
			left = append(left, d)
			if imgs[d] != nil {
				leftImages = append(leftImages, d)
			}
		}
	}
	t.Logf("the interrupted run left %d untagged manifests (%d images): %v", len(left), len(leftImages), left)
	// distribution 2.x deletes a tag only with its digest: what is left
	// there is the children of an index deleted first.
	dist2 := strings.Contains(t.Name(), "/dist2/")
	if !dist2 && len(left) == 0 || dist2 && indexOnly && how != "refused" && len(left) != len(kids) {
		t.Fatalf("the interrupted run left %d untagged manifests; the test means to leave some", len(left))
	}
	slices.Sort(leftImages)
	// Since then: one of them tagged again, another listed by a new
	// index that the rules keep.
	var retagged, bundled string
	if len(leftImages) >= 2 {
		retagged, bundled = leftImages[0], leftImages[1]
		if err := reg.Tag(ctx, repo, gHash(t, retagged), "hotfix"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := reg.PushIndex(ctx, repo, types.OCIImageIndex, []registrytest.Child{{Image: imgs[bundled]}}, nil, "bundle"); err != nil {
			t.Fatal(err)
		}
	}

	// apply by the rules again, with the journal.
	rerun.Store(true)
	o.Client = registry.New(registry.Options{})
	again := engine.Plan(ctx, target, plan.ModeApply, o)
	for _, d := range left {
		it := gItem(t, again, d)
		switch d {
		case retagged, bundled:
			if it.Action != plan.ActionKeep {
				t.Errorf("%s, tagged again or listed by a kept index: %s (%q)", d, it.Action, it.Reasons)
			}
		default:
			if it.Action != plan.ActionDelete || len(it.Reasons) != 1 || it.Reasons[0].Code != plan.ReasonUnfinished || it.Reasons[0].Run != runID {
				t.Errorf("%s %s: %s %q, want delete, unfinished by run %s", d, it.Kind, it.Action, it.Reasons, runID)
			}
			if !strings.Contains(it.Reasons[0].String(), "unfinished by run "+runID) {
				t.Errorf("reason %q names no run", it.Reasons[0])
			}
		}
	}
	engine.Apply(ctx, again, o)
	if r := again.Repositories[0]; r.Err != nil {
		t.Fatalf("re-run: %s", r.Err)
	}
	for _, d := range left {
		if d == retagged || d == bundled {
			continue
		}
		if it := gItem(t, again, d); it.Result != plan.ResultDeleted {
			t.Errorf("%s: %s (%s)", d, it.Result, it.ResultReason)
		}
	}
	// Every manifest of the first plan is gone, but those kept since.
	for _, d := range planned {
		if gExists(t, reg, repo, d) != (d == retagged || d == bundled) {
			t.Errorf("%s: exists %v after the re-run", d, !(d == retagged || d == bundled))
		}
	}
	// The index before its children.
	pos := func(d string) int { return slices.Index(order, d) }
	for _, k := range kids {
		if pos(idx.String()) >= 0 && pos(k) >= 0 && pos(k) < pos(idx.String()) {
			t.Errorf("child %s deleted before its index: %v", k, order)
		}
	}
	if !gExists(t, reg, repo, theirs) {
		t.Error("someone else's untagged manifest was deleted")
	}
	for _, ref := range []string{"latest", "hotfix", "bundle"} {
		if ref != "latest" && retagged == "" {
			continue
		}
		if err := reg.Pullable(ctx, repo+":"+ref); err != nil {
			t.Errorf("kept %s: %v", ref, err)
		}
	}
	// A third run has nothing left to do.
	third := engine.Plan(ctx, target, plan.ModeApply, o)
	if s := third.Repositories[0].Summary; s.DeleteManifests != 0 {
		t.Errorf("third plan deletes %d manifests", s.DeleteManifests)
	}
}

// The journal's intent alone is not enough: an image an earlier run set
// out to delete, whose tag someone else removed (the run never sent that
// DELETE), stays; the one whose tag the run removed goes. Without the
// journal both stay.
func TestUnfinishedNeedsTheRunsOwnUntag(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/theirs"
	ds, err := reg.SeedCI(ctx, repo, 3, t0, time.Hour) // 1001, 1002, 1003 = latest
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := ds[0].String(), ds[1].String()
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	run := journal.NewRunID(t0)
	if err := j.BeginRun(ctx, run, "apply", t0); err != nil {
		t.Fatal(err)
	}
	if err := j.RecordIntents(ctx, run, reg.Ref(repo), []journal.Intent{{Digest: ours, Tags: []string{"1001"}}, {Digest: theirs, Tags: []string{"1002"}}}); err != nil {
		t.Fatal(err)
	}
	id, err := j.Record(ctx, journal.Entry{RunID: run, Repository: reg.Ref(repo), Kind: journal.KindTag, Tag: "1001", Digest: ours})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := registry.New(registry.Options{}).Open(ctx, reg.Ref(repo), registry.PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"1001", "1002"} { // ours by the run, theirs by someone else
		if err := rp.Delete(ctx, tag); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Finish(ctx, id, journal.ResultDeleted, ""); err != nil {
		t.Fatal(err)
	}
	target := []engine.Job{{Repository: reg.Ref(repo), Policy: keepTag("latest")}}
	o := opts(reg)
	if pl := engine.Plan(ctx, target, plan.ModePlan, o); len(pl.Repositories[0].Items) != 1 {
		t.Fatalf("without the journal the plan sees %d manifests, want the tagged one", len(pl.Repositories[0].Items))
	}
	o.Journal = j
	pl := engine.Plan(ctx, target, plan.ModeApply, o)
	gWant(t, pl, plan.ActionDelete, "", ours)
	for _, it := range pl.Repositories[0].Items {
		if it.Digest == theirs && it.Action != plan.ActionKeep {
			t.Errorf("theirs: %s (%q)", it.Action, it.Reasons)
		}
	}
	engine.Apply(ctx, pl, o)
	if gExists(t, reg, repo, ours) || !gExists(t, reg, repo, theirs) {
		t.Fatal("want ours gone and theirs kept")
	}
	if err := reg.Pullable(ctx, repo+":latest"); err != nil {
		t.Fatal(err)
	}
}

// The journal's leftovers are read from the registry, not the cache: one
// that someone deleted since is not planned, though the cache still holds
// its manifest.
func TestUnfinishedGoneSinceNotPlanned(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/gone"
	ds, err := reg.SeedCI(ctx, repo, 3, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ours := ds[0].String()
	c, err := cache.Open(t.TempDir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := []engine.Job{{Repository: reg.Ref(repo), Policy: keepTag("latest")}}
	o := opts(reg)
	o.Cache = c
	engine.Plan(ctx, target, plan.ModePlan, o) // the cache now holds every manifest
	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	run := journal.NewRunID(t0)
	if err := j.BeginRun(ctx, run, "apply", t0); err != nil {
		t.Fatal(err)
	}
	if err := j.RecordIntents(ctx, run, reg.Ref(repo), []journal.Intent{{Digest: ours, Tags: []string{"1001"}}}); err != nil {
		t.Fatal(err)
	}
	id, err := j.Record(ctx, journal.Entry{RunID: run, Repository: reg.Ref(repo), Kind: journal.KindTag, Tag: "1001", Digest: ours})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := registry.New(registry.Options{}).Open(ctx, reg.Ref(repo), registry.PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Delete(ctx, "1001"); err != nil { // the run
		t.Fatal(err)
	}
	if err := j.Finish(ctx, id, journal.ResultDeleted, ""); err != nil {
		t.Fatal(err)
	}
	if err := rp.Delete(ctx, ours); err != nil { // someone else, since
		t.Fatal(err)
	}
	o.Journal = j
	pl := engine.Plan(ctx, target, plan.ModeApply, o)
	for _, it := range pl.Repositories[0].Items {
		if it.Digest == ours {
			t.Fatalf("%s, gone from the registry, is in the plan: %s (%q)", ours, it.Action, it.Reasons)
		}
	}
}

// Ctrl-C at every DELETE of an apply with the journal (as
// TestInterruptAtEveryDeleteLeavesNoOrphan, which re-applies the saved
// plan to finish): a re-run by the rules with the journal alone finishes
// everything, the images whose tags went before the interrupt included,
// and the kept image still pulls.
func TestInterruptAtEveryDeleteFinishedByRules(t *testing.T) {
	t.Parallel()
	const repo = "ci/app"
	tmpl := shmDir(t)
	seed := func() interruptSeed {
		reg := registrytest.New(t, registrytest.Options{Dir: tmpl})
		defer reg.Close()
		return seedInterrupt(t, reg, repo)
	}()
	fresh := func(t *testing.T) *registrytest.Registry {
		dir := shmDir(t)
		if err := os.CopyFS(dir, os.DirFS(tmpl)); err != nil {
			t.Fatal(err)
		}
		return registrytest.New(t, registrytest.Options{Dir: dir})
	}
	// One uninterrupted run counts the DELETEs.
	total := func() int {
		reg := fresh(t)
		var n atomic.Int64
		proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{Intercept: func(_ http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodDelete {
				n.Add(1)
			}
			return false
		}})
		o := engine.Options{Client: registry.New(registry.Options{Concurrency: 1}), Now: t0.Add(30 * 24 * time.Hour)}
		pl := engine.Plan(context.Background(), []engine.Job{{Repository: proxy.Host + "/" + repo, Policy: keepTag("latest")}}, plan.ModeApply, o)
		engine.Apply(context.Background(), pl, o)
		return int(n.Load())
	}()
	for at := 1; at < total; at++ {
		t.Run(fmt.Sprint("at", at), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			reg := fresh(t)
			ictx, cancel := context.WithCancel(ctx)
			defer cancel()
			var n atomic.Int64
			proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{Intercept: func(_ http.ResponseWriter, r *http.Request) bool {
				if r.Method == http.MethodDelete && n.Add(1) == int64(at) {
					cancel()
				}
				return false
			}})
			j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			o := engine.Options{Client: registry.New(registry.Options{Concurrency: 1}), Now: t0.Add(30 * 24 * time.Hour), Journal: j}
			target := []engine.Job{{Repository: proxy.Host + "/" + repo, Policy: keepTag("latest")}}
			first := engine.Plan(ctx, target, plan.ModeApply, o)
			engine.Apply(ictx, first, o)

			again := engine.Plan(ctx, target, plan.ModeApply, o)
			engine.Apply(ctx, again, o)
			if r := again.Repositories[0]; r.Err != nil {
				t.Fatalf("re-run: %s", r.Err)
			}
			for _, d := range seed.all {
				if ok, err := reg.Exists(ctx, repo, d); err != nil || ok {
					t.Errorf("%s survives the re-run by the rules (err %v)", d, err)
				}
			}
			if got := tags(t, reg, repo); !slices.Equal(got, []string{"latest"}) {
				t.Errorf("tags %v, want [latest]", got)
			}
			if err := reg.Pullable(ctx, repo+":latest"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
