package plan

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/graph"
)

// A registry can claim any size: the bytes a plan frees saturate instead
// of wrapping to a negative figure.
func TestReclaimableBytesSaturate(t *testing.T) {
	repo := graph.NewRepository("reg.example/app")
	var items []Item
	for i, c := range []string{"a", "b"} {
		d := "sha256:" + strings.Repeat(c, 64)
		repo.Manifests[d] = &graph.Manifest{Digest: d, Size: math.MaxInt64 - 10,
			Blobs: []graph.Blob{{Digest: "sha256:" + strings.Repeat(string(rune('c'+i)), 64), Size: math.MaxInt64 - 1}}}
		items = append(items, Item{Digest: d, Kind: KindImage, Action: ActionDelete, Size: math.MaxInt64 - 10})
	}
	r := RepoPlan{Name: repo.Name, Items: items, Summary: summarize(repo, items)}
	if r.Summary.ReclaimableBytes != math.MaxInt64 {
		t.Fatalf("reclaimable %d, want MaxInt64", r.Summary.ReclaimableBytes)
	}
	pl := New(ModePlan, time.Time{}, []RepoPlan{r, r})
	if pl.ReclaimableBytes != math.MaxInt64 || pl.Summary.ReclaimableBytes != math.MaxInt64 {
		t.Fatalf("totals %d", pl.ReclaimableBytes)
	}
	if satAdd(-5, 3) != 3 || satAdd(math.MaxInt64, 1) != math.MaxInt64 {
		t.Fatal("satAdd")
	}
}

// A loaded plan's summaries are recomputed from its items, whatever the
// file says.
func TestLoadRecountsSummaries(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, samplePlan()); err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(b.String(), `"0|x"`, `"old"`, 1)
	s = strings.Replace(s, `"delete": 1,`, `"delete": 99,`, 1)
	s = strings.Replace(s, `"keep": 1,`, `"keep": 0,`, 1)
	p, err := Load(strings.NewReader(s), "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Repositories[0].Summary; got.Delete != 1 || got.Keep != 1 || got.Images != 2 || got.DeleteManifests != 1 || got.ReclaimableBytes != 2048 {
		t.Fatalf("summary %+v", got)
	}
	if p.Summary.Delete != 1 {
		t.Fatalf("totals %+v", p.Summary)
	}
	neg := strings.Replace(s, `"size": 2048`, `"size": -1`, 1)
	if _, err := Load(strings.NewReader(neg), "plan.json"); !errors.Is(err, ErrBadPlan) {
		t.Fatalf("negative size: %v", err)
	}
}

// A plan file larger than the bound is refused, naming it, without
// reading it all: an endless stream stops at the bound (1 MiB here; Load's
// is MaxFileSize, 256 MiB, which would take the test 2.5 CPU-seconds).
func TestLoadBoundsTheFile(t *testing.T) {
	r := io.MultiReader(strings.NewReader(`{"kind":"regprune-plan","x":"`), zeros{})
	_, err := load(r, "huge.json", 1<<20)
	if !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), "1 MiB, the bound of a plan file") {
		t.Fatalf("err %v", err)
	}
	// Right at the bound, the file is read (and found to be no plan).
	exact := `{"kind":"regprune-plan","x":"` + strings.Repeat("a", 1<<20-len(`{"kind":"regprune-plan","x":""}`)) + `"}`
	if _, err := load(strings.NewReader(exact), "exact.json", 1<<20); !errors.Is(err, ErrBadPlan) || strings.Contains(err.Error(), "the bound of a plan file") {
		t.Fatalf("a file of exactly the bound: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}
