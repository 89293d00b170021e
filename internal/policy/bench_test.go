package policy_test

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/policy"
)

// Benchmarks of the pure policy evaluation over 100,000 images, with the
// graph built once outside the timer. Run with
//
//	go test -run '^$' -bench . -benchmem ./internal/policy
//
// Each image has a CI job tag; every 10th a branch tag (20 branches), every
// 50th a semver release tag; one is "latest". Ages are spread evenly over
// 90 days, every 1000th unknown (pinned to 1970).

const benchImages = 100_000

var benchNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func benchRepo(n int) *graph.Repository {
	r := graph.NewRepository("registry.example.com/group/app")
	step := 90 * 24 * time.Hour / time.Duration(n) // ages spread over 90 days
	for i := range n {
		d := fmt.Sprintf("sha256:%064x", i+1)
		m := &graph.Manifest{Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 1000,
			Blobs: []graph.Blob{{Digest: fmt.Sprintf("sha256:%064x", n+i+1), Size: 1 << 20}}}
		switch {
		case i%1000 == 999:
			m.CreatedConfig = time.Unix(0, 0).UTC() // reproducible build: unknown age
		default:
			m.CreatedConfig = benchNow.Add(-time.Duration(n-i) * step)
		}
		r.Manifests[d] = m
		r.Tags[fmt.Sprint(1000+i)] = d
		if i%10 == 0 {
			r.Tags[fmt.Sprintf("branch-%d-%d", i%20, i)] = d
		}
		if i%50 == 0 {
			r.Tags[fmt.Sprintf("v%d.%d.%d", i/50000, (i/5000)%10, (i/50)%100)] = d
		}
	}
	r.Tags["latest"] = fmt.Sprintf("sha256:%064x", n)
	return r
}

func mustRegex(expr string) *regexp.Regexp {
	re, err := policy.CompileRegex(expr)
	if err != nil {
		panic(err)
	}
	return re
}

func benchPolicies() []struct {
	name string
	p    policy.Policy
} {
	return []struct {
		name string
		p    policy.Policy
	}{
		{"keep-tag", policy.Policy{Keep: policy.Keep{Tags: []string{"latest"}}}},
		{"keep-newest", policy.Policy{Keep: policy.Keep{Tags: []string{"latest"}, Newest: 50}}},
		{"newer-than+older-than", policy.Policy{Keep: policy.Keep{NewerThan: 7 * 24 * time.Hour},
			Delete: policy.Delete{OlderThan: 30 * 24 * time.Hour}}},
		{"regex", policy.Policy{Keep: policy.Keep{Regex: []*regexp.Regexp{mustRegex(`v[0-9]+\.[0-9]+\.[0-9]+`)}},
			Delete: policy.Delete{Regex: []*regexp.Regexp{mustRegex(`[0-9]+`), mustRegex(`branch-.*`)}}}},
		{"semver-per-minor", policy.Policy{Keep: policy.Keep{Semver: &policy.Semver{Newest: 3, Per: "minor"}}}},
		{"group-per-branch", policy.Policy{Keep: policy.Keep{Group: &policy.Group{Regex: mustRegex(`branch-([0-9]+)-.*`), Newest: 5}}}},
		{"everything", policy.Policy{Keep: policy.Keep{
			Tags: []string{"latest"}, Regex: []*regexp.Regexp{mustRegex(`release-.*`)}, Newest: 10, NewerThan: 24 * time.Hour,
			Semver: &policy.Semver{Newest: 2, Per: "major"},
			Group:  &policy.Group{Regex: mustRegex(`branch-([0-9]+)-.*`), Newest: 3},
		}, Delete: policy.Delete{OlderThan: 14 * 24 * time.Hour}}},
	}
}

func BenchmarkEvaluate100k(b *testing.B) {
	repo := benchRepo(benchImages)
	for _, tc := range benchPolicies() {
		if err := tc.p.Validate(); err != nil {
			b.Fatalf("%s: %v", tc.name, err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var ds []policy.Decision
			for b.Loop() {
				ds = policy.Evaluate(repo, tc.p, benchNow)
			}
			if len(ds) != benchImages {
				b.Fatalf("%d decisions, want %d", len(ds), benchImages)
			}
			kept := 0
			for _, d := range ds {
				if d.Keep {
					kept++
				}
			}
			b.ReportMetric(float64(kept), "kept")
		})
	}
}

// TestBenchRepoShape keeps the benchmark's input honest (and runs its
// code under plain `go test`) on a small repository.
func TestBenchRepoShape(t *testing.T) {
	repo := benchRepo(2000)
	if got := len(repo.Images()); got != 2000 {
		t.Fatalf("images = %d, want 2000", got)
	}
	for _, tc := range benchPolicies() {
		ds := policy.Evaluate(repo, tc.p, benchNow)
		kept := 0
		for _, d := range ds {
			if d.Keep {
				kept++
			}
		}
		if kept == 0 || kept == len(ds) {
			t.Errorf("%s: kept %d of %d: the benchmark would not exercise deciding", tc.name, kept, len(ds))
		}
	}
}
