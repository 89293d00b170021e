package inventory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/registry"
)

// chain adds n indexes to f, each listing the next, the last listing
// leaf, and returns the digest of the first.
func chain(f *fakeSource, n int, leaf string) string {
	d := leaf
	for i := 0; i < n; i++ {
		b := []byte(fmt.Sprintf(`{"mediaType":%q,"manifests":[{"digest":%q}]}`, registry.MediaOCIIndex, d))
		d = registry.Sha256(b)
		f.manifests[d] = b
	}
	return d
}

// Apply's way of reading: tags by HEAD only, each manifest's children
// read once however often asked, a manifest gone reaches nothing.
func TestReaderHeadsTagsAndReadsChildrenOnce(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, 6)
	leaf := f.tags["t0"]
	top := chain(f, 2, leaf)
	f.tags["multi"] = top
	r := NewReader(f, ReaderOptions{Concurrency: 4})
	tags, err := r.Tags(ctx)
	if err != nil || len(tags) != 7 || tags["multi"] != top {
		t.Fatalf("tags %v, err %v", tags, err)
	}
	if n := len(f.gets); n != 0 {
		t.Fatalf("resolving tags sent %d GETs, want HEADs only", n)
	}
	for range 3 {
		kids, err := r.Children(ctx, top)
		if err != nil || len(kids) != 1 {
			t.Fatalf("children %v, err %v", kids, err)
		}
	}
	if f.gets[top] != 1 {
		t.Fatalf("index read %d times, want once", f.gets[top])
	}
	if kids, err := r.Children(ctx, "sha256:"+strings.Repeat("0", 64)); err != nil || kids != nil {
		t.Fatalf("a manifest gone: children %v, err %v; want none", kids, err)
	}
	// Seed: a body read by the caller is not read again.
	if err := r.Seed(leaf, f.manifests[leaf]); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Children(ctx, leaf); err != nil || f.gets[leaf] != 0 {
		t.Fatalf("seeded manifest read %d times, err %v", f.gets[leaf], err)
	}
	if _, ok, err := r.Referrers(ctx, top); ok || err != nil {
		t.Fatalf("no referrers API: ok %v, err %v", ok, err)
	}
}

// The walk fails closed past its depth bound, in Collect as in apply.
func TestReaderWalkDepthBound(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, 1)
	f.tags["deep"] = chain(f, 18, f.tags["t0"])
	if _, err := Collect(ctx, f, Options{}); !errors.Is(err, registry.ErrBadResponse) {
		t.Fatalf("Collect of indexes nested 18 deep: err %v, want ErrBadResponse", err)
	}
	r := NewReader(f, ReaderOptions{})
	err := r.Walk(ctx, []string{f.tags["deep"]}, Walk{What: "indexes", MaxDepth: 16, Next: r.Children})
	if !errors.Is(err, registry.ErrBadResponse) {
		t.Fatalf("Walk: err %v, want ErrBadResponse", err)
	}
	var found []string
	err = r.Walk(ctx, []string{chain(f, 3, f.tags["t0"])}, Walk{What: "indexes", MaxDepth: 16, Next: r.Children,
		Found: func(from, to string) { found = append(found, to) }})
	if err != nil || len(found) != 3 || found[2] != f.tags["t0"] {
		t.Fatalf("found %v, err %v", found, err)
	}
}

// flakyReferrers has a referrers API that answers the first question
// only, then stops answering (404).
type flakyReferrers struct {
	*fakeSource
	asked int
}

func (f *flakyReferrers) Referrers(ctx context.Context, digest string) ([]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked++
	if f.asked > 1 {
		return nil, false, nil
	}
	return []byte(`{"mediaType":"` + registry.MediaOCIIndex + `","manifests":[]}`), true, nil
}

// A referrers API that stops answering mid-collection fails it closed,
// and the probe's answer is not asked for again.
func TestCollectReferrersAPIStopsAnswering(t *testing.T) {
	f := &flakyReferrers{fakeSource: newFake(t, 3)}
	g, err := Collect(context.Background(), f, Options{Concurrency: 1})
	if g != nil || !errors.Is(err, registry.ErrBadResponse) {
		t.Fatalf("graph %v, err %v; want no graph and ErrBadResponse", g, err)
	}
	if f.asked > 3 {
		t.Fatalf("referrers asked %d times for 3 subjects: the probe's answer was not reused", f.asked)
	}
}

// pagedSource lists its tags in pages, and blocks every HEAD until the
// last page has been listed: a Reader that waited for the tags of a page
// to resolve before asking for the next page would never finish.
type pagedSource struct {
	*fakeSource
	pages  [][]string
	listed chan struct{} // closed once the last page is handed over
}

func (p *pagedSource) ListTags(ctx context.Context, fn func([]string) error) error {
	for i, page := range p.pages {
		if err := fn(page); err != nil {
			return err
		}
		if i == len(p.pages)-1 {
			close(p.listed)
		}
	}
	return nil
}

func (p *pagedSource) Head(ctx context.Context, ref string) (registry.Descriptor, error) {
	select {
	case <-p.listed:
	case <-ctx.Done():
		return registry.Descriptor{}, ctx.Err()
	}
	return p.fakeSource.Head(ctx, ref)
}

// The listing runs ahead of the resolution: the next page is asked for
// while the tags of the first are still being resolved.
func TestReaderListsAheadOfResolution(t *testing.T) {
	f := newFake(t, 40)
	p := &pagedSource{fakeSource: f, listed: make(chan struct{})}
	for i := 0; i < 40; i += 10 {
		var page []string
		for j := i; j < i+10; j++ {
			page = append(page, fmt.Sprint("t", j))
		}
		p.pages = append(p.pages, page)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tags, err := NewReader(p, ReaderOptions{Concurrency: 4}).Tags(ctx)
	if err != nil || len(tags) != 40 {
		t.Fatalf("%d tags, err %v", len(tags), err)
	}
}
