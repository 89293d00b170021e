package engine_test

// Deletes that did not happen as answered (issue 19): a DELETE whose
// answer was lost, one answered 202 and not carried out, a digest delete
// that leaves its tags (go-containerregistry's registry), and a tag delete
// that takes its whole manifest when the probe's target is an index.

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
	"github.com/regprune/regprune/internal/restore"
)

// rbJournal opens a journal in a temporary directory.
func rbJournal(t *testing.T) *journal.Journal {
	t.Helper()
	j, err := journal.Open(context.Background(), filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// rbApply plans and applies keep-tag latest to repo through host, with
// the journal j, retrying fast.
func rbApply(t *testing.T, host, repo string, j *journal.Journal) *plan.Plan {
	t.Helper()
	ctx := context.Background()
	o := engine.Options{Client: registry.New(registry.Options{Retry: registry.RetryPolicy{Base: time.Millisecond}}), Now: t0.Add(30 * 24 * time.Hour), Journal: j}
	pl := engine.Plan(ctx, []engine.Job{{Repository: host + "/" + repo, Policy: keepTag("latest")}}, plan.ModeApply, o)
	if r := pl.Repositories[0]; r.Err != nil {
		t.Fatalf("plan: %v", r.Err)
	}
	engine.Apply(ctx, pl, o)
	return pl
}

// rbEntries maps each ref (digest, or tag) of the run's journal entries of
// digests to their result.
func rbEntries(t *testing.T, j *journal.Journal, run string) map[string]string {
	t.Helper()
	es, err := j.Entries(context.Background(), run, journal.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range es {
		ref := e.Digest
		if e.Kind == journal.KindTag {
			ref = e.Tag
		}
		out[ref] = e.Result
	}
	return out
}

// rbState is each digest's existence and the tags of repo.
func rbState(t *testing.T, reg *registrytest.Registry, repo string, ds []v1.Hash) (map[string]bool, []string) {
	t.Helper()
	out := map[string]bool{}
	for _, d := range ds {
		ok, err := reg.Exists(context.Background(), repo, d)
		if err != nil {
			t.Fatal(err)
		}
		out[d.String()] = ok
	}
	return out, tags(t, reg, repo)
}

// hangUp closes the connection of w without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// Point 4: the proxy forwards each digest DELETE to the registry, which
// deletes, then drops the connection; the retry gets 404. That is this
// run's delete: reported deleted, journaled deleted, and restore brings
// every image back, tags included. The same when every attempt is
// forwarded and dropped (the retries spent, the manifest found gone).
func TestDeleteAnswerLostIsRestored(t *testing.T) { onBackends(t, testDeleteAnswerLostIsRestored) }

func testDeleteAnswerLostIsRestored(t *testing.T, newReg newRegistry) {
	for _, every := range []bool{false, true} {
		name := map[bool]string{false: "first", true: "every"}[every]
		t.Run(name, func(t *testing.T) { testDeleteAnswerLost(t, newReg, every) })
	}
}

func testDeleteAnswerLost(t *testing.T, newReg newRegistry, every bool) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	const repo = "ci/app"
	ds, err := reg.SeedCI(ctx, repo, 4, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	before, beforeTags := rbState(t, reg, repo, ds)
	var mu sync.Mutex
	dropped := map[string]bool{}
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{
		Intercept: func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodDelete || !strings.Contains(r.URL.Path, "/manifests/sha256:") {
				return false
			}
			mu.Lock()
			first := !dropped[r.URL.Path]
			dropped[r.URL.Path] = true
			mu.Unlock()
			if !first && !every {
				return false // the retry reaches the registry: 404
			}
			req, err := http.NewRequestWithContext(r.Context(), http.MethodDelete, reg.URL+r.URL.Path, nil)
			if err != nil {
				panic(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil || (first && resp.StatusCode != http.StatusAccepted) {
				t.Errorf("forwarded DELETE %s: %v %v", r.URL.Path, resp, err)
			}
			if err == nil {
				resp.Body.Close()
			}
			hangUp(w)
			return true
		},
	})
	j := rbJournal(t)
	pl := rbApply(t, proxy.Host, repo, j)
	r := pl.Repositories[0]
	if r.Err != nil || r.Summary.Deleted != 3 || r.Summary.Failed+r.Summary.Skipped != 0 || engine.Result(pl) != nil {
		t.Fatalf("apply: %v, summary %+v, result %v", r.Err, r.Summary, engine.Result(pl))
	}
	mu.Lock()
	if len(dropped) != 3 {
		t.Errorf("%d digest DELETEs answered by a dropped connection, want 3", len(dropped))
	}
	mu.Unlock()
	got := rbEntries(t, j, pl.RunID)
	for _, d := range ds[:3] {
		if got[d.String()] != journal.ResultDeleted {
			t.Errorf("journal: %s %q, want deleted", d, got[d.String()])
		}
		if ok, _ := reg.Exists(ctx, repo, d); ok {
			t.Errorf("%s still there after apply", d)
		}
	}
	if err := reg.PullSet().Pullable(ctx, repo+":latest"); err != nil {
		t.Errorf("latest: %v", err)
	}
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"1004", "latest"}) {
		t.Errorf("tags after apply %v", got)
	}

	o := restore.Options{Client: registry.New(registry.Options{}), Journal: j}
	rp, err := restore.Build(ctx, pl.RunID, restore.Filter{}, o)
	if err != nil {
		t.Fatal(err)
	}
	restore.Apply(ctx, rp, o)
	after, afterTags := rbState(t, reg, repo, ds)
	if !mapsEqual(before, after) || !slices.Equal(beforeTags, afterTags) {
		t.Errorf("after restore: %v %v, want %v %v", after, afterTags, before, beforeTags)
	}
	pEnd(t, reg, repo, pl) // every tag pulls after GC, the restored ones too
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Point 5: a proxy answers every DELETE 202 and does nothing, but for the
// digest DELETE of build 1003. The read-back finds the other digests still
// there: failed, delete_not_effective, the run exits 3, and the journal
// calls none of them deleted. (Were every DELETE faked, nothing would be
// done: exit 1.)
func TestDeleteAcceptedNotDone(t *testing.T) { onBackends(t, testDeleteAcceptedNotDone) }

func testDeleteAcceptedNotDone(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	const repo = "ci/app"
	ds, err := reg.SeedCI(ctx, repo, 4, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	before, beforeTags := rbState(t, reg, repo, ds)
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{
		Intercept: func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodDelete || strings.HasSuffix(r.URL.Path, "/manifests/"+ds[2].String()) {
				return false
			}
			w.WriteHeader(http.StatusAccepted)
			return true
		},
	})
	j := rbJournal(t)
	pl := rbApply(t, proxy.Host, repo, j)
	r := pl.Repositories[0]
	if r.Summary.Deleted != 1 || r.Summary.Failed != 2 || !errors.Is(engine.Result(pl), engine.ErrPartial) {
		t.Errorf("summary %+v, result %v; want 1 deleted, 2 failed, exit 3", r.Summary, engine.Result(pl))
	}
	if it := item(t, r, ds[2].String()); it.Result != plan.ResultDeleted {
		t.Errorf("1003: %s (%s)", it.Result, it.ResultReason)
	}
	for _, d := range ds[:2] {
		it := item(t, r, d.String())
		if it.Result != plan.ResultFailed || it.ResultReason.Code != plan.ReasonDeleteNotEffective {
			t.Errorf("%s: %s %s (%s)", d, it.Result, it.ResultReason.Code, it.ResultReason)
		}
	}
	for ref, res := range rbEntries(t, j, pl.RunID) {
		if gone := ref == ds[2].String() || ref == "1003"; (res == journal.ResultDeleted) != gone {
			t.Errorf("journal: %s %q", ref, res)
		}
	}
	before[ds[2].String()] = false
	beforeTags = slices.DeleteFunc(beforeTags, func(t string) bool { return t == "1003" })
	after, afterTags := rbState(t, reg, repo, ds)
	if !mapsEqual(before, after) || !slices.Equal(beforeTags, afterTags) {
		t.Errorf("registry changed: %v %v, was %v %v", after, afterTags, before, beforeTags)
	}
	pEnd(t, reg, repo, pl)
}

// Point 5, for real: go-containerregistry's registry removes only the
// digest on a DELETE by digest; the tags that named it still resolve
// (here the cosign .sig tags, which regprune leaves to the digest
// delete). The read-back finds them and deletes them by tag: what the
// report calls deleted is gone, and the capabilities say
// digest_delete_removes_tags: false.
func TestDigestDeleteLeavesTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.NewGGCR(t)
	const repo = "ci/app"
	ds, err := reg.SeedCI(ctx, repo, 4, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var sigs []v1.Hash
	for _, d := range ds {
		s, err := reg.Sign(ctx, repo, d, "sig")
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, s)
	}
	j := rbJournal(t)
	pl := rbApply(t, reg.Host, repo, j)
	r := pl.Repositories[0]
	if r.Err != nil || r.Summary.Deleted != 6 || r.Summary.Failed+r.Summary.Skipped != 0 || engine.Result(pl) != nil {
		t.Fatalf("apply: %v, summary %+v, result %v", r.Err, r.Summary, engine.Result(pl))
	}
	if c := r.Capabilities; c == nil || c.DigestDeleteRemovesTags == nil || *c.DigestDeleteRemovesTags {
		t.Errorf("capabilities %+v, want digest_delete_removes_tags false", c)
	}
	wantTags := []string{registrytest.SignatureTag(ds[3], "sig"), "1004", "latest"}
	slices.Sort(wantTags)
	if got := tags(t, reg, repo); !slices.Equal(got, wantTags) {
		t.Errorf("tags %v, want %v", got, wantTags)
	}
	for _, d := range append(slices.Clone(ds[:3]), sigs[:3]...) {
		if ok, _ := reg.Exists(ctx, repo, d); ok {
			t.Errorf("%s reported deleted, still there", d)
		}
	}
	for _, d := range []v1.Hash{ds[3], sigs[3]} {
		if ok, _ := reg.Exists(ctx, repo, d); !ok {
			t.Errorf("kept %s gone", d)
		}
	}
	pulls := reg.PullSet()
	for _, ref := range []string{":latest", "@" + sigs[3].String()} {
		if err := pulls.Pullable(ctx, repo+ref); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
	for ref, res := range rbEntries(t, j, pl.RunID) {
		if res != journal.ResultDeleted {
			t.Errorf("journal: %s %q", ref, res)
		}
	}
}

// tagDeleteTakesManifest is a proxy's Intercept that turns DELETE
// /manifests/<tag> into what Gitea does: resolve the tag and delete the
// manifest by digest.
func tagDeleteTakesManifest(reg *registrytest.Registry, repo string) func(http.ResponseWriter, *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		i := strings.LastIndex(r.URL.Path, "/manifests/")
		if r.Method != http.MethodDelete || i < 0 || strings.HasPrefix(r.URL.Path[i:], "/manifests/sha256:") {
			return false
		}
		rp, err := registry.New(registry.Options{}).Open(r.Context(), reg.Ref(repo), registry.PullDelete)
		if err == nil {
			var d registry.Descriptor
			if d, err = rp.Head(r.Context(), r.URL.Path[i+len("/manifests/"):]); err == nil {
				err = rp.Delete(r.Context(), d.Digest)
			}
		}
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}
		w.WriteHeader(http.StatusAccepted)
		return true
	}
}

// Point 7: on a registry whose tag DELETE removes the manifest, the probe
// is the tag of the plan's only tagged target, an old index. The index
// goes with its tag; the re-check after the probe sees its tag gone, so
// the final guard does not hold its children, and they are deleted too.
func TestProbedIndexLeavesNoChildren(t *testing.T) { onBackends(t, testProbedIndexLeavesNoChildren) }

func testProbedIndexLeavesNoChildren(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	const repo = "ci/app"
	_, kept, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: t0.Add(2 * time.Hour)}, "latest")
	if err != nil {
		t.Fatal(err)
	}
	kids := []registrytest.Child{{Spec: &registrytest.ImageSpec{Created: t0}}, {Spec: &registrytest.ImageSpec{Created: t0.Add(time.Minute)}}}
	idx, old, err := reg.PushIndex(ctx, repo, types.OCIImageIndex, kids, nil, "old")
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	children := []v1.Hash{im.Manifests[0].Digest, im.Manifests[1].Digest}
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{Intercept: tagDeleteTakesManifest(reg, repo)})
	pl := rbApply(t, proxy.Host, repo, rbJournal(t))
	r := pl.Repositories[0]
	if r.Err != nil || r.Summary.Deleted != 3 || r.Summary.Failed+r.Summary.Skipped != 0 || engine.Result(pl) != nil {
		for _, it := range r.Items {
			t.Logf("%s %s %s %s (%s)", it.Digest[:19], it.Kind, it.Action, it.Result, it.ResultReason)
		}
		t.Fatalf("apply: %v, summary %+v, result %v", r.Err, r.Summary, engine.Result(pl))
	}
	if it := item(t, r, old.String()); it.ResultReason.Code != plan.ReasonDeletedWithTag {
		t.Errorf("index: %s (%s), want deleted with its tag (the probe)", it.ResultReason.Code, it.ResultReason)
	}
	for _, d := range append([]v1.Hash{old}, children...) {
		if ok, _ := reg.Exists(ctx, repo, d); ok {
			t.Errorf("%s still there", d)
		}
	}
	if ok, _ := reg.Exists(ctx, repo, kept); !ok {
		t.Error("latest's image gone")
	}
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"latest"}) {
		t.Errorf("tags %v", got)
	}
	pEnd(t, reg, repo, pl)
}
