package apply_test

// Tests of apply against the real in-process distribution registry. A
// plan is made, saved as JSON and loaded back (as `regprune apply --plan`
// does), the registry is changed, and the plan applied. Where a test needs
// a registry answer distribution does not give on demand (a lost DELETE
// response, a 403, a failure in the middle of a run, Ctrl-C after the Nth
// delete) it wraps the real *registry.Repo in a hook; the registry behind
// it is always real.

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/apply"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

type env struct {
	t    *testing.T
	ctx  context.Context
	reg  *registrytest.Registry
	repo string
	c    *registry.Client
}

func newEnv(t *testing.T, repo string) *env {
	return &env{t: t, ctx: context.Background(), reg: registrytest.New(t, registrytest.Options{}), repo: repo, c: registry.New(registry.Options{})}
}

func (e *env) open() *registry.Repo {
	e.t.Helper()
	r, err := e.c.Open(e.ctx, e.reg.Ref(e.repo), registry.PullDelete)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) image(created time.Time, tags ...string) v1.Hash {
	e.t.Helper()
	_, h, err := e.reg.PushImage(e.ctx, e.repo, registrytest.ImageSpec{Created: created}, tags...)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

func (e *env) index(children []registrytest.Child, tags ...string) v1.Hash {
	e.t.Helper()
	_, h := e.indexOf(children, tags...)
	return h
}

func (e *env) indexOf(children []registrytest.Child, tags ...string) (v1.ImageIndex, v1.Hash) {
	e.t.Helper()
	idx, h, err := e.reg.PushIndex(e.ctx, e.repo, types.OCIImageIndex, children, nil, tags...)
	if err != nil {
		e.t.Fatal(err)
	}
	return idx, h
}

// children lists the children of the index d as the registry has it.
func (e *env) children(d v1.Hash) []v1.Hash {
	e.t.Helper()
	body, _, err := e.open().GetManifest(e.ctx, d.String())
	if err != nil {
		e.t.Fatal(err)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []v1.Hash
	for _, m := range im.Manifests {
		out = append(out, m.Digest)
	}
	return out
}

func specs(n int, created time.Time) []registrytest.Child {
	out := make([]registrytest.Child, n)
	for i := range out {
		out[i] = registrytest.Child{Spec: &registrytest.ImageSpec{Created: created}}
	}
	return out
}

// plan builds the plan of the repository under p and returns it as
// `regprune plan -o json` followed by `apply --plan` would see it.
func (e *env) plan(p policy.Policy) *plan.RepoPlan {
	e.t.Helper()
	g, err := inventory.Collect(e.ctx, e.open(), inventory.Options{NeedAges: true})
	if err != nil {
		e.t.Fatal(err)
	}
	r := plan.Build(g, policy.Evaluate(g, p, t0.Add(30*24*time.Hour)), p)
	if r.Err != nil {
		e.t.Fatalf("plan refused: %s", r.Err)
	}
	return saved(e.t, r)
}

func saved(t *testing.T, r plan.RepoPlan) *plan.RepoPlan {
	t.Helper()
	var buf bytes.Buffer
	if err := plan.WriteJSON(&buf, plan.New(plan.ModePlan, t0, []plan.RepoPlan{r})); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Load(&buf, "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	return &p.Repositories[0]
}

func (e *env) apply(tg apply.Target, r *plan.RepoPlan) error {
	e.t.Helper()
	return apply.Run(e.ctx, tg, r, apply.Options{})
}

func (e *env) exists(d string) bool {
	e.t.Helper()
	h, err := v1.NewHash(d)
	if err != nil {
		e.t.Fatal(err)
	}
	ok, err := e.reg.Exists(e.ctx, e.repo, h)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

func (e *env) tags() []string {
	e.t.Helper()
	ts, err := e.reg.Tags(e.ctx, e.repo)
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(ts)
	return ts
}

func (e *env) pullable(refs ...string) {
	e.t.Helper()
	pulls := e.reg.PullSet() // nothing changes the registry while it checks
	for _, ref := range refs {
		if err := pulls.Pullable(e.ctx, e.repo+ref); err != nil {
			e.t.Errorf("not pullable: %v", err)
		}
	}
}

func itemOf(t *testing.T, r *plan.RepoPlan, d v1.Hash) *plan.Item {
	t.Helper()
	for i := range r.Items {
		if r.Items[i].Digest == d.String() {
			return &r.Items[i]
		}
	}
	t.Fatalf("no item %s in the plan", d)
	return nil
}

func keep(tags ...string) policy.Policy { return policy.Policy{Keep: policy.Keep{Tags: tags}} }

// expect checks an item's action and result, and that its reason has
// code, naming tags if any are given.
func expect(t *testing.T, r *plan.RepoPlan, d v1.Hash, action plan.Action, result plan.Result, code plan.ReasonCode, tags ...string) {
	t.Helper()
	it := itemOf(t, r, d)
	why := it.ResultReason
	if it.Action != action || it.Result != result || why.Code != code || (len(tags) > 0 && !slices.Equal(why.Tags, tags)) {
		t.Errorf("%s (%s, tags %v): action %s result %s %s %v (%q); want %s %s %s %v",
			d.String()[:19], it.Kind, it.Tags, it.Action, it.Result, why.Code, why.Tags, why, action, result, code, tags)
	}
}

// hooked is the real repository with hooks on its calls.
type hooked struct {
	*registry.Repo
	list    func() error
	head    func(ref string) error
	get     func(ref string) error
	del     func(ctx context.Context, ref string, real func() error) error
	deletes atomic.Int64
}

func (h *hooked) ListTags(ctx context.Context, fn func([]string) error) error {
	if h.list != nil {
		if err := h.list(); err != nil {
			return err
		}
	}
	return h.Repo.ListTags(ctx, fn)
}

func (h *hooked) Head(ctx context.Context, ref string) (registry.Descriptor, error) {
	if h.head != nil {
		if err := h.head(ref); err != nil {
			return registry.Descriptor{}, err
		}
	}
	return h.Repo.Head(ctx, ref)
}

func (h *hooked) GetManifest(ctx context.Context, ref string) ([]byte, registry.Descriptor, error) {
	if h.get != nil {
		if err := h.get(ref); err != nil {
			return nil, registry.Descriptor{}, err
		}
	}
	return h.Repo.GetManifest(ctx, ref)
}

func (h *hooked) Delete(ctx context.Context, ref string) error {
	h.deletes.Add(1)
	real := func() error { return h.Repo.Delete(ctx, ref) }
	if h.del != nil {
		return h.del(ctx, ref, real)
	}
	return real()
}

func status(code int, c string) error {
	return &registry.Error{Method: "DELETE", Path: "/v2/app/manifests/x", Status: code, Code: c, Message: "test answer"}
}

// A new tag names an index that reuses a child the plan deletes with its
// old index: that child stays, the rest goes, and the new index pulls.
func TestNewIndexReachesPlannedChild(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	old := e.index(specs(3, t0), "v1")
	e.image(t0.Add(time.Hour), "v2")
	r := e.plan(keep("v2"))
	var kids []*plan.Item
	for i := range r.Items {
		if it := &r.Items[i]; it.Parent == old.String() {
			kids = append(kids, it)
		}
	}
	if len(kids) != 3 {
		t.Fatalf("plan has %d children of the old index, want 3", len(kids))
	}
	shared, _ := v1.NewHash(kids[1].Digest)
	e.index([]registrytest.Child{{Digest: shared}, {Spec: &registrytest.ImageSpec{}}}, "v3")

	if err := e.apply(e.open(), r); err != nil {
		t.Fatal(err)
	}
	expect(t, r, old, plan.ActionDelete, plan.ResultDeleted, plan.ReasonDeleted)
	expect(t, r, shared, plan.ActionDelete, plan.ResultSkipped, plan.ReasonReachedByNewTag, "v3")
	for _, k := range []int{0, 2} {
		h, _ := v1.NewHash(kids[k].Digest)
		expect(t, r, h, plan.ActionDelete, plan.ResultDeleted, plan.ReasonDeleted)
	}
	if !e.exists(shared.String()) || e.exists(old.String()) {
		t.Fatalf("shared child exists %v, old index exists %v", e.exists(shared.String()), e.exists(old.String()))
	}
	e.pullable(":v3", ":v2")
}

// A planned image becomes a child of a new index (a multi-arch image
// assembled from single-arch builds): it is not deleted.
func TestNewIndexReachesPlannedImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	amd := e.image(t0, "build-amd64")
	e.image(t0.Add(time.Hour), "latest")
	r := e.plan(keep("latest"))
	if it := itemOf(t, r, amd); it.Action != plan.ActionDelete {
		t.Fatalf("amd64 build planned %s", it.Action)
	}
	e.index([]registrytest.Child{{Digest: amd}, {Spec: &registrytest.ImageSpec{}}}, "multi")

	if err := e.apply(e.open(), r); err != nil {
		t.Fatal(err)
	}
	expect(t, r, amd, plan.ActionDelete, plan.ResultSkipped, plan.ReasonReachedByNewTag, "multi")
	if got := e.tags(); !slices.Equal(got, []string{"build-amd64", "latest", "multi"}) {
		t.Fatalf("tags %v: the skipped image keeps its tags", got)
	}
	e.pullable(":multi", ":latest")
}

// Two deleted indexes share a child; the plan records one of them as its
// parent. A new tag on the other index keeps that index and, through it,
// the shared child, although the child's recorded parent goes.
func TestSharedChildOfRetaggedIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	idxA, a := e.indexOf(specs(2, t0), "a")
	shared := e.children(a)[0]
	idxB, b := e.indexOf([]registrytest.Child{{Digest: shared}, {Spec: &registrytest.ImageSpec{}}}, "b")
	e.image(t0.Add(time.Hour), "latest")
	r := e.plan(keep("latest"))
	it := itemOf(t, r, shared)
	if it.Action != plan.ActionDelete || (it.Parent != a.String() && it.Parent != b.String()) {
		t.Fatalf("shared child planned %+v", it)
	}
	// Tag the index that is NOT the recorded parent.
	other, otherIdx, parent := a, idxA, b
	if it.Parent == a.String() {
		other, otherIdx, parent = b, idxB, a
	}
	if _, err := e.reg.PushExisting(e.ctx, e.repo, otherIdx, "rescued"); err != nil {
		t.Fatal(err)
	}

	if err := e.apply(e.open(), r); err != nil {
		t.Fatal(err)
	}
	expect(t, r, other, plan.ActionDelete, plan.ResultSkipped, plan.ReasonTagAppeared, "rescued")
	expect(t, r, shared, plan.ActionDelete, plan.ResultSkipped, plan.ReasonReachedByNewTag, "rescued")
	expect(t, r, parent, plan.ActionDelete, plan.ResultDeleted, plan.ReasonDeleted)
	e.pullable(":rescued", ":latest")
}

// A tag moved since the plan to a new index nested two levels deep: the
// walk follows nested indexes.
func TestMovedTagNestedIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	old := e.index(specs(2, t0), "v1")
	e.image(t0.Add(time.Hour), "latest")
	r := e.plan(keep("latest"))
	var child v1.Hash
	for _, it := range r.Items {
		if it.Parent == old.String() {
			child, _ = v1.NewHash(it.Digest)
		}
	}
	// "latest" moves to an index of an index that holds the child.
	nested := e.index([]registrytest.Child{{Children: []registrytest.Child{{Digest: child}}}, {Spec: &registrytest.ImageSpec{}}}, "latest")

	if err := e.apply(e.open(), r); err != nil {
		t.Fatal(err)
	}
	expect(t, r, child, plan.ActionDelete, plan.ResultSkipped, plan.ReasonReachedByNewTag, "latest")
	expect(t, r, old, plan.ActionDelete, plan.ResultDeleted, plan.ReasonDeleted)
	if !e.exists(nested.String()) {
		t.Fatal("new index gone")
	}
	e.pullable(":latest")
}

// Without any change since the plan, apply reads one manifest per kept
// tag (the GET that verifies it, whose body also seeds the final guard)
// and, without a cache, each index it deletes (what an index lists
// decides whether it may go: see deepDelete); no other: the walk costs
// requests only when tags changed.
func TestUnchangedPlanReadsNoManifest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	idx := e.index(specs(2, t0), "v1")
	e.image(t0.Add(time.Hour), "latest")
	r := e.plan(keep("latest"))
	var gets atomic.Int64
	h := &hooked{Repo: e.open(), get: func(ref string) error {
		if ref != "latest" && ref != idx.String() {
			t.Errorf("GET %s: only the kept tag and the index deleted are read", ref)
		}
		gets.Add(1)
		return nil
	}}
	if err := e.apply(h, r); err != nil {
		t.Fatal(err)
	}
	if gets.Load() != 2 || r.Summary.DeleteManifests != 3 {
		t.Fatalf("manifest GETs %d (want 2), plan deletes %d", gets.Load(), r.Summary.DeleteManifests)
	}
	for _, it := range r.Items {
		if it.Action == plan.ActionDelete && it.Result != plan.ResultDeleted {
			t.Errorf("%s: %s %s", it.Digest, it.Result, it.ResultReason)
		}
	}
}

// A changed tag whose manifest cannot be read: apply cannot tell what it
// reaches, so it deletes nothing in the repository.
func TestWalkFailureFailsClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	e.index(specs(2, t0), "v1")
	e.image(t0.Add(time.Hour), "latest")
	r := e.plan(keep("latest"))
	e.image(t0.Add(2*time.Hour), "new")
	h := &hooked{Repo: e.open(), get: func(string) error { return status(http.StatusInternalServerError, "UNKNOWN") }}
	err := e.apply(h, r)
	if !errors.Is(err, registry.ErrServer) || !errors.Is(r.Err, registry.ErrServer) || plan.CodeOf(r.Err) != plan.ErrorRecheck {
		t.Fatalf("err %v, repository error %v (%s)", err, r.Err, plan.CodeOf(r.Err))
	}
	if h.deletes.Load() != 0 {
		t.Fatalf("%d deletes after a failed re-check", h.deletes.Load())
	}
	for _, it := range r.Items {
		if it.Action == plan.ActionDelete && (it.Result != plan.ResultSkipped || it.ResultReason.Code != plan.ReasonRecheckFailed || !errors.Is(it.ResultReason.Err, registry.ErrServer)) {
			t.Errorf("%s: %s %q", it.Digest, it.Result, it.ResultReason)
		}
	}
}

// An error while re-listing: nothing is deleted.
func TestRelistFailureFailsClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	if _, err := e.reg.SeedCI(e.ctx, e.repo, 3, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	r := e.plan(keep("latest"))
	for name, h := range map[string]*hooked{
		"list": {Repo: e.open(), list: func() error { return status(http.StatusServiceUnavailable, "UNAVAILABLE") }},
		"head": {Repo: e.open(), head: func(ref string) error {
			if ref == "1002" {
				return status(http.StatusInternalServerError, "UNKNOWN")
			}
			return nil
		}},
	} {
		rr := saved(t, *r)
		if err := e.apply(h, rr); err == nil || rr.Err == nil {
			t.Fatalf("%s: err %v, repository error %v", name, err, rr.Err)
		}
		if h.deletes.Load() != 0 {
			t.Fatalf("%s: %d deletes", name, h.deletes.Load())
		}
	}
	if got := e.tags(); len(got) != 4 {
		t.Fatalf("tags %v", got)
	}
}

// A 404 on DELETE is neither success nor failure: apply looks again.
func TestDelete404Rechecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	ds, err := e.reg.SeedCI(e.ctx, e.repo, 4, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := e.plan(keep("latest"))
	// 1001: the DELETE went through but its answer was lost, and the
	// retry found it gone. 1002: a registry that answers 404 yet still
	// serves the manifest. 1003: 404, and the look-up fails too.
	lost, ghost, blind := ds[0].String(), ds[1].String(), ds[2].String()
	h := &hooked{Repo: e.open()}
	h.head = func(ref string) error {
		if ref == blind {
			return status(http.StatusBadGateway, "UNKNOWN")
		}
		return nil
	}
	h.del = func(ctx context.Context, ref string, real func() error) error {
		switch ref {
		case lost:
			if err := real(); err != nil {
				return err
			}
			return status(http.StatusNotFound, "MANIFEST_UNKNOWN")
		case ghost, blind:
			return status(http.StatusNotFound, "MANIFEST_UNKNOWN")
		}
		return real()
	}
	if err := e.apply(h, r); err != nil {
		t.Fatal(err)
	}
	expect(t, r, ds[0], plan.ActionDelete, plan.ResultSkipped, plan.ReasonAlreadyGone)
	expect(t, r, ds[1], plan.ActionDelete, plan.ResultFailed, plan.ReasonStillServed)
	expect(t, r, ds[2], plan.ActionDelete, plan.ResultFailed, plan.ReasonGoneUnknown)
	if e.exists(lost) || !e.exists(ghost) || !e.exists(blind) {
		t.Fatal("registry state does not match the results")
	}
}

// Credentials without the delete permission: the first refusal fails,
// nothing else is attempted, and the message says what is missing.
func TestDeniedDeleteStopsCleanly(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		e := newEnv(t, "app")
		if _, err := e.reg.SeedCI(e.ctx, e.repo, 5, t0, time.Hour); err != nil {
			t.Fatal(err)
		}
		r := e.plan(keep("latest"))
		h := &hooked{Repo: e.open(), del: func(context.Context, string, func() error) error { return status(code, "DENIED") }}
		if err := e.apply(h, r); err != nil {
			t.Fatal(err)
		}
		if h.deletes.Load() != 1 {
			t.Errorf("%d: %d DELETEs, want 1", code, h.deletes.Load())
		}
		var failed, skipped int
		for _, it := range r.Items {
			switch {
			case it.Result == plan.ResultFailed && it.ResultReason.Code == plan.ReasonDeleteDenied:
				failed++
			case it.Result == plan.ResultSkipped && it.ResultReason.Code == plan.ReasonNotAttempted:
				skipped++
			case it.Result != "":
				t.Errorf("%d: %s %s %q", code, it.Digest, it.Result, it.ResultReason)
			}
		}
		if failed != 1 || skipped != 3 { // 4 deletes, one of them refused
			t.Errorf("%d: failed %d, skipped %d; want 1 and 3", code, failed, skipped)
		}
		if got := e.tags(); len(got) != 6 {
			t.Errorf("%d: tags %v", code, got)
		}
	}
}

// Ctrl-C: requests in flight finish, nothing new starts, and the results
// say exactly what was done; a re-run finishes the job.
func TestInterruptStopsAfterInFlight(t *testing.T) {
	t.Parallel()
	// The order of DELETEs at concurrency 1: the tags of the 7 images to
	// delete, then their digests (latest keeps its job tag).
	for _, at := range []int64{3, 10} {
		e := newEnv(t, "app")
		ds, err := e.reg.SeedCI(e.ctx, e.repo, 8, t0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		r := e.plan(keep("latest"))
		ctx, cancel := context.WithCancel(e.ctx)
		var n atomic.Int64
		h := &hooked{Repo: e.open(), del: func(rctx context.Context, ref string, real func() error) error {
			if n.Add(1) == at {
				cancel() // Ctrl-C while this delete is in flight
			}
			return real() // in flight: it finishes
		}}
		if err := apply.Run(ctx, h, r, apply.Options{Concurrency: 1}); err != nil {
			t.Fatal(err)
		}
		cancel()
		if h.deletes.Load() != at {
			t.Fatalf("at %d: %d DELETEs, want none after the interrupt", at, h.deletes.Load())
		}
		tags := e.tags()
		var deleted, interrupted int
		for i, d := range ds[:7] {
			it := itemOf(t, r, d)
			tagThere := slices.Contains(tags, it.Tags[0])
			switch {
			case it.Result == plan.ResultDeleted:
				deleted++
				if e.exists(d.String()) {
					t.Errorf("at %d: %s reported deleted but exists", at, d)
				}
			case it.Result == plan.ResultSkipped && it.ResultReason.Code == plan.ReasonItemInterrupted:
				interrupted++
				if !e.exists(d.String()) {
					t.Errorf("at %d: %s reported interrupted but is gone", at, d)
				}
				if removed := it.ResultReason.Prior != nil && it.ResultReason.Prior.Code == plan.ReasonTagsRemoved; removed == tagThere {
					t.Errorf("at %d: build %d: reason %q, tag still there: %v", at, i+1, it.ResultReason, tagThere)
				}
			default:
				t.Errorf("at %d: %s %s %q", at, d, it.Result, it.ResultReason)
			}
		}
		wantDeleted := max(0, int(at)-7)
		if deleted != wantDeleted || interrupted != 7-wantDeleted {
			t.Errorf("at %d: %d deleted, %d interrupted; want %d and %d", at, deleted, interrupted, wantDeleted, 7-wantDeleted)
		}
		// A re-run finishes the job.
		r2 := saved(t, *r)
		if err := e.apply(e.open(), r2); err != nil {
			t.Fatal(err)
		}
		if got := e.tags(); !slices.Equal(got, []string{"1008", "latest"}) {
			t.Fatalf("at %d: tags after re-run %v", at, got)
		}
		for _, d := range ds[:7] {
			if e.exists(d.String()) {
				t.Errorf("at %d: %s survives the re-run", at, d)
			}
		}
		e.pullable(":latest")
	}
}

// Applying the same plan again after a partial failure finishes the job
// and deletes nothing extra; a third run changes nothing.
func TestRerunIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	ds, err := e.reg.SeedCI(e.ctx, e.repo, 6, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.index(specs(3, t0), "multi-old")
	if _, err := e.reg.Sign(e.ctx, e.repo, ds[0], "sig"); err != nil {
		t.Fatal(err)
	}
	r := e.plan(keep("latest"))
	// Every other digest DELETE fails.
	var k atomic.Int64
	h := &hooked{Repo: e.open(), del: func(ctx context.Context, ref string, real func() error) error {
		if strings.HasPrefix(ref, "sha256:") && k.Add(1)%2 == 0 {
			return status(http.StatusServiceUnavailable, "UNAVAILABLE")
		}
		return real()
	}}
	check := func(run string, rr *plan.RepoPlan) {
		t.Helper()
		for _, it := range rr.Items {
			if it.Action == plan.ActionKeep && !e.exists(it.Digest) {
				t.Fatalf("%s: kept %s (%s) deleted", run, it.Digest, it.Kind)
			}
		}
		e.pullable(":latest")
	}
	count := func(rr *plan.RepoPlan, result plan.Result) int {
		n := 0
		for _, it := range rr.Items {
			if it.Result == result {
				n++
			}
		}
		return n
	}

	first := saved(t, *r)
	if err := e.apply(h, first); err != nil {
		t.Fatal(err)
	}
	if count(first, plan.ResultFailed) == 0 || count(first, plan.ResultDeleted) == 0 {
		t.Fatalf("first run: %d failed, %d deleted; want a partial failure", count(first, plan.ResultFailed), count(first, plan.ResultDeleted))
	}
	check("first run", first)

	second := saved(t, *r)
	before := map[string]bool{}
	for _, it := range second.Items {
		before[it.Digest] = e.exists(it.Digest)
	}
	if err := e.apply(e.open(), second); err != nil {
		t.Fatal(err)
	}
	check("second run", second)
	for _, it := range second.Items {
		if it.Action != plan.ActionDelete {
			continue
		}
		switch {
		case e.exists(it.Digest):
			t.Errorf("second run: %s (%s) still there: %s %q", it.Digest, it.Kind, it.Result, it.ResultReason)
		case it.Result == plan.ResultDeleted && !before[it.Digest]:
			t.Errorf("second run reports deleting %s, which the first run deleted", it.Digest)
		case it.Result == plan.ResultSkipped && before[it.Digest]:
			t.Errorf("second run: %s skipped (%q) but was there", it.Digest, it.ResultReason)
		}
	}
	if count(second, plan.ResultFailed) != 0 || count(second, plan.ResultDeleted) == 0 {
		t.Fatalf("second run: %d failed, %d deleted", count(second, plan.ResultFailed), count(second, plan.ResultDeleted))
	}
	if got := e.tags(); !slices.Equal(got, []string{"1006", "latest"}) {
		t.Fatalf("tags %v", got)
	}

	third := saved(t, *r)
	h3 := &hooked{Repo: e.open()}
	if err := e.apply(h3, third); err != nil {
		t.Fatal(err)
	}
	for _, it := range third.Items {
		if it.Result == plan.ResultDeleted || it.Result == plan.ResultFailed || it.Result == plan.ResultUntagged {
			t.Errorf("third run: %s %s %q", it.Digest, it.Result, it.ResultReason)
		}
	}
	check("third run", third)
}

// A tag the inventory of this run already resolved by a GET is not read
// by tag again; the guard reads its manifest by digest.
func TestVerifiedTagNotReadAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	e.index(specs(2, t0), "v1")
	latest := e.image(t0.Add(time.Hour), "latest")
	r := e.plan(keep("latest"))
	r.VerifiedTags = map[string]string{"latest": latest.String()}
	var byTag atomic.Int64
	h := &hooked{Repo: e.open(), get: func(ref string) error {
		if !strings.HasPrefix(ref, "sha256:") {
			byTag.Add(1)
		}
		return nil
	}}
	if err := e.apply(h, r); err != nil {
		t.Fatal(err)
	}
	if byTag.Load() != 0 || r.Summary.DeleteManifests != 3 {
		t.Fatalf("GETs by tag %d (want 0), plan deletes %d", byTag.Load(), r.Summary.DeleteManifests)
	}
	e.pullable(":latest")
}
