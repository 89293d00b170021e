package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registrytest"
)

func repoList(n int) []engine.Job {
	out := make([]engine.Job, n)
	for i := range out {
		out[i] = engine.Job{Repository: fmt.Sprintf("registry.example.com/group%d/app-%d", i%7, i)}
	}
	return out
}

// Every repository lands in exactly one shard, whatever the order of the
// list each shard was given, for every total.
func TestShardsPartitionExactly(t *testing.T) {
	t.Parallel()
	all := repoList(1000)
	for _, total := range []int{1, 2, 3, 4, 7, 16, 100} {
		owner := map[string]int{}
		for i := range total {
			shuffled := slices.Clone(all)
			rand.New(rand.NewSource(int64(i))).Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
			s := engine.Shard{Index: i, Total: total}
			for _, tg := range s.Filter(shuffled) {
				if prev, dup := owner[tg.Repository]; dup {
					t.Fatalf("total %d: %s in shards %d and %d", total, tg.Repository, prev, i)
				}
				owner[tg.Repository] = i
			}
		}
		if len(owner) != len(all) {
			t.Fatalf("total %d: shards cover %d of %d repositories", total, len(owner), len(all))
		}
		// Shares are roughly even (FNV-1a over names that differ in digits).
		if total > 1 && total <= 16 {
			counts := make([]int, total)
			for _, i := range owner {
				counts[i]++
			}
			for i, c := range counts {
				if want := len(all) / total; c < want/2 || c > want*2 {
					t.Errorf("total %d: shard %d has %d repositories, expected about %d", total, i, c, want)
				}
			}
		}
	}
	// The zero Shard takes everything, in order.
	if got := (engine.Shard{}).Filter(all); !slices.EqualFunc(got, all, func(a, b engine.Job) bool { return a.Repository == b.Repository }) {
		t.Fatal("zero Shard filtered")
	}
}

// The assignment is FNV-1a 64 of the name, pinned by its published test
// vectors: pods of different builds, or a later run, agree. Changing the
// hash would silently move repositories between pods.
func TestShardAssignmentIsStable(t *testing.T) {
	t.Parallel()
	// FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c; of "" the offset basis 0xcbf29ce484222325.
	if got, want := engine.Of("a", 1000), int(uint64(0xaf63dc4c8601ec8c)%1000); got != want {
		t.Fatalf("Of(a, 1000) = %d, want %d (FNV-1a 64)", got, want)
	}
	if got, want := engine.Of("", 97), int(uint64(0xcbf29ce484222325)%97); got != want {
		t.Fatalf("Of(\"\", 97) = %d, want %d (FNV-1a 64)", got, want)
	}
}

func TestParseShard(t *testing.T) {
	t.Parallel()
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == engine.JobIndexEnv {
				return v
			}
			return ""
		}
	}
	good := []struct {
		in, env string
		want    engine.Shard
	}{
		{"", "", engine.Shard{}},
		{"0/1", "", engine.Shard{Index: 0, Total: 1}},
		{"2/4", "3", engine.Shard{Index: 2, Total: 4}}, // explicit index wins
		{"/4", "3", engine.Shard{Index: 3, Total: 4}},
		{"/4", "0", engine.Shard{Index: 0, Total: 4}},
	}
	for _, tc := range good {
		got, err := engine.ParseShard(tc.in, env(tc.env))
		if err != nil || got != tc.want {
			t.Errorf("ParseShard(%q, JOB_COMPLETION_INDEX=%q) = %v, %v; want %v", tc.in, tc.env, got, err, tc.want)
		}
	}
	bad := []struct{ in, env string }{
		{"4/4", ""}, {"-1/4", ""}, {"1/0", ""}, {"1", ""}, {"a/4", ""}, {"1/b", ""},
		{"/4", ""}, {"/4", "4"}, {"/4", "x"}, {"0/100000", ""},
	}
	for _, tc := range bad {
		if got, err := engine.ParseShard(tc.in, env(tc.env)); !errors.Is(err, engine.ErrBadShard) {
			t.Errorf("ParseShard(%q, JOB_COMPLETION_INDEX=%q) = %v, %v; want ErrBadShard", tc.in, tc.env, got, err)
		}
	}
}

// engine.Plan with a Shard plans only that shard's repositories, and the
// shards together plan every repository once.
func TestPlanHonoursShard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	var targets []engine.Job
	for i := range 6 {
		repo := fmt.Sprintf("team/app%d", i)
		if _, err := reg.SeedCI(ctx, repo, 2, t0, time.Hour); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, engine.Job{Repository: reg.Ref(repo), Policy: keepTag("latest")})
	}
	seen := map[string]int{}
	for i := range 3 {
		o := opts(reg)
		o.Shard = engine.Shard{Index: i, Total: 3}
		pl := engine.Plan(ctx, targets, plan.ModePlan, o)
		for _, r := range pl.Repositories {
			if r.Err != nil {
				t.Fatalf("%s: %s", r.Name, r.Err)
			}
			if !o.Shard.Has(r.Name) {
				t.Errorf("shard %d planned %s, which belongs to shard %d", i, r.Name, engine.Of(r.Name, 3))
			}
			seen[r.Name]++
		}
	}
	for _, tg := range targets {
		if seen[tg.Repository] != 1 {
			t.Errorf("%s planned %d times across the shards", tg.Repository, seen[tg.Repository])
		}
	}
}
