package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// interruptSeed is a repository where signatures hang from images to
// delete: signed images (one with two tags, one also attested), an
// unsigned one, and an index whose child is signed.
type interruptSeed struct {
	sigs []v1.Hash // signatures and attestations
	all  []v1.Hash // every manifest the plan deletes
}

func seedInterrupt(t *testing.T, reg *registrytest.Registry, repo string) interruptSeed {
	t.Helper()
	ctx := context.Background()
	var s interruptSeed
	img := func(created time.Time, tags ...string) v1.Hash {
		_, h, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: created}, tags...)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	sign := func(subject v1.Hash, suffix string) {
		d, err := reg.Sign(ctx, repo, subject, suffix)
		if err != nil {
			t.Fatal(err)
		}
		s.sigs = append(s.sigs, d)
		s.all = append(s.all, d)
	}
	for i, tags := range [][]string{{"b1"}, {"b2", "b2-extra"}, {"b3"}} {
		d := img(t0.Add(time.Duration(i)*time.Minute), tags...)
		s.all = append(s.all, d)
		sign(d, "sig")
		if i == 2 {
			sign(d, "att")
		}
	}
	s.all = append(s.all, img(t0.Add(time.Hour), "unsigned", "unsigned-2"))
	idx, h, err := reg.PushIndex(ctx, repo, types.OCIImageIndex, []registrytest.Child{
		{Spec: &registrytest.ImageSpec{Created: t0}}, {Spec: &registrytest.ImageSpec{Created: t0}},
	}, nil, "multi")
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	s.all = append(s.all, h, im.Manifests[1].Digest)
	child := im.Manifests[0].Digest
	s.all = append(s.all, child)
	sign(child, "sig")
	img(t0.Add(2*time.Hour), "latest")
	return s
}

// Ctrl-C at every DELETE of an apply, the tag phase first: whatever was
// left, a re-run from a new plan (apply REPO again) finds every signature
// and attestation still attached to a tagged image and deletes it with
// its image; none is ever left as an orphan. Applying the first plan
// again then finishes the rest (images whose tags went before the
// interrupt, which a new plan cannot see). The interrupt comes from a
// proxy in front of the in-process registry, when the Nth DELETE reaches
// it; that DELETE is in flight and completes.
func TestInterruptAtEveryDeleteLeavesNoOrphan(t *testing.T) {
	t.Parallel()
	const repo = "ci/app"
	// Seeded once; every run starts from a copy of the storage.
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
			return false // forwarded
		}})
		o := engine.Options{Client: registry.New(registry.Options{Concurrency: 1}), Now: t0.Add(30 * 24 * time.Hour)}
		pl := engine.Plan(context.Background(), []engine.Job{{Repository: proxy.Host + "/" + repo, Policy: keepTag("latest")}}, plan.ModeApply, o)
		engine.Apply(context.Background(), pl, o)
		if got := tags(t, reg, repo); !slices.Equal(got, []string{"latest"}) {
			t.Fatalf("uninterrupted run: tags %v", got)
		}
		return int(n.Load())
	}()
	if total < 12 {
		t.Fatalf("%d DELETEs in a whole run; the seed should need more", total)
	}
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
					cancel() // Ctrl-C while this DELETE is in flight
				}
				return false // forwarded: it completes
			}})
			o := engine.Options{Client: registry.New(registry.Options{Concurrency: 1}), Now: t0.Add(30 * 24 * time.Hour)}
			target := []engine.Job{{Repository: proxy.Host + "/" + repo, Policy: keepTag("latest")}}
			first := engine.Plan(ctx, target, plan.ModeApply, o)
			saved := clonePlan(t, first)
			engine.Apply(ictx, first, o)
			// The item in flight finishes (an image's other tag, or its
			// digest after its last tag); nothing else starts.
			if got := n.Load(); got > int64(at)+1 {
				t.Fatalf("%d DELETEs after an interrupt at the %dth", got, at)
			}

			// apply REPO again: a new plan.
			again := engine.Plan(ctx, target, plan.ModeApply, o)
			for _, it := range again.Repositories[0].Items {
				if plan.HasCode(it.Reasons, plan.ReasonOrphan) || plan.HasCode(it.Reasons, plan.ReasonOrphanDeleted) {
					t.Errorf("the new plan sees an orphan: %s (%s, tags %v)", it.Digest, it.Kind, it.Tags)
				}
			}
			engine.Apply(ctx, again, o)
			if r := again.Repositories[0]; r.Err != nil {
				t.Fatalf("re-run: %s", r.Err)
			}
			if got := tags(t, reg, repo); !slices.Equal(got, []string{"latest"}) {
				t.Fatalf("tags after the re-run %v, want [latest]", got)
			}
			for _, d := range seed.sigs {
				if ok, err := reg.Exists(ctx, repo, d); err != nil || ok {
					t.Errorf("signature %s survives the re-run (err %v)", d, err)
				}
			}

			// apply --plan with the first plan: the rest goes.
			engine.Apply(ctx, saved, o)
			for _, d := range seed.all {
				if ok, err := reg.Exists(ctx, repo, d); err != nil || ok {
					t.Errorf("%s survives applying the first plan again (err %v)", d, err)
				}
			}
			if err := reg.Pullable(ctx, repo+":latest"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func clonePlan(t *testing.T, p *plan.Plan) *plan.Plan {
	t.Helper()
	var b strings.Builder
	if err := plan.WriteJSON(&b, p); err != nil {
		t.Fatal(err)
	}
	out, err := plan.Load(strings.NewReader(b.String()), "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// shmDir is a temporary directory in memory where the machine has one
// (as registrytest's own), removed at the end of the test.
func shmDir(t *testing.T) string {
	t.Helper()
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "regprune-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
