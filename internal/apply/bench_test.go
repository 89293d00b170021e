package apply

// BenchmarkApplyPerDeletion measures apply's own work per deletion, from
// 1,000 to 100,000 deletions: the re-checks, the ordering and the
// bookkeeping, with the registry taken out. The target is an in-memory
// map (a stand-in for timing only; every test of apply's behaviour runs
// against the real registry), so what grows with N here is apply's cost
// alone. `go run ./bench -apply-scale` measures the same against the real
// registry, where the registry's own cost is included.
//
//	go test -run '^$' -bench ApplyPerDeletion -benchtime 3x ./internal/apply

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

type memTarget struct {
	mu   sync.Mutex
	tags map[string]string
	on   map[string][]string // digest -> tags that named it
}

func (m *memTarget) Name() string { return "bench/app" }
func (m *memTarget) ListTags(ctx context.Context, fn func([]string) error) error {
	m.mu.Lock()
	ts := make([]string, 0, len(m.tags))
	for t := range m.tags {
		ts = append(ts, t)
	}
	m.mu.Unlock()
	for i := 0; i < len(ts); i += 1000 {
		if err := fn(ts[i:min(i+1000, len(ts))]); err != nil {
			return err
		}
	}
	return nil
}
func (m *memTarget) Head(ctx context.Context, ref string) (registry.Descriptor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d, ok := m.tags[ref]; ok {
		return registry.Descriptor{Digest: d}, nil
	}
	return registry.Descriptor{}, &registry.Error{Method: "HEAD", Status: 404}
}
func (m *memTarget) GetManifest(ctx context.Context, ref string) ([]byte, registry.Descriptor, error) {
	return nil, registry.Descriptor{}, &registry.Error{Method: "GET", Status: 404}
}
func (m *memTarget) Referrers(ctx context.Context, digest string) ([]byte, bool, error) {
	return nil, false, nil
}
func (m *memTarget) Delete(ctx context.Context, ref string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.tags, ref)
	if strings.HasPrefix(ref, "sha256:") { // a digest delete takes its tags, as on distribution
		for _, t := range m.on[ref] {
			if m.tags[t] == ref {
				delete(m.tags, t)
			}
		}
	}
	return nil
}

// benchRepo is a plan of n images to delete (every 10th signed) and the
// kept latest, and the tags of the registry it was made from. The kept
// tag counts as verified by a GET, as the inventory of the run that made
// the plan leaves it.
func benchRepo(n int) (plan.RepoPlan, map[string]string) {
	tags := map[string]string{"latest": "sha256:" + fmt.Sprintf("%064x", n)}
	r := plan.RepoPlan{Name: "bench/app", Tags: map[string]string{}, VerifiedTags: map[string]string{"latest": tags["latest"]}}
	for i := range n {
		d := fmt.Sprintf("sha256:%064x", i)
		tag := fmt.Sprint(1000 + i)
		tags[tag] = d
		r.Items = append(r.Items, plan.Item{Digest: d, Kind: plan.KindImage, Tags: []string{tag}, Action: plan.ActionDelete})
		if i%10 == 0 {
			s := fmt.Sprintf("sha256:%064x", n+1+i)
			st := "sha256-" + d[7:] + ".sig"
			tags[st] = s
			r.Items = append(r.Items, plan.Item{Digest: s, Kind: plan.KindSignature, Tags: []string{st}, Action: plan.ActionDelete, Subject: d})
		}
	}
	r.Items = append(r.Items, plan.Item{Digest: tags["latest"], Kind: plan.KindImage, Tags: []string{"latest"}, Action: plan.ActionKeep})
	for t, d := range tags {
		r.Tags[t] = d
	}
	return r, tags
}

// runBench applies a copy of r to a fresh memTarget holding tags and
// checks that only latest is left.
func runBench(tb testing.TB, r plan.RepoPlan, tags map[string]string, timer func(on bool)) {
	timer(false)
	rr := r
	rr.Items = append([]plan.Item(nil), r.Items...)
	m := &memTarget{tags: make(map[string]string, len(tags)), on: map[string][]string{}}
	for t, d := range tags {
		m.tags[t] = d
		m.on[d] = append(m.on[d], t)
	}
	timer(true)
	if err := Run(context.Background(), m, &rr, Options{}); err != nil {
		tb.Fatal(err)
	}
	if len(m.tags) != 1 {
		tb.Fatalf("%d tags left", len(m.tags))
	}
}

// The benchmark's setup is run by every `go test`, so that it cannot
// break unnoticed.
func TestApplyPerDeletionBenchRuns(t *testing.T) {
	r, tags := benchRepo(200)
	runBench(t, r, tags, func(bool) {})
}

func BenchmarkApplyPerDeletion(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r, tags := benchRepo(n)
			b.ResetTimer()
			for range b.N {
				runBench(b, r, tags, func(on bool) {
					if on {
						b.StartTimer()
					} else {
						b.StopTimer()
					}
				})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(r.Items)-1), "ns/deletion")
		})
	}
}
