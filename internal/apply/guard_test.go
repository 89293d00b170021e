package apply

// Property test of the final guard: over random repositories pushed to the
// in-process distribution registry (images, indexes sharing and nesting
// children, cosign signatures, fallback-tag referrers) and random plans
// edited the way a hand or a bug could (keep flipped to delete, parent
// and subject links dropped), the guard never lets through a delete of
// anything reachable from a tag that stays. Reachability is the oracle's:
// inventory's graph closed over children and referrers.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

var g0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// seedRandom pushes a random repository and returns every digest pushed.
func seedRandom(t *testing.T, ctx context.Context, reg *registrytest.Registry, repo string, rng *rand.Rand) {
	t.Helper()
	pool := []string{"latest", "stable", "v1", "v2", "v3", "dev", "main", "rc"}
	tags := func() []string {
		var out []string
		for range rng.IntN(3) {
			out = append(out, pool[rng.IntN(len(pool))])
		}
		return out
	}
	var digests []v1.Hash
	var images []v1.Image
	for i := range 2 + rng.IntN(4) {
		img, h, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: g0.Add(time.Duration(i) * time.Hour), LayerSize: 64}, tags()...)
		if err != nil {
			t.Fatal(err)
		}
		digests, images = append(digests, h), append(images, img)
	}
	for range rng.IntN(3) {
		var kids []registrytest.Child
		for range 1 + rng.IntN(3) {
			switch rng.IntN(3) {
			case 0:
				kids = append(kids, registrytest.Child{Image: images[rng.IntN(len(images))]})
			case 1:
				kids = append(kids, registrytest.Child{Spec: &registrytest.ImageSpec{Created: g0, LayerSize: 64}})
			default:
				kids = append(kids, registrytest.Child{Children: []registrytest.Child{{Spec: &registrytest.ImageSpec{Created: g0, LayerSize: 64}}}})
			}
		}
		idx, h, err := reg.PushIndex(ctx, repo, types.OCIImageIndex, kids, nil, tags()...)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, h)
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range im.Manifests {
			digests = append(digests, d.Digest)
		}
	}
	for range rng.IntN(4) {
		d := digests[rng.IntN(len(digests))]
		if rng.IntN(2) == 0 {
			if _, err := reg.Sign(ctx, repo, d, []string{"sig", "att"}[rng.IntN(2)]); err != nil {
				t.Fatal(err)
			}
		} else if _, err := reg.AttachReferrer(ctx, repo, v1.Descriptor{Digest: d}, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// closure is what roots reach in g, over children and referrers.
func closure(g *graph.Repository, roots []string) map[string]bool {
	seen := map[string]bool{}
	q := append([]string(nil), roots...)
	for len(q) > 0 {
		d := q[0]
		q = q[1:]
		if seen[d] {
			continue
		}
		seen[d] = true
		if m := g.Manifests[d]; m != nil {
			q = append(q, m.Children...)
		}
		q = append(q, g.Referrers[d]...)
	}
	return seen
}

func TestGuardNeverLetsAReachableDeleteThrough(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	c := registry.New(registry.Options{})
	iterations, skippedByGuard, deletesLeft := 16, 0, 0
	for seed := range iterations {
		rng := rand.New(rand.NewPCG(uint64(seed), 10))
		name := fmt.Sprintf("prop%d", seed)
		seedRandom(t, ctx, reg, name, rng)
		repo, err := c.Open(ctx, reg.Ref(name), registry.PullDelete)
		if err != nil {
			t.Fatal(err)
		}
		g, err := inventory.Collect(ctx, repo, inventory.Options{})
		if err != nil {
			t.Fatal(err)
		}
		// A random keep-by-tag policy, then random edits of the saved plan.
		var keepTags []string
		for tag := range g.Tags {
			if _, _, art := graph.ArtifactTag(tag); !art && rng.IntN(2) == 0 {
				keepTags = append(keepTags, tag)
			}
		}
		p := policy.Policy{Keep: policy.Keep{Tags: keepTags}, AllowEmpty: true}
		built := plan.Build(g, policy.Evaluate(g, p, g0.Add(24*time.Hour)), p)
		var buf bytes.Buffer
		if err := plan.WriteJSON(&buf, plan.New("plan", g0, []plan.RepoPlan{built})); err != nil {
			t.Fatal(err)
		}
		loaded, err := plan.Load(&buf, "plan.json")
		if err != nil {
			t.Fatal(err)
		}
		r := &loaded.Repositories[0]
		var dups []plan.Item
		for i := range r.Items {
			it := &r.Items[i]
			switch {
			case it.Action == plan.ActionKeep && rng.IntN(3) == 0:
				it.Action, it.Untag = plan.ActionDelete, nil
			case it.Action == plan.ActionKeep && rng.IntN(2) == 0:
				// Listed again to delete (issue 19): Load refuses such
				// a file; the guard must hold without it.
				dup := *it
				dup.Action, dup.Untag = plan.ActionDelete, nil
				dups = append(dups, dup)
			}
			if rng.IntN(2) == 0 {
				it.Parent, it.Subject = "", ""
			}
		}
		r.Items = append(r.Items, dups...)

		a := &run{t: repo, r: r, o: Options{Concurrency: 4, Logger: slog.New(slog.DiscardHandler)}, ctx: ctx, req: ctx,
			read: inventory.NewReader(repo, inventory.ReaderOptions{Concurrency: 4}), gone: map[string]bool{}}
		now, err := a.resolve()
		if err != nil {
			t.Fatal(err)
		}
		a.latest = now
		if err := a.guard(); err != nil {
			t.Fatalf("seed %d: guard: %v", seed, err)
		}

		// The oracle: tags that stay are those no pending delete removes,
		// and those an entry keeps (a kept entry of their digest).
		removed, kept := map[string]bool{}, map[string]bool{}
		for _, it := range r.Items {
			if it.Action == plan.ActionKeep {
				kept[it.Digest] = true
			}
		}
		for _, it := range r.Items {
			if it.Action == plan.ActionDelete && it.Result == "" && !kept[it.Digest] {
				for _, tag := range it.Tags {
					if now[tag] == it.Digest {
						removed[tag] = true
					}
				}
			}
		}
		var roots, staying []string
		for tag, d := range now {
			if !removed[tag] {
				roots, staying = append(roots, d), append(staying, tag)
			}
		}
		sort.Strings(staying)
		reach := closure(g, roots)
		for _, it := range r.Items {
			if it.Action != plan.ActionDelete {
				continue
			}
			switch {
			case it.Result == "" && reach[it.Digest]:
				t.Errorf("seed %d: %s %s would be deleted, but a staying tag of %v reaches it", seed, it.Kind, it.Digest, staying)
			case it.Result == "":
				deletesLeft++
			case it.Result == plan.ResultSkipped:
				skippedByGuard++
				why := it.ResultReason
				if why.Code != plan.ReasonGuardReached || len(why.Tags) != 1 {
					t.Errorf("seed %d: %s skipped, not by the guard: %+v", seed, it.Digest, why)
					continue
				}
				if _, ok := now[why.Tags[0]]; !ok || removed[why.Tags[0]] {
					t.Errorf("seed %d: %s skipped naming %q, not a staying tag: %v", seed, it.Digest, why.Tags[0], why)
				}
			}
		}
	}
	t.Logf("%d random repositories: the guard skipped %d edited deletes and let %d through", iterations, skippedByGuard, deletesLeft)
	if skippedByGuard == 0 || deletesLeft == 0 {
		t.Fatalf("vacuous: %d skipped, %d let through", skippedByGuard, deletesLeft)
	}
}
