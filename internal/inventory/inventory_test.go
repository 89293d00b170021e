package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/regprune/regprune/internal/registry"
)

// fakeSource is an in-memory registry for unit tests of the collector's
// control flow; the integration tests in internal/engine use the real
// distribution registry.
type fakeSource struct {
	mu        sync.Mutex
	tags      map[string]string
	manifests map[string][]byte
	headErr   map[string]error
	gets      map[string]int
	vanish    map[string]bool // a HEAD of this tag deletes it first
}

func (f *fakeSource) Name() string { return "fake.example/repo" }
func (f *fakeSource) ListTags(ctx context.Context, fn func([]string) error) error {
	var page []string
	f.mu.Lock()
	for t := range f.tags {
		page = append(page, t)
	}
	f.mu.Unlock()
	if err := fn(page[:len(page)/2]); err != nil {
		return err
	}
	return fn(page[len(page)/2:])
}
func (f *fakeSource) Head(ctx context.Context, ref string) (registry.Descriptor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vanish[ref] {
		delete(f.tags, ref)
	}
	if err := f.headErr[ref]; err != nil {
		return registry.Descriptor{}, err
	}
	return registry.Descriptor{Digest: f.tags[ref]}, nil
}
func (f *fakeSource) GetManifest(ctx context.Context, ref string) ([]byte, registry.Descriptor, error) {
	f.mu.Lock()
	f.gets[ref]++
	if f.vanish[ref] { // resolving this tag deletes it first, whatever the method
		delete(f.tags, ref)
	}
	d, isTag := f.tags[ref]
	f.mu.Unlock()
	if err := f.headErr[ref]; err != nil { // a tag's error, whatever the method
		return nil, registry.Descriptor{}, err
	}
	if isTag { // a GET by tag
		ref = d
	}
	b, ok := f.manifests[ref]
	if !ok {
		return nil, registry.Descriptor{}, &registry.Error{Status: 404}
	}
	return b, registry.Descriptor{Digest: ref}, nil
}
func (f *fakeSource) GetBlob(ctx context.Context, digest string, limit int64) ([]byte, error) {
	return []byte(`{"created":"2026-01-02T03:04:05Z"}`), nil
}
func (f *fakeSource) Referrers(ctx context.Context, digest string) ([]byte, bool, error) {
	return nil, false, nil
}

func manifest(t *testing.T, layer string) (string, []byte) {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"mediaType": registry.MediaOCIManifest,
		"config":    map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:c" + layer, "size": 10},
		"layers":    []any{map[string]any{"digest": "sha256:l" + layer, "size": 100}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return registry.Sha256(b), b
}

func newFake(t *testing.T, n int) *fakeSource {
	f := &fakeSource{tags: map[string]string{}, manifests: map[string][]byte{}, headErr: map[string]error{}, gets: map[string]int{}}
	for i := 0; i < n; i++ {
		d, b := manifest(t, fmt.Sprint(i%3))
		f.manifests[d] = b
		f.tags[fmt.Sprint("t", i)] = d
	}
	return f
}

func TestCollectReadsEachDigestOnce(t *testing.T) {
	f := newFake(t, 30) // 30 tags over 3 digests
	g, err := Collect(context.Background(), f, Options{Concurrency: 4, NeedAges: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Tags) != 30 || len(g.Manifests) != 3 {
		t.Fatalf("tags %d, manifests %d", len(g.Tags), len(g.Manifests))
	}
	for d, n := range f.gets {
		if n != 1 {
			t.Errorf("manifest %s fetched %d times", d, n)
		}
	}
}

// Fail closed: one unreadable tag fails the whole repository.
func TestCollectFailsClosed(t *testing.T) {
	f := newFake(t, 20)
	f.headErr["t7"] = &registry.Error{Method: "HEAD", Status: 500}
	g, err := Collect(context.Background(), f, Options{Concurrency: 4})
	if err == nil || g != nil {
		t.Fatalf("graph %v, err %v; want no graph and an error", g, err)
	}
	if !errors.Is(err, registry.ErrServer) {
		t.Fatalf("err %v does not match ErrServer", err)
	}
}

// A tag deleted between the listing and its HEAD is simply not there:
// listed again, it is gone.
func TestCollectToleratesTagGoneBeforeHead(t *testing.T) {
	f := newFake(t, 5)
	f.headErr["t2"] = &registry.Error{Method: "HEAD", Status: 404}
	f.vanish = map[string]bool{"t2": true}
	g, err := Collect(context.Background(), f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Tags["t2"]; ok || len(g.Tags) != 4 {
		t.Fatalf("tags = %v", g.Tags)
	}
}

// A tag that is still listed after a second listing and still answers 404
// fails the repository closed: it may be a kept tag.
func TestCollectFailsOnListedTagThatDoesNotResolve(t *testing.T) {
	f := newFake(t, 5)
	f.headErr["t2"] = &registry.Error{Method: "HEAD", Status: 404}
	g, err := Collect(context.Background(), f, Options{})
	if g != nil || !errors.Is(err, ErrUnresolvableTag) || !errors.Is(err, registry.ErrBadResponse) {
		t.Fatalf("graph %v, err %v; want no graph and ErrUnresolvableTag", g, err)
	}
}
