package inventory

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/regprune/regprune/internal/registry"
)

// memCache is an in-memory Cache with hints.
type memCache struct {
	mu    sync.Mutex
	data  map[string][]byte
	hints map[string]map[string]string
}

func (m *memCache) Get(d string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.data[d]
	return b, ok
}
func (m *memCache) Put(d string, b []byte) { m.mu.Lock(); m.data[d] = b; m.mu.Unlock() }
func (m *memCache) Hints(repo string) map[string]string {
	return m.hints[repo]
}
func (m *memCache) PutHints(repo string, tags map[string]string) {
	m.hints[repo] = tags
}

type countingSource struct {
	*fakeSource
	name  string
	mu    sync.Mutex
	heads int
}

func (c *countingSource) Name() string { return c.name }
func (c *countingSource) Head(ctx context.Context, ref string) (registry.Descriptor, error) {
	c.mu.Lock()
	c.heads++
	c.mu.Unlock()
	return c.fakeSource.Head(ctx, ref)
}
func (c *countingSource) manifestGets() int {
	n := 0
	for _, k := range c.gets {
		n += k
	}
	return n
}

// A cold run resolves each tag with one GET (body and digest together);
// the next run, with the hints and the cache, with one HEAD a tag and no
// GET; a tag moved since is read by digest; on Docker Hub every tag is
// HEADed.
func TestResolveOneRequestPerTag(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, 9) // 9 tags over 3 digests
	src := &countingSource{fakeSource: f, name: "registry.example/app"}
	c := &memCache{data: map[string][]byte{}, hints: map[string]map[string]string{}}
	cold, err := Collect(ctx, src, Options{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	if src.heads != 0 || src.manifestGets() != 9 || len(cold.Manifests) != 3 {
		t.Fatalf("cold: %d HEADs, %d GETs, %d manifests; want 0, 9 (one a tag), 3", src.heads, src.manifestGets(), len(cold.Manifests))
	}
	if len(c.hints[src.name]) != 9 {
		t.Fatalf("hints %v", c.hints)
	}

	src.heads, f.gets = 0, map[string]int{}
	warm, err := Collect(ctx, src, Options{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	if src.heads != 9 || src.manifestGets() != 0 || len(warm.Manifests) != 3 {
		t.Fatalf("warm: %d HEADs, %d GETs, %d manifests; want 9, 0, 3", src.heads, src.manifestGets(), len(warm.Manifests))
	}

	// t0 moves to a new manifest; t-new appears on an old one.
	d, b := manifest(t, "new")
	f.manifests[d], f.tags["t0"], f.tags["t-new"] = b, d, f.tags["t1"]
	src.heads, f.gets = 0, map[string]int{}
	moved, err := Collect(ctx, src, Options{Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	if src.heads != 9 || f.gets[d] != 1 || f.gets["t-new"] != 1 || src.manifestGets() != 2 || moved.Tags["t0"] != d {
		t.Fatalf("moved: %d HEADs, GETs %v; want 9 HEADs, the moved tag's new digest and the new tag read once each", src.heads, f.gets)
	}

	hub := &countingSource{fakeSource: newFake(t, 6), name: "index.docker.io/library/app"}
	if _, err := Collect(ctx, hub, Options{Cache: &memCache{data: map[string][]byte{}, hints: map[string]map[string]string{}}}); err != nil {
		t.Fatal(err)
	}
	if hub.heads != 6 || hub.manifestGets() != 3 {
		t.Fatalf("Docker Hub: %d HEADs, %d GETs; want 6 and 3 (a GET is a pull there)", hub.heads, hub.manifestGets())
	}
}

// A 404 reading the config of an image resolved by GET is not "the tag is
// gone": the repository fails closed.
func TestResolveConfigNotFoundFailsClosed(t *testing.T) {
	f := newFake(t, 3)
	src := &noConfig{fakeSource: f}
	g, err := Collect(context.Background(), src, Options{NeedAges: true})
	if err == nil || g != nil {
		t.Fatalf("graph %v, err %v; want no graph and an error", g, err)
	}
	if errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("err %v matches ErrNotFound, which callers read as a tag gone since the listing", err)
	}
}

type noConfig struct{ *fakeSource }

func (n *noConfig) GetBlob(ctx context.Context, digest string, limit int64) ([]byte, error) {
	return nil, &registry.Error{Method: "GET", Status: 404}
}
