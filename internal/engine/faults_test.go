package engine_test

// Fault injection: registrytest.Proxy in front of the in-process registry
// answers 429 with Retry-After, 503, or drops the connection, at set
// rates. An apply through it must end in exactly the registry state of a
// fault-free apply of the same content (in one run, or after re-running
// the same saved plan), delete nothing extra on the way, and leave every
// kept image fully pullable.
//
// Both registries start from byte-identical copies of one seeded storage
// directory, so their digests are the same and their states comparable.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

var fRepos = []string{"ci/app", "ci/lib"}

var fPolicy = policy.Policy{Keep: policy.Keep{Tags: []string{"latest", "stable", "multi-new"}, Newest: 2}}

// fSeedDir seeds a registry with CI builds, shared tags, multi-arch
// indexes, signatures and a referrer, and returns its storage directory.
func fSeedDir(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := shmDir(t) // the filesystem driver on a tmpfs: far fewer syscalls to wait for
	reg := registrytest.New(t, registrytest.Options{Dir: dir})
	ds, err := reg.SeedCI(ctx, "ci/app", 10, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.SeedCI(ctx, "ci/lib", 5, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	// A shared digest: "stable" and a job tag on one image.
	if _, _, err := reg.PushImage(ctx, "ci/app", registrytest.ImageSpec{Created: t0.Add(30 * time.Minute)}, "2001", "stable"); err != nil {
		t.Fatal(err)
	}
	kids := func(created time.Time) []registrytest.Child {
		out := make([]registrytest.Child, 3)
		for i := range out {
			out[i] = registrytest.Child{Spec: &registrytest.ImageSpec{Created: created}}
		}
		return out
	}
	if _, _, err := reg.PushIndex(ctx, "ci/app", types.OCIImageIndex, kids(t0.Add(90*time.Minute)), nil, "multi-old"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.PushIndex(ctx, "ci/app", types.DockerManifestList, kids(t0.Add(2*time.Hour)), nil, "multi-new"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []v1.Hash{ds[0], ds[9]} {
		if _, err := reg.Sign(ctx, "ci/app", d, "sig"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.AttachReferrer(ctx, "ci/app", v1.Descriptor{Digest: ds[1]}, ""); err != nil {
		t.Fatal(err)
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fRegistry starts a registry on a copy of dir.
func fRegistry(t *testing.T, dir string) *registrytest.Registry {
	t.Helper()
	return registrytest.New(t, registrytest.Options{From: dir})
}

func fTargets(host string) []engine.Job {
	var out []engine.Job
	for _, r := range fRepos {
		out = append(out, engine.Job{Repository: host + "/" + r, Policy: fPolicy})
	}
	return out
}

func fSave(t *testing.T, p *plan.Plan) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := plan.WriteJSON(&buf, p); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func fLoad(t *testing.T, b []byte) *plan.Plan {
	t.Helper()
	p, err := plan.Load(bytes.NewReader(b), "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fDecisions maps digest -> action, per repository.
func fDecisions(p *plan.Plan) []map[string]plan.Action {
	var out []map[string]plan.Action
	for _, r := range p.Repositories {
		m := map[string]plan.Action{}
		for _, it := range r.Items {
			m[it.Digest] = it.Action
		}
		out = append(out, m)
	}
	return out
}

// fState is what a registry holds: every tag with its digest, and which
// of the plan's digests exist.
type fState struct {
	Tags   map[string]string
	Exists map[string]bool
}

func fStateOf(t *testing.T, reg *registrytest.Registry, repo string, digests []string) fState {
	t.Helper()
	ctx := context.Background()
	r, err := registry.New(registry.Options{}).Open(ctx, reg.Ref(repo), registry.Pull)
	if err != nil {
		t.Fatal(err)
	}
	s := fState{Tags: map[string]string{}, Exists: map[string]bool{}}
	err = r.ListTags(ctx, func(tags []string) error {
		for _, tg := range tags {
			d, err := r.Head(ctx, tg)
			if err != nil {
				return err
			}
			s.Tags[tg] = d.Digest
		}
		return nil
	})
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		t.Fatal(err)
	}
	for _, d := range digests {
		_, err := r.Head(ctx, d)
		switch {
		case err == nil:
			s.Exists[d] = true
		case errors.Is(err, registry.ErrNotFound):
			s.Exists[d] = false
		default:
			t.Fatal(err)
		}
	}
	return s
}

func fDigests(r plan.RepoPlan) []string {
	var out []string
	for _, it := range r.Items {
		out = append(out, it.Digest)
	}
	return out
}

// fKeptIntact checks that every digest the plan keeps exists.
func fKeptIntact(t *testing.T, reg *registrytest.Registry, p *plan.Plan, when string) {
	t.Helper()
	for i, r := range p.Repositories {
		for _, it := range r.Items {
			if it.Action != plan.ActionKeep {
				continue
			}
			h, _ := v1.NewHash(it.Digest)
			ok, err := reg.Exists(context.Background(), fRepos[i], h)
			if err != nil || !ok {
				t.Fatalf("%s: kept %s (%s, tags %v) gone: %v", when, it.Digest, it.Kind, it.Tags, err)
			}
		}
	}
}

type fScenario struct {
	name  string
	proxy registrytest.ProxyOptions
	retry registry.RetryPolicy
}

func TestFaultyApplyMatchesFaultFree(t *testing.T) {
	t.Parallel()
	golden := fSeedDir(t)
	ctx := context.Background()

	// The reference: a fault-free plan and apply.
	base := fRegistry(t, golden)
	bo := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour)}
	bplan := engine.Plan(ctx, fTargets(base.Host), plan.ModeApply, bo)
	engine.Apply(ctx, bplan, bo)
	if err := engine.Result(bplan); err != nil {
		t.Fatalf("fault-free apply: %v", err)
	}
	if bplan.Summary.Deleted == 0 || bplan.Summary.Keep == 0 {
		t.Fatalf("fault-free apply did nothing useful: %+v", bplan.Summary)
	}
	var want []fState
	for i, r := range bplan.Repositories {
		want = append(want, fStateOf(t, base, fRepos[i], fDigests(r)))
	}
	bgc, err := base.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fault-free: %d deleted, %d untagged, %d kept images; blobs %d -> %d after GC",
		bplan.Summary.Deleted, bplan.Summary.Untagged, bplan.Summary.Keep, bgc.BlobsBefore, bgc.BlobsAfter)

	fast := registry.RetryPolicy{Base: 5 * time.Millisecond, MaxWait: 20 * time.Millisecond}
	for _, sc := range []fScenario{
		{"mixed", registrytest.ProxyOptions{Rate429: 0.10, Rate503: 0.10, RateDrop: 0.05, Seed: 1}, fast},
		{"rate-limited", registrytest.ProxyOptions{Rate429: 0.30, Seed: 2}, registry.RetryPolicy{Max: 10, Base: fast.Base, MaxWait: fast.MaxWait}},
		{"deletes", registrytest.ProxyOptions{Rate503: 0.30, RateDrop: 0.20, Seed: 3, FaultMethods: []string{"DELETE"}},
			registry.RetryPolicy{Max: 1, Base: fast.Base, MaxWait: fast.MaxWait}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			reg := fRegistry(t, golden)
			proxy := registrytest.NewTestProxy(t, reg.URL, sc.proxy)
			client := registry.New(registry.Options{Retry: sc.retry})
			o := engine.Options{Client: client, Now: bo.Now}

			// Plan through the faults; a repository that failed to plan
			// (fail closed) is planned again.
			var saved []byte
			var plans int
			for plans = 1; plans <= 5; plans++ {
				p := engine.Plan(ctx, fTargets(proxy.Host), plan.ModePlan, o)
				if p.Summary.Failed == 0 {
					saved = fSave(t, p)
					break
				}
			}
			if saved == nil {
				t.Fatal("no plan in 5 attempts")
			}
			p0 := fLoad(t, saved)
			if got, w := fDecisions(p0), fDecisions(bplan); !slices.EqualFunc(got, w, maps.Equal) {
				t.Fatal("the plan made through faults differs from the fault-free plan")
			}

			// Apply the saved plan; re-run it while anything failed.
			var runs int
			var outcomes []string
			for runs = 1; runs <= 10; runs++ {
				p := fLoad(t, saved)
				engine.Apply(ctx, p, o)
				err := engine.Result(p)
				s := p.Summary
				outcomes = append(outcomes, fmt.Sprintf("run %d: deleted %d, untagged %d, skipped %d, failed %d, failed repos %d",
					runs, s.Deleted, s.Untagged, s.Skipped, s.FailedItems, s.Failed))
				fKeptIntact(t, reg, p, fmt.Sprintf("after run %d", runs))
				if err == nil {
					break
				}
				if !errors.Is(err, engine.ErrPartial) && !errors.Is(err, engine.ErrNothing) {
					t.Fatalf("run %d: %v", runs, err)
				}
			}
			if runs > 10 {
				t.Fatalf("not done after 10 runs: %s", strings.Join(outcomes, "; "))
			}

			for i, r := range bplan.Repositories {
				got := fStateOf(t, reg, fRepos[i], fDigests(r))
				if !maps.Equal(got.Tags, want[i].Tags) {
					t.Errorf("%s: tags %v, fault-free %v", fRepos[i], got.Tags, want[i].Tags)
				}
				if !maps.Equal(got.Exists, want[i].Exists) {
					for d, e := range want[i].Exists {
						if got.Exists[d] != e {
							t.Errorf("%s: %s exists %v, fault-free %v", fRepos[i], d, got.Exists[d], e)
						}
					}
				}
			}
			// Every kept image pulls in full, through the faults too.
			pulls := reg.PullSet() // nothing changes the registry while it checks
			for i, r := range p0.Repositories {
				for _, it := range r.Items {
					if it.Action == plan.ActionKeep && it.Kind == plan.KindImage {
						if err := pulls.Pullable(ctx, fRepos[i]+"@"+it.Digest); err != nil {
							t.Errorf("kept image not pullable: %v", err)
						}
					}
				}
			}
			gc, err := reg.GC(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if gc.BlobsAfter != bgc.BlobsAfter || gc.BytesAfter != bgc.BytesAfter {
				t.Errorf("after GC: %d blobs, %d bytes; fault-free %d, %d", gc.BlobsAfter, gc.BytesAfter, bgc.BlobsAfter, bgc.BytesAfter)
			}
			c, st := proxy.Counts(), client.Stats().Snapshot()
			t.Logf("%s: faults 429 %.0f%%, 503 %.0f%%, drop %.0f%% (methods %v), retries max %d",
				sc.name, 100*sc.proxy.Rate429, 100*sc.proxy.Rate503, 100*sc.proxy.RateDrop, sc.proxy.FaultMethods, cmp.Or(sc.retry.Max, 6))
			t.Logf("%s: %d plan attempts, %d apply runs: %s", sc.name, plans, runs, strings.Join(outcomes, "; "))
			t.Logf("%s: proxy saw %d requests, %d faulted (tags/list %d, HEAD %d, manifest GET %d, blob GET %d, DELETE %d, other %d)",
				sc.name, c.Total, c.Faulted, c.TagList, c.ManifestHEAD, c.ManifestGET, c.BlobGET, c.ManifestDELETE, c.Other)
			t.Logf("%s: client sent %d requests, %d retries, %d answered 429 (DELETE %d, HEAD %d, manifest GET %d)",
				sc.name, st.Requests, st.Retries, st.RateLimited, st.Delete, st.Head, st.ManifestGet)
			if c.Faulted == 0 || st.Retries == 0 {
				t.Errorf("no fault injected (%d) or none retried (%d): the scenario tests nothing", c.Faulted, st.Retries)
			}
		})
	}
}

// Ctrl-C in the middle of an apply: requests in flight finish, nothing new
// starts, every result matches the registry, and re-running the saved
// plan finishes the job.
func TestInterruptReportsWhatWasDone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.SeedCI(ctx, "ci/app", 12, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{Latency: 20 * time.Millisecond})
	client := registry.New(registry.Options{Concurrency: 2})
	o := engine.Options{Client: client, Now: t0.Add(30 * 24 * time.Hour)}
	target := []engine.Job{{Repository: proxy.Host + "/ci/app", Policy: keepTag("latest")}}
	saved := fSave(t, engine.Plan(ctx, target, plan.ModePlan, o))

	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped, applied := make(chan struct{}), make(chan struct{})
	go func() { // Ctrl-C once 4 DELETEs have reached the registry
		defer close(stopped)
		poll := time.NewTicker(2 * time.Millisecond)
		defer poll.Stop()
		limit := time.After(time.Minute) // a guard against a hang, not a timing
		for proxy.Counts().ManifestDELETE < 4 {
			select {
			case <-applied: // finished before 4 DELETEs: nothing left to interrupt
				return
			case <-limit:
				t.Error("4 DELETEs did not reach the registry within a minute")
				cancel()
				return
			case <-poll.C:
			}
		}
		cancel()
	}()
	p := fLoad(t, saved)
	engine.Apply(actx, p, o)
	close(applied)
	<-stopped
	deletesAtCancel := proxy.Counts().ManifestDELETE
	var interrupted int
	for _, it := range p.Repositories[0].Items {
		if it.Action != plan.ActionDelete {
			continue
		}
		h, _ := v1.NewHash(it.Digest)
		there, err := reg.Exists(ctx, "ci/app", h)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case it.Result == plan.ResultDeleted && there:
			t.Errorf("%s reported deleted, still there", it.Digest)
		case it.Result != plan.ResultDeleted && !there:
			t.Errorf("%s reported %s %q, but gone", it.Digest, it.Result, it.ResultReason)
		}
		if c := it.ResultReason.Code; c == plan.ReasonItemInterrupted || c == plan.ReasonRepoInterrupted {
			interrupted++
		}
	}
	if interrupted == 0 {
		t.Fatalf("no item reported interrupted (%d DELETEs)", deletesAtCancel)
	}
	t.Logf("interrupted after %d DELETEs, with %d of %d deletions reported not started", deletesAtCancel, interrupted, p.Summary.Delete)

	p2 := fLoad(t, saved)
	engine.Apply(ctx, p2, o)
	if err := engine.Result(p2); err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if got := tags(t, reg, "ci/app"); !slices.Equal(got, []string{"1012", "latest"}) {
		t.Fatalf("tags after re-run %v", got)
	}
	if err := reg.Pullable(ctx, "ci/app:latest"); err != nil {
		t.Fatal(err)
	}
}

// A registry that stops answering cannot hang the run: the run's deadline
// (--timeout) ends it, the repository is reported failed, and nothing is
// deleted.
func TestHungRegistryTimesOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.SeedCI(ctx, "ci/app", 3, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(24 * time.Hour)}
	target := []engine.Job{{Repository: proxy.Host + "/ci/app", Policy: keepTag("latest")}}
	saved := fSave(t, engine.Plan(ctx, target, plan.ModePlan, o))

	proxy.SetOptions(registrytest.ProxyOptions{Latency: time.Hour}) // hung
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	p := fLoad(t, saved)
	engine.Apply(rctx, p, o)
	if err := engine.Result(p); !errors.Is(err, engine.ErrNothing) {
		t.Fatalf("result %v; want ErrNothing", err)
	}
	r := p.Repositories[0]
	if !errors.Is(r.Err, context.DeadlineExceeded) && !errors.Is(r.Err, context.Canceled) {
		t.Errorf("repository error %v does not say it timed out", r.Err)
	}
	proxy.SetOptions(registrytest.ProxyOptions{})
	if got := tags(t, reg, "ci/app"); len(got) != 4 {
		t.Fatalf("tags %v: something was deleted", got)
	}
}
