package engine_test

// Registry quirks on the v2 path (issue 21, point 5). Each test runs the
// engine through a proxy that plays one registry's documented behaviour
// (registrytest.NewQuirkProxy; internal/sandbox/quirks.go names the
// documentation each flavour follows: ../shared/docs/vendors.md §3 ECR,
// §4 GAR/GCR, §7 Harbor, §8 GitLab) in front of a real distribution v3
// registry that holds the images, so that pulls and GC prove the outcome.

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// qOpts are the engine's options for these tests, with a journal if
// one is given.
func qOpts(j ...*journal.Journal) engine.Options {
	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour), RetryWait: 5 * time.Millisecond}
	if len(j) > 0 {
		o.Journal = j[0]
	}
	return o
}

// qPlan plans repo of host (a proxy) for apply.
func qPlan(t *testing.T, host, repo string, p policy.Policy, j ...*journal.Journal) *plan.Plan {
	t.Helper()
	pl := engine.Plan(context.Background(), []engine.Job{{Repository: host + "/" + repo, Policy: p}}, plan.ModeApply, qOpts(j...))
	if r := pl.Repositories[0]; r.Err != nil {
		t.Fatalf("plan failed: %s", r.Err)
	}
	return pl
}

func qApply(t *testing.T, pl *plan.Plan, j ...*journal.Journal) {
	t.Helper()
	engine.Apply(context.Background(), pl, qOpts(j...))
	if r := pl.Repositories[0]; r.Err != nil {
		t.Fatalf("apply failed: %s", r.Err)
	}
}

func qResult(t *testing.T, pl *plan.Plan, d string, result plan.Result, code plan.ReasonCode) {
	t.Helper()
	it := gItem(t, pl, d)
	if it.Result != result || (code != "" && it.ResultReason.Code != code) {
		t.Errorf("%s %s %v: %s %s (%s), want %s %s", it.Kind, d, it.Tags, it.Result, it.ResultReason.Code, it.ResultReason, result, code)
	}
}

// GAR and GCR refuse a tagged digest (GOOGLE_MANIFEST_DANGLING_TAG) and a
// digest an index lists (GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE), and keep
// refusing for a while after the tag or the index went. Apply untags
// first (a signature's tag too, which it otherwise lets its digest delete
// take), retries after the rest of the level, and deletes everything;
// the kept image and its signature stay whole. The run is journaled:
// retries go through the journal like any DELETE.
func TestQuirkGARUntagFirstParentsFirst(t *testing.T) {
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "gar/app"
	_, old, kids := gIndex(t, reg, repo, types.OCIImageIndex, gKids(1, 2), nil, "v1")
	sig := gSign(t, reg, repo, old, "sig")
	_, cur := gImage(t, reg, repo, 2, "", "latest")
	curSig := gSign(t, reg, repo, cur, "sig")
	q := registrytest.NewQuirkProxy(t, reg.URL, registrytest.QuirkOptions{Quirk: registrytest.QuirkGAR, Lag: 1})
	j, err := journal.Open(context.Background(), filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()

	pl := qPlan(t, q.Host, repo, keepTag("latest"), j)
	qApply(t, pl, j)
	for _, d := range append([]string{old, sig}, kids...) {
		qResult(t, pl, d, plan.ResultDeleted, plan.ReasonDeleted)
		if gExists(t, reg, repo, d) {
			t.Errorf("%s still there", d)
		}
	}
	c := q.QuirkCounts()
	if c.DanglingTag < 2 || c.DanglingParent < 2 {
		t.Errorf("the fake refused %d tagged and %d listed digests; want the signature's tag, the lag after untagging, and both children", c.DanglingTag, c.DanglingParent)
	}
	for _, d := range []string{cur, curSig} {
		if !gExists(t, reg, repo, d) {
			t.Errorf("kept %s gone", d)
		}
	}
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"latest", graph.FallbackTag(cur) + ".sig"}) {
		t.Errorf("tags %v", got)
	}
	gVerify(t, reg, repo, pl)
}

// ECR refuses a manifest an index still lists (ImageReferencedByManifestList),
// here an untagged index regprune cannot see. Apply retries it, then
// reports it failed, named; never deleted. Tag deletes are refused, so
// everything else goes by digest.
func TestQuirkECRReferencedByManifestList(t *testing.T) {
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ecr/app"
	_, old, kids := gIndex(t, reg, repo, types.OCIImageIndex, gKids(1, 2), nil, "v1")
	_, hidden, _ := gIndex(t, reg, repo, types.OCIImageIndex, []registrytest.Child{{Digest: gHash(t, kids[0])}}, nil)
	_, cur := gImage(t, reg, repo, 2, "", "latest")
	q := registrytest.NewQuirkProxy(t, reg.URL, registrytest.QuirkOptions{Quirk: registrytest.QuirkECR, Parents: []string{repo + "@" + hidden}})

	pl := qPlan(t, q.Host, repo, keepTag("latest"))
	qApply(t, pl)
	qResult(t, pl, old, plan.ResultDeleted, plan.ReasonDeleted)
	qResult(t, pl, kids[1], plan.ResultDeleted, plan.ReasonDeleted)
	qResult(t, pl, kids[0], plan.ResultFailed, plan.ReasonStillReferenced)
	it := gItem(t, pl, kids[0])
	if !errors.Is(it.ResultReason.Err, registry.ErrStillReferenced) {
		t.Errorf("failure %v does not match registry.ErrStillReferenced", it.ResultReason.Err)
	}
	if !strings.Contains(it.ResultReason.String(), "ImageReferencedByManifestList") {
		t.Errorf("reason %q does not name the registry's answer", it.ResultReason)
	}
	if c := q.QuirkCounts(); c.ReferencedByList != 4 {
		t.Errorf("the fake refused %d deletes, want the first and 3 retries", c.ReferencedByList)
	}
	for _, d := range []string{kids[0], hidden, cur} {
		if !gExists(t, reg, repo, d) {
			t.Errorf("%s gone", d)
		}
	}
	if r := pl.Repositories[0]; r.Summary.Deleted != 2 || r.Summary.Failed != 1 {
		t.Errorf("summary %+v: want 2 deleted, 1 failed", r.Summary)
	}
	if c := pl.Repositories[0].Capabilities; c == nil || c.TagDelete != plan.CapRefused || c.Deletes != plan.CapWorks {
		t.Errorf("capabilities %+v: want tag delete refused, deletes working", c)
	}
}

// Harbor refuses tag deletes (UNSUPPORTED), deletes an artifact deeply
// (its untagged, otherwise unlisted children and their accessories), and
// refuses a manifest another one lists with 412. An index whose child
// stays (here a child tagged on its own, skipped because its tag moved
// since the plan: untagged now, the index is all that lists it) is not
// deleted by digest, or the child would go with it while the report says
// it stayed; an index deleted whole takes its children, which apply finds
// already gone; the 412 is that item's failure, named.
func TestQuirkHarborDeepDelete(t *testing.T) {
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "harbor/app"
	ctx := context.Background()
	_, held, heldKids := gIndex(t, reg, repo, types.OCIImageIndex, gKids(1, 2), nil, "v1")
	if err := reg.Tag(ctx, repo, gHash(t, heldKids[0]), "kid"); err != nil {
		t.Fatal(err)
	}
	_, whole, wholeKids := gIndex(t, reg, repo, types.OCIImageIndex, gKids(2, 2), nil, "v2")
	_, listed := gImage(t, reg, repo, 3, "", "v3")
	_, hidden, _ := gIndex(t, reg, repo, types.OCIImageIndex, []registrytest.Child{{Digest: gHash(t, listed)}}, nil)
	gImage(t, reg, repo, 4, "", "latest")
	q := registrytest.NewQuirkProxy(t, reg.URL, registrytest.QuirkOptions{Quirk: registrytest.QuirkHarbor, Parents: []string{repo + "@" + hidden}})

	pl := qPlan(t, q.Host, repo, keepTag("latest"))
	gWant(t, pl, plan.ActionDelete, "", held, heldKids[0], heldKids[1], whole, listed)
	_, moved := gImage(t, reg, repo, 5, "", "kid") // the tag moves since the plan
	qApply(t, pl)

	qResult(t, pl, heldKids[0], plan.ResultSkipped, plan.ReasonTagMoved)
	qResult(t, pl, held, plan.ResultSkipped, plan.ReasonChildStays)
	qResult(t, pl, heldKids[1], plan.ResultSkipped, plan.ReasonParentStays)
	qResult(t, pl, whole, plan.ResultDeleted, plan.ReasonDeleted)
	for _, d := range wholeKids {
		if it := gItem(t, pl, d); it.Result != plan.ResultDeleted && it.ResultReason.Code != plan.ReasonAlreadyGone {
			t.Errorf("child %s of the index deleted whole: %s (%s)", d, it.Result, it.ResultReason)
		}
		if gExists(t, reg, repo, d) {
			t.Errorf("child %s of the index deleted whole still there", d)
		}
	}
	qResult(t, pl, listed, plan.ResultFailed, plan.ReasonStillReferenced)
	for _, ref := range []string{repo + "@" + held, repo + "@" + heldKids[0], repo + "@" + listed, repo + "@" + moved, repo + ":latest"} {
		if err := reg.Pullable(ctx, ref); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
	c := q.QuirkCounts()
	if c.TagDeleteRefused == 0 || c.Precondition == 0 || len(c.DeepDeleted) != len(wholeKids) {
		t.Errorf("fake: %d tag deletes refused, %d 412s, deep deletes %v (want the 2 children of %s)", c.TagDeleteRefused, c.Precondition, c.DeepDeleted, whole)
	}
	if cp := pl.Repositories[0].Capabilities; cp == nil || cp.TagDelete != plan.CapRefused {
		t.Errorf("capabilities %+v: want tag delete refused", cp)
	}
}

// GitLab resolves the reference sha256-<hex> to the manifest sha256:<hex>,
// so the referrers fallback tags of both images serve the images
// themselves. Neither is taken for a referrers index: each is a warning,
// and the plan decides exactly what it decides without them (the old
// index and its children go, the kept image stays whole).
func TestQuirkGitLabFallbackResolvesToSubject(t *testing.T) {
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "gitlab/app"
	_, old, kids := gIndex(t, reg, repo, types.OCIImageIndex, gKids(1, 2), nil, "v1")
	gRefer(t, reg, repo, old)
	_, cur, curKids := gIndex(t, reg, repo, types.OCIImageIndex, gKids(2, 2), nil, "latest")
	gRefer(t, reg, repo, cur)
	q := registrytest.NewQuirkProxy(t, reg.URL, registrytest.QuirkOptions{Quirk: registrytest.QuirkGitLab})

	pl := qPlan(t, q.Host, repo, keepTag("latest"))
	r := pl.Repositories[0]
	for _, d := range []string{old, cur} {
		found := false
		for _, w := range r.Warnings {
			found = found || (strings.Contains(w, graph.FallbackTag(d)) && strings.Contains(w, "itself"))
		}
		if !found {
			t.Errorf("no warning on the fallback tag of %s: %q", d, r.Warnings)
		}
	}
	for _, it := range r.Items {
		if it.Subject != "" {
			t.Errorf("%s %s: subject %s; nothing here is a referrer regprune can see", it.Kind, it.Digest, it.Subject)
		}
	}
	gWant(t, pl, plan.ActionDelete, "", append([]string{old}, kids...)...)
	gWant(t, pl, plan.ActionKeep, "", append([]string{cur}, curKids...)...)
	qApply(t, pl)
	for _, d := range append([]string{old}, kids...) {
		if gExists(t, reg, repo, d) {
			it := gItem(t, pl, d)
			t.Errorf("%s still there: %s %s", d, it.Result, it.ResultReason)
		}
	}

	if err := reg.Pullable(context.Background(), repo+":latest"); err != nil {
		t.Error(err)
	}
}

// A referrers fallback tag that names an image, or an index whose entries
// do not carry the subject, is no referrers index: a warning, and what it
// names stays with what it lists, though its subject is deleted. An
// edited plan that deletes it with its subject anyway is stopped by the
// final guard, which checks the same rule in the registry as it is now.
func TestQuirkFallbackTagNotAReferrersIndex(t *testing.T) {
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "odd/app"
	ctx := context.Background()
	_, x := gImage(t, reg, repo, 1, "", "v1")
	_, y := gImage(t, reg, repo, 2, "", "v2")
	_, img := gImage(t, reg, repo, 3, "")
	if err := reg.Tag(ctx, repo, gHash(t, img), graph.FallbackTag(x)); err != nil {
		t.Fatal(err)
	}
	_, idx, idxKids := gIndex(t, reg, repo, types.OCIImageIndex, gKids(4, 2), nil, graph.FallbackTag(y))
	_, cur := gImage(t, reg, repo, 5, "", "latest")

	pl := run0(t, reg, repo, keepTag("latest"))
	r := pl.Repositories[0]
	if len(r.Warnings) < 2 {
		t.Errorf("warnings %q: want one per fallback tag", r.Warnings)
	}
	gWant(t, pl, plan.ActionDelete, plan.KindImage, x, y)
	for _, d := range []string{img, idx} {
		if it := gItem(t, pl, d); it.Action != plan.ActionKeep || it.Reasons[0].Code != plan.ReasonFallbackRejected {
			t.Errorf("%s: %s %v", d, it.Action, it.Reasons)
		}
	}
	gWant(t, pl, plan.ActionKeep, "", idxKids...)
	gWant(t, pl, plan.ActionKeep, plan.KindImage, cur)

	// An edited plan deletes img with x, as a referrer of it.
	for i := range r.Items {
		if it := &r.Items[i]; it.Digest == img {
			it.Action, it.Kind, it.Subject = plan.ActionDelete, plan.KindReferrer, x
		}
	}
	engine.Apply(ctx, pl, opts(reg))
	if r := pl.Repositories[0]; r.Err != nil {
		t.Fatal(r.Err)
	}
	qResult(t, pl, img, plan.ResultSkipped, plan.ReasonNotAttached)
	qResult(t, pl, x, plan.ResultSkipped, plan.ReasonHeldByReferrer)
	qResult(t, pl, y, plan.ResultDeleted, plan.ReasonDeleted)
	for _, ref := range []string{repo + "@" + img, repo + ":" + graph.FallbackTag(y), repo + ":latest"} {
		if err := reg.Pullable(ctx, ref); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
}

// run0 plans repo of reg for apply, without applying.
func run0(t *testing.T, reg *registrytest.Registry, repo string, p policy.Policy) *plan.Plan {
	t.Helper()
	pl := engine.Plan(context.Background(), []engine.Job{{Repository: reg.Ref(repo), Policy: p}}, plan.ModeApply, opts(reg))
	if r := pl.Repositories[0]; r.Err != nil {
		t.Fatalf("plan failed: %s", r.Err)
	}
	return pl
}
