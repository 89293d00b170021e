package sandbox

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sirupsen/logrus"
)

// --- helpers ---

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, u string, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func ref(t *testing.T, r *Registry, s string) name.Reference {
	t.Helper()
	n, err := name.ParseReference(r.Ref(s), name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func statusOf(err error) int {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	return 0
}

func errCodeOf(err error) transport.ErrorCode {
	var terr *transport.Error
	if errors.As(err, &terr) && len(terr.Errors) > 0 {
		return terr.Errors[0].Code
	}
	return ""
}

func mustTags(t *testing.T, r *Registry, repo string) []string {
	t.Helper()
	tags, err := r.Tags(context.Background(), repo)
	if err != nil {
		t.Fatalf("tags %s: %v", repo, err)
	}
	slices.Sort(tags)
	return tags
}

func indexManifest(t *testing.T, r *Registry, s string) *v1.IndexManifest {
	t.Helper()
	desc, err := remote.Get(ref(t, r, s), r.Remote()...)
	if err != nil {
		t.Fatalf("get %s: %v", s, err)
	}
	im, err := v1.ParseIndexManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		t.Fatal(err)
	}
	return im
}

// --- registry, seeding, pull ---

func TestStartCloseAndLogs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	r, err := Start(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Host, "127.0.0.1:") || r.URL != "http://"+r.Host {
		t.Fatalf("Host %q URL %q", r.Host, r.URL)
	}
	if got := logrus.GetLevel(); got != logrus.ErrorLevel {
		t.Errorf("logrus level while running = %v, want error", got)
	}
	if res := do(t, "GET", r.URL+"/v2/", nil); res.status != 200 || res.header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("GET /v2/: %d %v", res.status, res.header)
	}
	if _, _, err := r.PushImage(context.Background(), "x", ImageSpec{}, "t"); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// A caller's Dir survives Close with its data.
	if _, err := os.Stat(filepath.Join(dir, "docker", "registry", "v2", "blobs")); err != nil {
		t.Fatalf("caller's Dir lost: %v", err)
	}
	// A temp Dir is removed.
	r2, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tmp := r2.Dir()
	_ = r2.Close()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("temp dir %s still there: %v", tmp, err)
	}
	if _, err := Start(context.Background(), Options{Auth: &TokenAuth{}, Htpasswd: map[string]string{}}); err == nil {
		t.Fatal("Auth+Htpasswd accepted")
	}
}

func TestPushImageAndPullable(t *testing.T) {
	ctx := context.Background()
	r := New(t, Options{})
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	img, h, err := r.PushImage(ctx, "libinput/fedora/28", ImageSpec{
		Created:     created,
		Labels:      map[string]string{LabelCreated: created.Format(time.RFC3339)},
		Annotations: map[string]string{"a": "b"},
		Layers:      2,
		LayerSize:   2048,
	}, "v1", "v1.0", "stable")
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := img.Digest(); d != h {
		t.Fatalf("digest %s vs %s", d, h)
	}
	if got := mustTags(t, r, "libinput/fedora/28"); !slices.Equal(got, []string{"stable", "v1", "v1.0"}) {
		t.Fatalf("tags %v", got)
	}
	for _, s := range []string{"libinput/fedora/28:v1", "libinput/fedora/28:stable", "libinput/fedora/28@" + h.String()} {
		if err := r.Pullable(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Pullable(ctx, "libinput/fedora/28:missing"); err == nil {
		t.Fatal("Pullable of a missing tag succeeded")
	}
	ok, err := r.Exists(ctx, "libinput/fedora/28", h)
	if err != nil || !ok {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	// What the registry stores: Docker schema 2 by default, config and annotations.
	rimg, err := remote.Image(ref(t, r, "libinput/fedora/28:v1"), r.Remote()...)
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := rimg.MediaType(); mt != types.DockerManifestSchema2 {
		t.Errorf("media type %s", mt)
	}
	cf, err := rimg.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cf.Created.Equal(created) || cf.Config.Labels[LabelCreated] != "2024-05-06T07:08:09Z" {
		t.Errorf("config created %v labels %v", cf.Created, cf.Config.Labels)
	}
	m, _ := rimg.Manifest()
	if m.Annotations["a"] != "b" || len(m.Layers) != 2 {
		t.Errorf("manifest annotations %v layers %d", m.Annotations, len(m.Layers))
	}

	// OCI flavour, and push by digest only.
	_, oh, err := r.PushImage(ctx, "oci", ImageSpec{MediaType: types.OCIManifestSchema1})
	if err != nil {
		t.Fatal(err)
	}
	res := do(t, "HEAD", r.URL+"/v2/oci/manifests/"+oh.String(), map[string]string{"Accept": strings.Join(ManifestAccept, ", ")})
	if res.status != 200 || res.header.Get("Content-Type") != string(types.OCIManifestSchema1) || res.header.Get("Docker-Content-Digest") != oh.String() {
		t.Fatalf("HEAD OCI manifest: %d %v", res.status, res.header)
	}
	// distribution hides an OCI manifest from a client that does not accept it.
	res = do(t, "HEAD", r.URL+"/v2/oci/manifests/"+oh.String(), map[string]string{"Accept": string(types.DockerManifestSchema2)})
	if res.status != http.StatusNotFound {
		t.Errorf("HEAD OCI manifest with Docker-only Accept: %d, want 404", res.status)
	}
	if err := r.Pullable(ctx, "oci@"+oh.String()); err != nil {
		t.Fatal(err)
	}
}

func TestSeedCI(t *testing.T) {
	ctx := context.Background()
	r := New(t, Options{})
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	ds, err := r.SeedCI(ctx, "group/app", 5, start, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 5 {
		t.Fatalf("%d digests", len(ds))
	}
	want := []string{"1001", "1002", "1003", "1004", "1005", "latest"}
	if got := mustTags(t, r, "group/app"); !slices.Equal(got, want) {
		t.Fatalf("tags %v, want %v", got, want)
	}
	for i, tag := range []string{"1001", "1003", "1005", "latest"} {
		d, err := remote.Head(ref(t, r, "group/app:"+tag), r.Remote()...)
		if err != nil {
			t.Fatal(err)
		}
		idx := []int{0, 2, 4, 4}[i]
		if d.Digest != ds[idx] {
			t.Errorf("tag %s -> %s, want build %d %s", tag, d.Digest, idx+1, ds[idx])
		}
	}
	img, err := remote.Image(ref(t, r, "group/app:1003"), r.Remote()...)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	wantCreated := start.Add(3 * 24 * time.Hour)
	if !cf.Created.Equal(wantCreated) || cf.Config.Labels[LabelCreated] != wantCreated.Format(time.RFC3339) {
		t.Errorf("build 3 created %v label %q", cf.Created, cf.Config.Labels[LabelCreated])
	}
}

func TestPushIndex(t *testing.T) {
	ctx := context.Background()
	r := New(t, Options{})
	const repo = "multi"

	// OCI index with two new children.
	_, ociH, err := r.PushIndex(ctx, repo, types.OCIImageIndex, []Child{{Spec: &ImageSpec{}}, {Spec: &ImageSpec{}}},
		map[string]string{"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}, "oci")
	if err != nil {
		t.Fatal(err)
	}
	im := indexManifest(t, r, repo+":oci")
	if im.MediaType != types.OCIImageIndex || len(im.Manifests) != 2 || im.Annotations["org.opencontainers.image.created"] == "" {
		t.Fatalf("oci index %+v", im)
	}
	for i, c := range im.Manifests {
		if c.MediaType != types.OCIManifestSchema1 {
			t.Errorf("oci child %d media type %s", i, c.MediaType)
		}
		if c.Platform == nil || c.Platform.Architecture != []string{"amd64", "arm64"}[i] {
			t.Errorf("oci child %d platform %+v", i, c.Platform)
		}
	}

	// Docker manifest list: Docker schema 2 children.
	_, listH, err := r.PushIndex(ctx, repo, types.DockerManifestList, []Child{{Spec: &ImageSpec{}}, {Spec: &ImageSpec{}}}, nil, "list")
	if err != nil {
		t.Fatal(err)
	}
	lm := indexManifest(t, r, repo+":list")
	if lm.MediaType != types.DockerManifestList {
		t.Fatalf("list media type %s", lm.MediaType)
	}
	for i, c := range lm.Manifests {
		if c.MediaType != types.DockerManifestSchema2 {
			t.Errorf("list child %d media type %s", i, c.MediaType)
		}
	}
	// The distribution quirk regprune must avoid: a HEAD of a manifest
	// list accepting only Docker v2 manifests answers the amd64 child.
	res := do(t, "HEAD", r.URL+"/v2/"+repo+"/manifests/list", map[string]string{"Accept": string(types.DockerManifestSchema2)})
	if res.header.Get("Docker-Content-Digest") != lm.Manifests[0].Digest.String() {
		t.Errorf("Docker-only HEAD of list: %s, want amd64 child %s", res.header.Get("Docker-Content-Digest"), lm.Manifests[0].Digest)
	}
	res = do(t, "HEAD", r.URL+"/v2/"+repo+"/manifests/list", map[string]string{"Accept": strings.Join(ManifestAccept, ", ")})
	if res.header.Get("Docker-Content-Digest") != listH.String() {
		t.Errorf("full-Accept HEAD of list: %s, want %s", res.header.Get("Docker-Content-Digest"), listH)
	}

	// Shared children and nesting: an image pushed on its own (tagged),
	// reused in two indexes; a nested index built in place; an existing
	// index by digest; an existing manifest by digest.
	shared, sharedH, err := r.PushImage(ctx, repo, ImageSpec{MediaType: types.OCIManifestSchema1, Platform: &v1.Platform{OS: "linux", Architecture: "riscv64"}}, "shared")
	if err != nil {
		t.Fatal(err)
	}
	_, otherH, err := r.PushIndex(ctx, repo, types.OCIImageIndex, []Child{{Image: shared}}, nil, "other")
	if err != nil {
		t.Fatal(err)
	}
	_, nestH, err := r.PushIndex(ctx, repo, types.OCIImageIndex, []Child{
		{Image: shared},
		{Children: []Child{{Spec: &ImageSpec{}}, {Spec: &ImageSpec{}}}, Annotations: map[string]string{"nested": "yes"}},
		{Digest: ociH},
		{Digest: otherH, Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}},
	}, nil, "nested")
	if err != nil {
		t.Fatal(err)
	}
	nm := indexManifest(t, r, repo+":nested")
	if len(nm.Manifests) != 4 {
		t.Fatalf("nested has %d children", len(nm.Manifests))
	}
	if nm.Manifests[0].Digest != sharedH || nm.Manifests[0].Platform.Architecture != "riscv64" {
		t.Errorf("shared child %+v", nm.Manifests[0])
	}
	if nm.Manifests[1].MediaType != types.OCIImageIndex || nm.Manifests[1].Annotations["nested"] != "yes" {
		t.Errorf("nested child %+v", nm.Manifests[1])
	}
	if nm.Manifests[2].Digest != ociH || nm.Manifests[3].Digest != otherH || nm.Manifests[3].Platform == nil {
		t.Errorf("digest children %+v %+v", nm.Manifests[2], nm.Manifests[3])
	}
	inner := indexManifest(t, r, repo+"@"+nm.Manifests[1].Digest.String())
	if len(inner.Manifests) != 2 || inner.Annotations["nested"] != "yes" {
		t.Errorf("inner index %+v", inner)
	}
	for _, s := range []string{repo + ":oci", repo + ":list", repo + ":other", repo + "@" + nestH.String()} {
		if err := r.Pullable(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.BuildIndex(ctx, repo, types.OCIImageIndex, []Child{{}}, nil); err == nil {
		t.Error("empty Child accepted")
	}
}

func TestSignAndReferrers(t *testing.T) {
	ctx := context.Background()
	r := New(t, Options{})
	const repo = "signed"
	_, h, err := r.PushImage(ctx, repo, ImageSpec{}, "v1")
	if err != nil {
		t.Fatal(err)
	}
	sig1, err := r.Sign(ctx, repo, h, "sig")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sign(ctx, repo, h, "att"); err != nil {
		t.Fatal(err)
	}
	sig2, err := r.Sign(ctx, repo, h, "sig")
	if err != nil {
		t.Fatal(err)
	}
	if sig1 == sig2 {
		t.Error("second signature did not change the .sig manifest")
	}
	sigImg, err := remote.Image(ref(t, r, repo+":"+SignatureTag(h, "sig")), r.Remote()...)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := sigImg.Manifest(); len(m.Layers) != 2 || m.Layers[0].MediaType != "application/vnd.dev.cosign.simplesigning.v1+json" || m.Layers[0].Annotations["dev.cosignproject.cosign/signature"] == "" {
		t.Errorf("sig manifest %+v", m)
	}

	subj := v1.Descriptor{Digest: h} // resolved by AttachReferrer
	ref1, err := r.AttachReferrer(ctx, repo, subj, "application/vnd.example.sbom.v1+json")
	if err != nil {
		t.Fatal(err)
	}
	ref2, err := r.AttachReferrer(ctx, repo, subj, "application/vnd.example.provenance.v1+json")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{FallbackTag(h), SignatureTag(h, "att"), SignatureTag(h, "sig"), "v1"}
	if got := mustTags(t, r, repo); !slices.Equal(got, want) {
		t.Fatalf("tags %v, want %v", got, want)
	}
	fb := indexManifest(t, r, repo+":"+FallbackTag(h))
	got := map[v1.Hash]string{}
	for _, d := range fb.Manifests {
		got[d.Digest] = d.ArtifactType
	}
	if got[ref1] != "application/vnd.example.sbom.v1+json" || got[ref2] != "application/vnd.example.provenance.v1+json" || len(got) != 2 {
		t.Fatalf("fallback index lists %v", got)
	}
	desc, err := remote.Get(ref(t, r, repo+"@"+ref1.String()), r.Remote()...)
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.Subject == nil || m.Subject.Digest != h || m.Subject.MediaType != types.DockerManifestSchema2 || m.ArtifactType == "" {
		t.Fatalf("referrer manifest %+v", m)
	}
	if err := r.Pullable(ctx, repo+"@"+ref1.String()); err != nil {
		t.Fatal(err)
	}
	// distribution has no referrers API.
	if res := do(t, "GET", r.URL+"/v2/"+repo+"/referrers/"+h.String(), nil); res.status != 404 {
		t.Errorf("referrers API: %d", res.status)
	}
	// The tagged fallback index keeps the untagged referrers through GC.
	if _, err := r.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Pullable(ctx, repo+"@"+ref2.String()); err != nil {
		t.Fatalf("referrer lost by GC: %v", err)
	}
}

// --- delete and GC ---

func TestDeleteAndGC(t *testing.T) {
	ctx := context.Background()
	r := New(t, Options{})
	const repo = "gc/me"
	_, aH, err := r.PushImage(ctx, repo, ImageSpec{}, "a")
	if err != nil {
		t.Fatal(err)
	}
	_, bH, err := r.PushImage(ctx, repo, ImageSpec{LayerSize: 4096}, "b", "b2")
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := r.BlobStore()
	if err != nil || n != 6 { // 2 x (manifest + config + layer)
		t.Fatalf("BlobStore = %d, %v; want 6", n, err)
	}

	// Digest DELETE: 202, and every tag of that digest goes.
	if err := remote.Delete(ref(t, r, repo+"@"+bH.String()), r.Remote()...); err != nil {
		t.Fatal(err)
	}
	if got := mustTags(t, r, repo); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("tags after digest delete: %v", got)
	}
	if ok, _ := r.Exists(ctx, repo, bH); ok {
		t.Fatal("deleted manifest still exists")
	}
	res, err := r.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsBefore != 6 || res.BlobsAfter != 3 || res.Freed() <= 4096 {
		t.Fatalf("GC %+v", res)
	}
	if err := r.Pullable(ctx, repo+":a"); err != nil {
		t.Fatal(err)
	}

	// Tag DELETE: 202, removes only that tag.
	_, cH, err := r.PushImage(ctx, repo, ImageSpec{}, "c1", "c2")
	if err != nil {
		t.Fatal(err)
	}
	if res := do(t, "DELETE", r.URL+"/v2/"+repo+"/manifests/c1", nil); res.status != http.StatusAccepted {
		t.Fatalf("tag DELETE: %d %s", res.status, res.body)
	}
	if got := mustTags(t, r, repo); !slices.Equal(got, []string{"a", "c2"}) {
		t.Fatalf("tags after tag delete: %v", got)
	}
	if ok, _ := r.Exists(ctx, repo, cH); !ok {
		t.Fatal("tag delete removed the manifest")
	}
	if res := do(t, "DELETE", r.URL+"/v2/"+repo+"/manifests/nosuch", nil); res.status != http.StatusNotFound {
		t.Fatalf("DELETE unknown tag: %d", res.status)
	}
	err = remote.Delete(ref(t, r, repo+"@"+bH.String()), r.Remote()...)
	if statusOf(err) != http.StatusNotFound || errCodeOf(err) != transport.ManifestUnknownErrorCode {
		t.Fatalf("DELETE unknown digest: %v", err)
	}

	// Deleting an index by digest leaves its children; GC then removes
	// them (untagged), but keeps the tagged image a.
	_, iH, err := r.PushIndex(ctx, repo, types.OCIImageIndex, []Child{{Spec: &ImageSpec{}}, {Spec: &ImageSpec{}}}, nil, "idx")
	if err != nil {
		t.Fatal(err)
	}
	im := indexManifest(t, r, repo+":idx")
	if err := remote.Delete(ref(t, r, repo+"@"+iH.String()), r.Remote()...); err != nil {
		t.Fatal(err)
	}
	for _, c := range im.Manifests {
		if ok, _ := r.Exists(ctx, repo, c.Digest); !ok {
			t.Fatal("index delete removed a child")
		}
	}
	if _, err := r.GC(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range im.Manifests {
		if ok, _ := r.Exists(ctx, repo, c.Digest); ok {
			t.Error("GC kept an untagged child of a deleted index")
		}
	}
	for _, s := range []string{repo + ":a", repo + ":c2"} {
		if err := r.Pullable(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	_ = aH
}

func TestDeleteDisabled(t *testing.T) {
	ctx := context.Background()
	r := New(t, Options{DeleteDisabled: true})
	_, h, err := r.PushImage(ctx, "nodelete", ImageSpec{}, "t")
	if err != nil {
		t.Fatal(err)
	}
	err = remote.Delete(ref(t, r, "nodelete@"+h.String()), r.Remote()...)
	if statusOf(err) != http.StatusMethodNotAllowed || errCodeOf(err) != transport.UnsupportedErrorCode {
		t.Fatalf("digest DELETE with delete disabled: %v", err)
	}
	res := do(t, "DELETE", r.URL+"/v2/nodelete/manifests/t", nil)
	if res.status != http.StatusMethodNotAllowed || !strings.Contains(string(res.body), "UNSUPPORTED") {
		t.Fatalf("tag DELETE with delete disabled: %d %s", res.status, res.body)
	}
	if ok, _ := r.Exists(ctx, "nodelete", h); !ok {
		t.Fatal("manifest gone")
	}
}

// --- auth ---

func claimsOf(t *testing.T, raw string) token.ClaimSet {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c token.ClaimSet
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func getToken(t *testing.T, r *Registry, user, pass string, scopes ...string) (int, tokenResponse) {
	t.Helper()
	q := url.Values{"service": {r.TokenService()}}
	for _, s := range scopes {
		q.Add("scope", s)
	}
	req, _ := http.NewRequest("GET", r.TokenURL()+"?"+q.Encode(), nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr
}

func tokenTestRegistry(t *testing.T, ttl time.Duration) *Registry {
	return New(t, Options{Auth: &TokenAuth{TTL: ttl, Users: map[string]TokenUser{
		"reader": {Password: "r", Actions: []string{"pull"}},
		"writer": {Password: "w", Actions: []string{"pull", "push", "delete"}},
	}}})
}

func TestTokenAuth(t *testing.T) {
	ctx := context.Background()
	r := tokenTestRegistry(t, 0)
	if !strings.HasPrefix(r.TokenURL(), "http://localhost:") {
		t.Fatalf("TokenURL %q", r.TokenURL())
	}
	// Seeding uses the registry's own credentials.
	_, h, err := r.PushImage(ctx, "team/app", ImageSpec{}, "v1", "v2")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Pullable(ctx, "team/app:v1"); err != nil {
		t.Fatal(err)
	}

	// The real challenge.
	res := do(t, "GET", r.URL+"/v2/team/app/tags/list", nil)
	wa := res.header.Get("WWW-Authenticate")
	if res.status != 401 || !strings.HasPrefix(wa, `Bearer realm="`+r.TokenURL()+`",service="registrytest",scope="repository:team/app:pull"`) {
		t.Fatalf("challenge %d %q", res.status, wa)
	}

	repo, _ := name.NewRepository(r.Ref("team/app"))
	// Anonymous: a token that grants nothing, then 401.
	before := r.TokenRequests()
	_, err = remote.List(repo, remote.WithAuth(authn.Anonymous))
	if statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("anonymous list: %v", err)
	}
	if r.TokenRequests() <= before {
		t.Error("anonymous token not counted")
	}
	// Wrong password: the token server answers 401.
	if st, _ := getToken(t, r, "reader", "nope", "repository:team/app:pull"); st != 401 {
		t.Fatalf("wrong password: %d", st)
	}
	if _, err := remote.List(repo, remote.WithAuth(&authn.Basic{Username: "reader", Password: "nope"})); err == nil {
		t.Fatal("wrong password listed tags")
	}

	reader := remote.WithAuth(&authn.Basic{Username: "reader", Password: "r"})
	writer := remote.WithAuth(&authn.Basic{Username: "writer", Password: "w"})
	tags, err := remote.List(repo, reader)
	if err != nil || len(tags) != 2 {
		t.Fatalf("reader list: %v %v", tags, err)
	}
	if err := PullableAt(ctx, r.Host, &authn.Basic{Username: "reader", Password: "r"}, "team/app:v2"); err != nil {
		t.Fatal(err)
	}
	// The server narrows scopes: reader gets pull only, and DELETE fails.
	st, tr := getToken(t, r, "reader", "r", "repository:team/app:pull,push,delete")
	if st != 200 || tr.Token == "" || tr.Token != tr.AccessToken || tr.ExpiresIn != 300 || tr.IssuedAt == "" {
		t.Fatalf("token response %d %+v", st, tr)
	}
	c := claimsOf(t, tr.Token)
	if len(c.Access) != 1 || !slices.Equal(c.Access[0].Actions, []string{"pull"}) || c.Subject != "reader" || c.Issuer != tokenIssuer {
		t.Fatalf("reader claims %+v", c)
	}
	err = remote.Delete(repo.Digest(h.String()), reader)
	if statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("reader DELETE: %v", err)
	}
	// A raw DELETE with the pull-only token: 401 insufficient_scope.
	res = do(t, "DELETE", r.URL+"/v2/team/app/manifests/"+h.String(), map[string]string{"Authorization": "Bearer " + tr.Token})
	if res.status != 401 || !strings.Contains(res.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Fatalf("raw reader DELETE: %d %q", res.status, res.header.Get("WWW-Authenticate"))
	}
	// writer may delete; push by reader is refused too.
	if _, _, err := r.pushAs(ctx, "team/app", reader); statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("reader push: %v", err)
	}
	if err := remote.Delete(repo.Digest(h.String()), writer); err != nil {
		t.Fatalf("writer DELETE: %v", err)
	}
	if ok, _ := r.Exists(ctx, "team/app", h); ok {
		t.Fatal("writer DELETE had no effect")
	}

	// Catalog needs "*": writer is refused, the admin is not.
	if _, err := remote.Catalog(ctx, repo.Registry, writer); statusOf(err) != 401 {
		t.Fatalf("writer catalog: %v", err)
	}
	if repos, err := remote.Catalog(ctx, repo.Registry, r.Remote()...); err != nil || !slices.Contains(repos, "team/app") {
		t.Fatalf("admin catalog: %v %v", repos, err)
	}

	// OAuth2 POST, password then refresh_token grant.
	form := url.Values{"grant_type": {"password"}, "username": {"writer"}, "password": {"w"},
		"service": {r.TokenService()}, "scope": {"repository:team/app:pull,delete"}, "client_id": {"test"}}
	resp, err := http.PostForm(r.TokenURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	var otr tokenResponse
	_ = json.NewDecoder(resp.Body).Decode(&otr)
	resp.Body.Close()
	if resp.StatusCode != 200 || otr.AccessToken == "" || otr.RefreshToken == "" {
		t.Fatalf("oauth password grant: %d %+v", resp.StatusCode, otr)
	}
	if c := claimsOf(t, otr.AccessToken); !slices.Equal(c.Access[0].Actions, []string{"delete", "pull"}) {
		t.Fatalf("oauth claims %+v", c.Access[0])
	}
	resp, err = http.PostForm(r.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {otr.RefreshToken},
		"service": {r.TokenService()}, "scope": {"repository:team/app:pull"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("oauth refresh grant: %d", resp.StatusCode)
	}
	resp, err = http.PostForm(r.TokenURL(), url.Values{"grant_type": {"password"}, "username": {"writer"}, "password": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("oauth wrong password: %d", resp.StatusCode)
	}
}

// pushAs pushes a random image with the given options (not the registry's
// own credentials).
func (r *Registry) pushAs(ctx context.Context, repo string, opts ...remote.Option) (v1.Image, v1.Hash, error) {
	img, err := BuildImage(ImageSpec{}, "")
	if err != nil {
		return nil, v1.Hash{}, err
	}
	h, _ := img.Digest()
	rp, err := r.repo(repo)
	if err != nil {
		return nil, h, err
	}
	return img, h, remote.Write(rp.Tag("pushed"), img, append(opts, remote.WithContext(ctx))...)
}

// Expiry by time, without a sleep: the token server's clock is set back,
// so it issues tokens whose exp the registry (on the real clock) has
// already passed; then with the clock right, a fresh token works.
func TestTokenExpiry(t *testing.T) {
	ctx := context.Background()
	var back atomic.Int64 // how far the token server's clock is set back
	r := New(t, Options{Auth: &TokenAuth{TTL: time.Second, Now: func() time.Time { return time.Now().Add(-time.Duration(back.Load())) },
		Users: map[string]TokenUser{"reader": {Password: "r", Actions: []string{"pull"}}}}})
	if _, _, err := r.PushImage(ctx, "exp", ImageSpec{}, "t"); err != nil {
		t.Fatal(err)
	}
	back.Store(int64(3 * time.Second)) // TTL (1 s) + exp rounding (< 1 s), and a second more
	st, tr := getToken(t, r, "reader", "r", "repository:exp:pull")
	if st != 200 || tr.ExpiresIn != 1 {
		t.Fatalf("token %d %+v", st, tr)
	}
	res := do(t, "GET", r.URL+"/v2/exp/tags/list", map[string]string{"Authorization": "Bearer " + tr.Token})
	if res.status != 401 || !strings.Contains(res.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("expired token: %d %q", res.status, res.header.Get("WWW-Authenticate"))
	}
	back.Store(0)
	_, tr = getToken(t, r, "reader", "r", "repository:exp:pull")
	if res := do(t, "GET", r.URL+"/v2/exp/tags/list", map[string]string{"Authorization": "Bearer " + tr.Token}); res.status != 200 {
		t.Fatalf("fresh token: %d %s", res.status, res.body)
	}
}

// Expiry by use: a token serves MaxUses requests, then is answered as
// expired, and ggcr's transport fetches a new one and goes on.
func TestTokenExpiryByUse(t *testing.T) {
	ctx := context.Background()
	r := New(t, Options{Auth: &TokenAuth{MaxUses: 2, Users: map[string]TokenUser{"reader": {Password: "r", Actions: []string{"pull"}}}}})
	if _, _, err := r.PushImage(ctx, "exp", ImageSpec{}, "t"); err != nil {
		t.Fatal(err)
	}
	_, tr := getToken(t, r, "reader", "r", "repository:exp:pull")
	auth := map[string]string{"Authorization": "Bearer " + tr.Token}
	for i := 1; i <= 3; i++ {
		res := do(t, "GET", r.URL+"/v2/exp/tags/list", auth)
		if want := map[bool]int{true: 200, false: 401}[i <= 2]; res.status != want {
			t.Fatalf("use %d: %d, want %d", i, res.status, want)
		}
		if i == 3 && !strings.Contains(res.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("used-up token: %q", res.header.Get("WWW-Authenticate"))
		}
	}
	// A ggcr transport holding a token of its own.
	repo, _ := name.NewRepository(r.Ref("exp"))
	rt, err := transport.NewWithContext(ctx, repo.Registry, &authn.Basic{Username: "reader", Password: "r"},
		http.DefaultTransport, []string{repo.Scope(transport.PullScope)})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: rt}
	get := func() int {
		resp, err := client.Get(r.URL + "/v2/exp/tags/list")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	before := r.TokenRequests()
	for i := 0; i < 5; i++ {
		if st := get(); st != 200 {
			t.Fatalf("ggcr transport, request %d: %d", i, st)
		}
	}
	if got := r.TokenRequests() - before; got != 2 {
		t.Errorf("%d tokens fetched over 5 requests at 2 uses a token, want 2 refreshes", got)
	}
}

func TestHtpasswd(t *testing.T) {
	ctx := context.Background()
	r := New(t, Options{Htpasswd: map[string]string{"alice": "secret"}})
	if _, _, err := r.PushImage(ctx, "basic", ImageSpec{}, "t"); err != nil {
		t.Fatal(err)
	}
	res := do(t, "GET", r.URL+"/v2/", nil)
	if res.status != 401 || res.header.Get("WWW-Authenticate") != `Basic realm="registrytest"` {
		t.Fatalf("challenge %d %q", res.status, res.header.Get("WWW-Authenticate"))
	}
	repo, _ := name.NewRepository(r.Ref("basic"))
	if _, err := remote.List(repo); statusOf(err) != 401 {
		t.Fatalf("anonymous: %v", err)
	}
	if _, err := remote.List(repo, remote.WithAuth(&authn.Basic{Username: "alice", Password: "wrong"})); statusOf(err) != 401 {
		t.Fatalf("wrong password: %v", err)
	}
	tags, err := remote.List(repo, remote.WithAuth(&authn.Basic{Username: "alice", Password: "secret"}))
	if err != nil || !slices.Equal(tags, []string{"t"}) {
		t.Fatalf("alice: %v %v", tags, err)
	}
	if u, p := r.Credentials(); u != AdminUser || p == "" {
		t.Fatalf("Credentials %q %q", u, p)
	}
	if err := r.Pullable(ctx, "basic:t"); err != nil {
		t.Fatal(err)
	}
}

func TestParseScopeAndGrant(t *testing.T) {
	p, ok := parseScope("repository:localhost:5000/a/b:pull,push")
	if !ok || p.Type != "repository" || p.Name != "localhost:5000/a/b" || !slices.Equal(p.Actions, []string{"pull", "push"}) {
		t.Fatalf("%+v %v", p, ok)
	}
	p, ok = parseScope("repository(plugin):x:pull")
	if !ok || p.Type != "repository" || p.Class != "plugin" || p.Name != "x" {
		t.Fatalf("%+v %v", p, ok)
	}
	for _, bad := range []string{"", "repository", "repository:x", ":x:pull"} {
		if _, ok := parseScope(bad); ok {
			t.Errorf("parsed %q", bad)
		}
	}
	g := grantAccess([]string{"pull", "delete"}, []string{"repository:a:pull,push", "repository:a:delete", "repository:b:push", "registry:catalog:*"})
	if len(g) != 1 || g[0].Name != "a" || !slices.Equal(g[0].Actions, []string{"delete", "pull"}) {
		t.Fatalf("grant %+v", g)
	}
	g = grantAccess([]string{"*"}, []string{"registry:catalog:*", "repository:h:1/x:push"})
	if len(g) != 2 || g[0].Type != "registry" || g[1].Name != "h:1/x" {
		t.Fatalf("grant * %+v", g)
	}
	if g := grantAccess(nil, []string{"repository:a:pull"}); len(g) != 0 {
		t.Fatalf("grant nil %+v", g)
	}
}

// --- proxy ---

func TestProxyCountsAndLinks(t *testing.T) {
	ctx := context.Background()
	r := New(t, Options{})
	if _, err := r.SeedCI(ctx, "p/app", 5, time.Unix(0, 0), time.Hour); err != nil {
		t.Fatal(err)
	}
	p := NewTestProxy(t, r.URL, ProxyOptions{})
	pref := func(s string) name.Reference {
		n, err := name.ParseReference(p.Host+"/"+s, name.StrictValidation)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Relative Link headers work through the proxy.
	res := do(t, "GET", p.URL+"/v2/p/app/tags/list?n=4", nil)
	link := res.header.Get("Link")
	if res.status != 200 || link != `</v2/p/app/tags/list?last=1004&n=4>; rel="next"` {
		t.Fatalf("page 1: %d Link %q", res.status, link)
	}
	next := strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
	res = do(t, "GET", p.URL+next, nil)
	var page struct{ Tags []string }
	_ = json.Unmarshal(res.body, &page)
	if res.status != 200 || !slices.Equal(page.Tags, []string{"1005", "latest"}) || res.header.Get("Link") != "" {
		t.Fatalf("page 2: %d %v Link %q", res.status, page.Tags, res.header.Get("Link"))
	}
	// A last page that is exactly full still carries a Link, to an empty
	// page without one.
	res = do(t, "GET", p.URL+"/v2/p/app/tags/list?n=2&last=1004", nil)
	if link := res.header.Get("Link"); link != `</v2/p/app/tags/list?last=latest&n=2>; rel="next"` {
		t.Fatalf("full last page: Link %q", link)
	}
	res = do(t, "GET", p.URL+"/v2/p/app/tags/list?last=latest&n=2", nil)
	page.Tags = nil
	_ = json.Unmarshal(res.body, &page)
	if res.status != 200 || len(page.Tags) != 0 || res.header.Get("Link") != "" {
		t.Fatalf("empty page: %d %s Link %q", res.status, res.body, res.header.Get("Link"))
	}
	p.Reset()

	prepo, err := name.NewRepository(p.Host + "/p/app")
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(prepo, remote.WithPageSize(2))
	if err != nil || len(tags) != 6 {
		t.Fatalf("paged list via proxy: %v %v", tags, err)
	}
	d, err := remote.Head(pref("p/app:1001"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Get(pref("p/app:1002")); err != nil {
		t.Fatal(err)
	}
	if err := PullableAt(ctx, p.Host, nil, "p/app:1003"); err != nil { // manifest + config + layer
		t.Fatal(err)
	}
	if err := remote.Delete(pref("p/app@" + d.Digest.String())); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Catalog(ctx, prepo.Registry); err != nil {
		t.Fatal(err)
	}
	_ = do(t, "GET", p.URL+"/v2/p/app/referrers/"+d.Digest.String(), nil)
	c := p.Counts()
	// remote.List: 4 pages (2+2+2, then an empty one); each ggcr call
	// also pings /v2/ (Other).
	if c.TagList != 4 || c.ManifestHEAD != 1 || c.ManifestGET != 2 || c.BlobGET != 2 || c.ManifestDELETE != 1 ||
		c.Catalog != 1 || c.Referrers != 1 || c.Faulted != 0 {
		t.Fatalf("counts %+v", c)
	}
	if c.Total != c.TagList+c.ManifestHEAD+c.ManifestGET+c.ManifestDELETE+c.BlobGET+c.Referrers+c.Catalog+c.Other {
		t.Fatalf("counts do not add up: %+v", c)
	}
	// A push through the proxy (upload Locations point back at it).
	img, err := BuildImage(ImageSpec{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(pref("p/app:viaproxy"), img); err != nil {
		t.Fatal(err)
	}
	if err := r.Pullable(ctx, "p/app:viaproxy"); err != nil {
		t.Fatal(err)
	}
}

func TestProxyFaults(t *testing.T) {
	r := New(t, Options{})
	if _, _, err := r.PushImage(context.Background(), "f", ImageSpec{}, "t"); err != nil {
		t.Fatal(err)
	}
	p := NewTestProxy(t, r.URL, ProxyOptions{Rate429: 1, RetryAfter: "7", FaultMethods: []string{"GET"}})
	u := p.URL + "/v2/f/manifests/t"
	accept := map[string]string{"Accept": strings.Join(ManifestAccept, ", ")}

	res := do(t, "GET", u, accept)
	if res.status != 429 || res.header.Get("Retry-After") != "7" || !strings.Contains(string(res.body), "TOOMANYREQUESTS") {
		t.Fatalf("429: %d %v %s", res.status, res.header, res.body)
	}
	if res := do(t, "HEAD", u, accept); res.status != 200 {
		t.Fatalf("HEAD not in FaultMethods: %d", res.status)
	}
	p.SetOptions(ProxyOptions{Rate429: 1})
	if res := do(t, "HEAD", u, accept); res.status != 429 || res.header.Get("Retry-After") != "1" {
		t.Fatalf("default Retry-After: %d %q", res.status, res.header.Get("Retry-After"))
	}
	p.SetOptions(ProxyOptions{Rate503: 1})
	if res := do(t, "GET", u, accept); res.status != 503 {
		t.Fatalf("503: %d", res.status)
	}
	p.SetOptions(ProxyOptions{RateDrop: 1})
	// A fresh connection: net/http silently retries an idempotent request
	// once when a reused keep-alive connection closes without an answer.
	noReuse := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := noReuse.Get(u); err == nil {
		t.Fatal("dropped connection answered")
	}
	if c := p.Counts(); c.Faulted != 4 || c.ManifestGET != 3 || c.ManifestHEAD != 2 || c.Total != 5 {
		t.Fatalf("counts %+v", c)
	}

	// Deterministic sequence for a seed.
	seq := func() []int {
		var out []int
		for range 30 {
			out = append(out, do(t, "GET", u, accept).status)
		}
		return out
	}
	p.SetOptions(ProxyOptions{Rate429: 0.3, Rate503: 0.2, Seed: 42})
	p.Reset()
	first := seq()
	if c := p.Counts(); c.Total != 30 || c.Faulted == 0 || c.Faulted == 30 {
		t.Fatalf("seeded counts %+v", c)
	}
	p.Reset()
	if second := seq(); !slices.Equal(first, second) {
		t.Fatalf("same seed, different faults:\n%v\n%v", first, second)
	}
	if !slices.Contains(first, 200) || !slices.Contains(first, 429) || !slices.Contains(first, 503) {
		t.Fatalf("sequence %v lacks a kind", first)
	}

	p.SetOptions(ProxyOptions{Latency: 100 * time.Millisecond})
	start := time.Now()
	if res := do(t, "HEAD", u, accept); res.status != 200 {
		t.Fatal(res.status)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("latency not applied: %v", el)
	}
}

func TestTokenAnonymousUser(t *testing.T) {
	ctx := context.Background()
	r := New(t, Options{Auth: &TokenAuth{Users: map[string]TokenUser{"": {Actions: []string{"pull"}}}}})
	_, h, err := r.PushImage(ctx, "public", ImageSpec{}, "t")
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository(r.Ref("public"))
	if tags, err := remote.List(repo); err != nil || len(tags) != 1 {
		t.Fatalf("anonymous pull: %v %v", tags, err)
	}
	if err := PullableAt(ctx, r.Host, nil, "public:t"); err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(repo.Digest(h.String())); statusOf(err) != http.StatusUnauthorized {
		t.Fatalf("anonymous delete: %v", err)
	}
}
