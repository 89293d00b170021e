package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// reqLog records the requests that reach a registry (method and path).
type reqLog struct {
	mu   sync.Mutex
	next http.Handler
	reqs []string
}

func (l *reqLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
	l.mu.Unlock()
	l.next.ServeHTTP(w, r)
}

func (l *reqLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

func count(reqs []string, prefix string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// logged starts a registry whose requests are recorded.
func logged(t *testing.T) (*Registry, *reqLog) {
	t.Helper()
	r := New(t, Options{})
	l := &reqLog{next: r.srv.Handler}
	r.srv.Handler = l
	return r, l
}

// The seeding helpers upload a blob with a POST and a PUT of the body, no
// HEAD and no PATCH, and send no https request (ggcr's ping tried one on
// every new transport); what they push pulls in full under every tag,
// and pushing it again (its blobs exist) works too.
func TestPushRequests(t *testing.T) {
	ctx := context.Background()
	r, l := logged(t)
	img, h, err := r.PushImage(ctx, "ci/app", ImageSpec{Created: time.Now(), Layers: 2}, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	reqs := l.take()
	// 3 blobs: config and 2 layers; 2 manifest PUTs (one per tag); no
	// ping (the registry has no auth).
	for prefix, want := range map[string]int{
		"POST /v2/ci/app/blobs/uploads/": 3, "PUT /v2/ci/app/blobs/uploads/": 3,
		"PUT /v2/ci/app/manifests/": 2, "GET ": 0, "HEAD ": 0, "PATCH ": 0,
	} {
		if got := count(reqs, prefix); got != want {
			t.Errorf("%d requests %q, want %d: %v", got, prefix, want, reqs)
		}
	}
	if len(reqs) != 8 {
		t.Errorf("%d requests, want 8: %v", len(reqs), reqs)
	}
	for _, ref := range []string{"ci/app:a", "ci/app:b", "ci/app@" + h.String()} {
		if err := r.Pullable(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.PushExisting(ctx, "other/repo", img, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PushExisting(ctx, "ci/app", img); err != nil {
		t.Fatal(err)
	}
	if err := r.Pullable(ctx, "other/repo:c"); err != nil {
		t.Fatal(err)
	}
	// An index: children missing from the repository are written by
	// digest after a HEAD, before the index; a child already there is
	// not written again.
	l.take()
	_, ih, err := r.PushIndex(ctx, "ci/app", types.OCIImageIndex, []Child{{Image: img}, {Spec: &ImageSpec{}}}, nil, "multi")
	if err != nil {
		t.Fatal(err)
	}
	reqs = l.take()
	if got := count(reqs, "HEAD /v2/ci/app/manifests/sha256:"); got != 2 {
		t.Errorf("%d child HEADs, want 2: %v", got, reqs)
	}
	if got := count(reqs, "PUT /v2/ci/app/manifests/sha256:"); got != 1 {
		t.Errorf("%d child PUTs, want 1 (the new child): %v", got, reqs)
	}
	if got := count(reqs, "PUT /v2/ci/app/manifests/multi"); got != 1 {
		t.Errorf("%d index PUTs, want 1: %v", got, reqs)
	}
	if err := r.Pullable(ctx, "ci/app@"+ih.String()); err != nil {
		t.Fatal(err)
	}
	// A referrer (a manifest with a subject) still goes through ggcr,
	// which maintains the fallback tag.
	ref, err := r.AttachReferrer(ctx, "ci/app", v1.Descriptor{Digest: h}, "")
	if err != nil {
		t.Fatal(err)
	}
	// Its subject, resolved with a HEAD, is the image's descriptor.
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	rp, _ := r.repo("ci/app")
	desc, err := remote.Get(rp.Digest(ref.String()), r.remote(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if s := m.Subject; s == nil || s.Digest != h || s.Size != int64(len(raw)) || s.MediaType != mt {
		t.Errorf("referrer subject %+v, want %s %s %d", s, mt, h, len(raw))
	}
	if err := r.Pullable(ctx, "ci/app:"+FallbackTag(h)); err != nil {
		t.Fatalf("fallback tag: %v", err)
	}
}

// plainHTTP refuses https without dialing and passes http on.
func TestPlainHTTP(t *testing.T) {
	dialed := false
	p := plainHTTP{next: roundTripFunc(func(*http.Request) (*http.Response, error) {
		dialed = true
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	})}
	req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:1/v2/", nil)
	if _, err := p.RoundTrip(req); !errors.Is(err, errNotHTTP) || dialed {
		t.Fatalf("https: %v, dialed %v", err, dialed)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://127.0.0.1:1/v2/", nil)
	if resp, err := p.RoundTrip(req); err != nil || resp.StatusCode != http.StatusOK || !dialed {
		t.Fatalf("http: %v %v, dialed %v", resp, err, dialed)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A layer of BuildImage is what it says: its digest and size are those of
// the bytes it pushes, its DiffID that of the bytes they gunzip to.
func TestBuildImageLayers(t *testing.T) {
	img, err := BuildImage(ImageSpec{Layers: 2, LayerSize: 4096}, "")
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		rc, _ := l.Compressed()
		c, _ := io.ReadAll(rc)
		d, size, _ := v1.SHA256(bytes.NewReader(c))
		if got, _ := l.Digest(); got != d {
			t.Errorf("layer %d: digest %s, bytes %s", i, got, d)
		}
		if got, _ := l.Size(); got != size {
			t.Errorf("layer %d: size %d, bytes %d", i, got, size)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		u, _ := io.ReadAll(rc)
		diff, _, _ := v1.SHA256(bytes.NewReader(u))
		if got, _ := l.DiffID(); got != diff || cf.RootFS.DiffIDs[i] != diff {
			t.Errorf("layer %d: DiffID %s, config %s, content %s", i, got, cf.RootFS.DiffIDs[i], diff)
		}
	}
}

// A PullSet reads each child manifest and blob once across its pulls and
// still fetches the manifest each pull names; Exists and Pullable on a
// registry without auth send no ping. A PullSet, like Pullable, fails on
// a blob the registry lost.
func TestPullSet(t *testing.T) {
	ctx := context.Background()
	r, l := logged(t)
	idx, ih, err := r.PushIndex(ctx, "ci/app", types.OCIImageIndex, []Child{{Spec: &ImageSpec{}}, {Spec: &ImageSpec{}}}, nil, "multi")
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	l.take()
	set := r.PullSet()
	refs := []string{"ci/app:multi", "ci/app@" + ih.String(), "ci/app@" + im.Manifests[0].Digest.String()}
	for _, ref := range refs {
		if err := set.Pullable(ctx, ref); err != nil {
			t.Fatal(err)
		}
	}
	reqs := l.take()
	// The index twice and its first child once more (named), the
	// children once as children, 2 blobs each once; no ping.
	if got, want := count(reqs, "GET /v2/ci/app/manifests/"), 5; got != want {
		t.Errorf("%d manifest GETs, want %d: %v", got, want, reqs)
	}
	if got, want := count(reqs, "GET /v2/ci/app/blobs/"), 4; got != want {
		t.Errorf("%d blob GETs, want %d: %v", got, want, reqs)
	}
	if got := count(reqs, "GET /v2/") - count(reqs, "GET /v2/ci/"); got != 0 {
		t.Errorf("%d pings: %v", got, reqs)
	}
	if ok, err := r.Exists(ctx, "ci/app", ih); err != nil || !ok {
		t.Fatalf("Exists: %v %v", ok, err)
	}
	if ok, err := r.Exists(ctx, "ci/app", v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}); err != nil || ok {
		t.Fatalf("Exists of a missing manifest: %v %v", ok, err)
	}
	if reqs := l.take(); len(reqs) != 2 {
		t.Errorf("Exists twice: %v, want 2 HEADs", reqs)
	}
	// Lose a blob of the second child: a new set (and Pullable) fails.
	c, _ := idx.Image(im.Manifests[1].Digest)
	layers, _ := c.Layers()
	ld, _ := layers[0].Digest()
	data := filepath.Join(r.Dir(), "docker/registry/v2/blobs/sha256", ld.Hex[:2], ld.Hex, "data")
	if err := os.Remove(data); err != nil {
		t.Fatal(err)
	}
	if err := r.PullSet().Pullable(ctx, "ci/app:multi"); err == nil {
		t.Fatal("a PullSet pulled an index with a lost blob")
	}
	if err := r.Pullable(ctx, "ci/app:multi"); err == nil {
		t.Fatal("Pullable pulled an index with a lost blob")
	}
}

// Tags on a registry without auth follows the Link pages and lists what
// ggcr's remote.List lists; a repository the registry does not know is
// an error for both.
func TestTagsPages(t *testing.T) {
	ctx := context.Background()
	r, l := logged(t)
	if _, _, err := r.PushImage(ctx, "ci/app", ImageSpec{}, "a", "b", "c", "d", "e"); err != nil {
		t.Fatal(err)
	}
	defer func(n int) { tagsPage = n }(tagsPage)
	tagsPage = 2
	l.take()
	got, err := r.Tags(ctx, "ci/app")
	if err != nil {
		t.Fatal(err)
	}
	if reqs := l.take(); len(reqs) != 3 || count(reqs, "GET /v2/ci/app/tags/list") != 3 {
		t.Errorf("requests %v, want 3 pages and no ping", reqs)
	}
	rp, _ := r.repo("ci/app")
	want, err := remote.List(rp, r.remote(ctx)...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || len(got) != 5 {
		t.Errorf("Tags %v, remote.List %v", got, want)
	}
	_, err = r.Tags(ctx, "no/such")
	rp, _ = r.repo("no/such")
	_, gerr := remote.List(rp, r.remote(ctx)...)
	var te, ge *transport.Error
	if !errors.As(err, &te) || !errors.As(gerr, &ge) || te.StatusCode != ge.StatusCode {
		t.Errorf("unknown repository: Tags %v, remote.List %v", err, gerr)
	}
}
