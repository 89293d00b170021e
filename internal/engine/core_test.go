package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
	"github.com/regprune/regprune/internal/report"
)

func push(t *testing.T, reg *registrytest.Registry, repo string, created time.Time, tags ...string) string {
	t.Helper()
	_, h, err := reg.PushImage(context.Background(), repo, registrytest.ImageSpec{Created: created}, tags...)
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func item(t *testing.T, r plan.RepoPlan, digest string) plan.Item {
	t.Helper()
	for _, it := range r.Items {
		if it.Digest == digest {
			return it
		}
	}
	t.Fatalf("no item %s in plan", digest)
	return plan.Item{}
}

// A digest shared by a kept tag and another tag: the image is the unit,
// so both tags stay, and no DELETE is sent. With the untag_unkept opt-in
// the other tag goes where the registry can delete a tag alone (v3); on
// distribution 2.x, which cannot, the untag is skipped with the reason
// and the image keeps both tags. Either way the image pulls after GC.
func TestSharedDigestKeepsKeptTag(t *testing.T) { onBackends(t, testSharedDigestKeepsKeptTag) }

func testSharedDigestKeepsKeptTag(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	const repo = "app"
	shared := push(t, reg, repo, t0, "1001", "stable")
	push(t, reg, repo, t0.Add(time.Hour), "1002", "latest")
	pl := run(t, reg, repo, keepTag("latest", "stable"))
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"1001", "1002", "latest", "stable"}) {
		t.Fatalf("tags = %v, want every tag of the kept images", got)
	}
	it := item(t, pl.Repositories[0], shared)
	if it.Action != plan.ActionKeep || it.Result != "" || len(it.Untag) != 0 {
		t.Fatalf("shared item = %+v", it)
	}

	// An old build to delete: its tag is the probe of tag deletes.
	old := push(t, reg, repo, t0.Add(-time.Hour), "1000")
	p := keepTag("latest", "stable")
	p.UntagUnkept = true
	pl = run(t, reg, repo, p)
	if it := item(t, pl.Repositories[0], old); it.Result != plan.ResultDeleted {
		t.Fatalf("old build: %+v", it)
	}
	it = item(t, pl.Repositories[0], shared)
	want := []string{"latest", "stable"}
	switch reg.Flavour {
	case registrytest.FlavourV3:
		if it.Result != plan.ResultUntagged || !slices.Equal(it.Untag, []string{"1001"}) {
			t.Fatalf("with untag_unkept: shared item = %+v", it)
		}
	default:
		// The probe (the old build's tag) answered 400: the old build
		// went by digest, and the untag is skipped.
		if c := pl.Repositories[0].Capabilities; c == nil || c.TagDelete != plan.CapRefused || c.Deletes != plan.CapWorks {
			t.Errorf("capabilities %+v, want tag delete refused, deletes work", c)
		}
		if it.Result != plan.ResultSkipped {
			t.Fatalf("with untag_unkept on %s: shared item = %+v, want skipped", reg.Flavour, it)
		}
		want = []string{"1001", "1002", "latest", "stable"}
	}
	if got := tags(t, reg, repo); !slices.Equal(got, want) {
		t.Fatalf("with untag_unkept: tags = %v, want %v", got, want)
	}
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{":stable", ":latest", "@" + shared} {
		if err := reg.Pullable(ctx, repo+ref); err != nil {
			t.Fatal(err)
		}
	}
}

// keep-newest ranks by build time, not by tag name: the tags sort the
// other way round from the ages.
func TestKeepNewestByCreationTime(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "app"
	newest := push(t, reg, repo, t0.Add(3*time.Hour), "a-old-name")
	second := push(t, reg, repo, t0.Add(2*time.Hour), "b")
	oldest := push(t, reg, repo, t0.Add(1*time.Hour), "z-new-name")
	pl := run(t, reg, repo, policy.Policy{Keep: policy.Keep{Newest: 2}})
	r := pl.Repositories[0]
	for d, want := range map[string]plan.Action{newest: plan.ActionKeep, second: plan.ActionKeep, oldest: plan.ActionDelete} {
		if got := item(t, r, d).Action; got != want {
			t.Errorf("%s: action %s, want %s (reasons %v)", d, got, want, item(t, r, d).Reasons)
		}
	}
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"a-old-name", "b"}) {
		t.Fatalf("tags = %v", got)
	}
}

// older-than selects candidates by build time; an image of unknown age
// (reproducible build pinned to 1970) is never deleted by it.
func TestOlderThan(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "app"
	now := t0.Add(30 * 24 * time.Hour) // what opts() passes as Now
	push(t, reg, repo, now.Add(-40*24*time.Hour), "old")
	push(t, reg, repo, now.Add(-2*24*time.Hour), "recent")
	pinned := push(t, reg, repo, time.Unix(0, 0), "reproducible")
	pl := run(t, reg, repo, policy.Policy{Delete: policy.Delete{OlderThan: 30 * 24 * time.Hour}})
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"recent", "reproducible"}) {
		t.Fatalf("tags = %v", got)
	}
	it := item(t, pl.Repositories[0], pinned)
	if it.Created != nil || !plan.HasCode(it.Reasons, plan.ReasonCode(policy.RuleNotCandidate)) {
		t.Fatalf("pinned image: created %v, reasons %v", it.Created, it.Reasons)
	}
}

// A registry with delete disabled: a clear message, nothing retried,
// nothing deleted, and the run classifies as "nothing could be done".
// The first DELETE of each kind tells (a 405 to a tag delete may also mean
// "no tag delete", which the spec allows; the first digest delete, sent
// alone, settles it): 2 DELETEs reach the registry, where the previous
// tree sent 6 for the first repository alone (9 in the layout).
// The refusal is recorded once per registry with its cause and fix, and no
// freed bytes are claimed. A second repository of the same registry sends
// no DELETE at all.
func TestDeleteDisabled(t *testing.T) { onBackends(t, testDeleteDisabled) }

func testDeleteDisabled(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{DeleteDisabled: true})
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	const repo, repo2 = "app", "app2"
	for _, r := range []string{repo, repo2} {
		if _, err := reg.SeedCI(ctx, r, 10, t0, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	client := registry.New(registry.Options{})
	o := engine.Options{Client: client, Now: t0.Add(24 * time.Hour), Parallel: 1}
	pl := engine.Plan(ctx, []engine.Job{
		{Repository: proxy.Host + "/" + repo, Policy: keepTag("latest")},
		{Repository: proxy.Host + "/" + repo2, Policy: keepTag("latest")},
	}, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	err := engine.Result(pl)
	if !errors.Is(err, engine.ErrNothing) {
		t.Fatalf("err %v; want ErrNothing", err)
	}
	var msgs []plan.Reason
	disabled := false
	for _, it := range pl.Repositories[0].Items {
		if it.Result == plan.ResultFailed || it.Result == plan.ResultSkipped {
			msgs = append(msgs, it.ResultReason)
			why := it.ResultReason
			if why.Code == plan.ReasonNotAttempted && why.Prior != nil {
				why = *why.Prior
			}
			disabled = disabled || (why.Code == plan.ReasonDeletesDisabled && errors.Is(why.Err, registry.ErrUnsupported))
		}
	}
	if !disabled {
		t.Fatalf("results do not say the registry refuses deletes: %q", msgs)
	}
	if s := client.Stats().Snapshot(); s.Retries != 0 {
		t.Fatalf("retried %d requests; an UNSUPPORTED answer must not be retried", s.Retries)
	}
	for _, r := range []string{repo, repo2} {
		if got := tags(t, reg, r); len(got) != 11 {
			t.Fatalf("%s: tags = %v, want all 11 still there", r, got)
		}
	}
	if c := proxy.Counts(); c.ManifestDELETE != 2 {
		t.Errorf("%d DELETEs reached the registry, want 2 (the first tag delete and the first digest delete of the first repository)", c.ManifestDELETE)
	}
	regs := pl.Registries
	if len(regs) != 1 || regs[0].Deletes != plan.CapRefused || len(regs[0].Notes) != 1 ||
		!strings.Contains(regs[0].Notes[0], "405") || !strings.Contains(regs[0].Notes[0], "storage.delete.enabled: true") {
		t.Errorf("registries %+v, want deletes refused, one note naming 405 and the fix", regs)
	}
	if f := pl.Summary.FreedBytes; f == nil || *f != 0 {
		t.Errorf("freed bytes %v, want 0 claimed", f)
	}
	var buf strings.Builder
	if err := report.Render(&buf, pl, "table"); err != nil || !strings.Contains(buf.String(), "nothing freed") {
		t.Errorf("table claims freed bytes: %v\n%s", err, buf.String())
	}
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags(t, reg, repo) {
		if err := reg.Pullable(ctx, repo+":"+tag); err != nil {
			t.Fatal(err)
		}
	}
}

// A repository that cannot be read is reported and nothing in it is
// deleted, while the others go on.
func TestFailClosedPerRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.SeedCI(ctx, "good", 3, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	o := opts(reg)
	targets := []engine.Job{
		{Repository: reg.Ref("good"), Policy: keepTag("latest")},
		{Repository: reg.Ref("missing"), Policy: keepTag("latest")},
	}
	pl := engine.Plan(ctx, targets, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	if pl.Repositories[1].Err == nil || pl.Repositories[0].Err != nil {
		t.Fatalf("errors: good %q, missing %q", pl.Repositories[0].Err, pl.Repositories[1].Err)
	}
	if err := engine.Result(pl); !errors.Is(err, engine.ErrPartial) {
		t.Fatalf("err %v; want ErrPartial", err)
	}
	if got := tags(t, reg, "good"); !slices.Equal(got, []string{"1003", "latest"}) {
		t.Fatalf("good tags = %v", got)
	}
}

// After an interrupt, repositories not yet started are reported as
// interrupted, not as failed, and nothing in them is deleted.
func TestApplyAfterInterruptSkipsUnstartedRepositories(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.SeedCI(context.Background(), "app", 3, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	o := opts(reg)
	pl := engine.Plan(context.Background(), []engine.Job{{Repository: reg.Ref("app"), Policy: keepTag("latest")}}, plan.ModeApply, o)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	engine.Apply(ctx, pl, o)
	r := pl.Repositories[0]
	if r.Err != nil || r.Summary.Skipped == 0 || r.Summary.Deleted != 0 {
		t.Fatalf("error %q, summary %+v", r.Err, r.Summary)
	}
	if got := tags(t, reg, "app"); len(got) != 4 {
		t.Fatalf("tags = %v, want all 4", got)
	}
}

// Image configs are read only when a rule needs build times: a plan that
// keeps by tag sends no blob GET, one that keeps the newest reads each
// config once.
func TestConfigsReadOnlyForAgeRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.SeedCI(ctx, "app", 4, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p        policy.Policy
		blobGets int64
	}{
		{keepTag("latest"), 0},
		{policy.Policy{Keep: policy.Keep{Newest: 2}}, 4},
	} {
		client := registry.New(registry.Options{})
		pl := engine.Plan(ctx, []engine.Job{{Repository: reg.Ref("app"), Policy: tc.p}}, plan.ModePlan, engine.Options{Client: client, Now: t0.Add(24 * time.Hour)})
		r := pl.Repositories[0]
		if got := client.Stats().Snapshot().BlobGet; got != tc.blobGets || r.AgesRead != tc.p.NeedsAges() {
			t.Errorf("policy %+v: %d blob GETs, ages_read %v; want %d, %v", tc.p.Keep, got, r.AgesRead, tc.blobGets, tc.p.NeedsAges())
		}
	}
}
