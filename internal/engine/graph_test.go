package engine_test

// Integration tests of the repository graph on the in-process registry:
// multi-arch images (OCI indexes, Docker manifest lists, nested indexes,
// shared and separately tagged children), cosign tags and fallback-tag
// referrers. Each test plans and applies through the engine, then runs
// distribution's garbage collector and checks the registry against the
// plan: every kept manifest is still there and every kept image and
// remaining tag pulls in full (manifests and every blob), every deleted
// manifest is gone, and the plan's reclaimable bytes are what GC freed.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/apply"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// gSpec is a small image spec built at t0+h hours.
func gSpec(h int) *registrytest.ImageSpec {
	return &registrytest.ImageSpec{Created: t0.Add(time.Duration(h) * time.Hour), LayerSize: 256}
}

// gKids is n small children built at t0+h hours.
func gKids(h, n int) []registrytest.Child {
	out := make([]registrytest.Child, n)
	for i := range out {
		out[i] = registrytest.Child{Spec: gSpec(h)}
	}
	return out
}

func gIndex(t *testing.T, reg *registrytest.Registry, repo string, mt types.MediaType, kids []registrytest.Child, ann map[string]string, tags ...string) (v1.ImageIndex, string, []string) {
	t.Helper()
	idx, h, err := reg.PushIndex(context.Background(), repo, mt, kids, ann, tags...)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var children []string
	for _, d := range im.Manifests {
		children = append(children, d.Digest.String())
	}
	return idx, h.String(), children
}

func gImage(t *testing.T, reg *registrytest.Registry, repo string, h int, mt types.MediaType, tags ...string) (v1.Image, string) {
	t.Helper()
	spec := gSpec(h)
	spec.MediaType = mt
	img, d, err := reg.PushImage(context.Background(), repo, *spec, tags...)
	if err != nil {
		t.Fatal(err)
	}
	return img, d.String()
}

func gHash(t *testing.T, d string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(d)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func gSign(t *testing.T, reg *registrytest.Registry, repo, subject, suffix string) string {
	t.Helper()
	h, err := reg.Sign(context.Background(), repo, gHash(t, subject), suffix)
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func gRefer(t *testing.T, reg *registrytest.Registry, repo, subject string) string {
	t.Helper()
	h, err := reg.AttachReferrer(context.Background(), repo, v1.Descriptor{Digest: gHash(t, subject)}, "")
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// gFallback returns the digest the fallback tag of subject names.
func gFallback(t *testing.T, reg *registrytest.Registry, repo, subject string) string {
	t.Helper()
	rp, err := registry.New(registry.Options{}).Open(context.Background(), reg.Ref(repo), registry.Pull)
	if err != nil {
		t.Fatal(err)
	}
	d, err := rp.Head(context.Background(), graph.FallbackTag(subject))
	if err != nil {
		t.Fatalf("fallback tag of %s: %v", subject, err)
	}
	return d.Digest
}

// gChildren lists the children of the index d.
func gChildren(t *testing.T, reg *registrytest.Registry, repo, d string) []string {
	t.Helper()
	rp, err := registry.New(registry.Options{}).Open(context.Background(), reg.Ref(repo), registry.Pull)
	if err != nil {
		t.Fatal(err)
	}
	body, _, err := rp.GetManifest(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range im.Manifests {
		out = append(out, c.Digest.String())
	}
	return out
}

func gExists(t *testing.T, reg *registrytest.Registry, repo, d string) bool {
	t.Helper()
	ok, err := reg.Exists(context.Background(), repo, gHash(t, d))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// gPlanApply plans and applies p, after a GC that clears garbage the
// seeding left (ggcr replaces a fallback index when it adds a referrer),
// so that the GC after apply measures what the plan alone frees. It
// fails the test if any item was skipped or failed.
func gPlanApply(t *testing.T, reg *registrytest.Registry, repo string, p policy.Policy) *plan.Plan {
	t.Helper()
	if _, err := reg.GC(context.Background()); err != nil {
		t.Fatal(err)
	}
	pl := run(t, reg, repo, p)
	r := pl.Repositories[0]
	for _, it := range r.Items {
		if it.Result == plan.ResultSkipped || it.Result == plan.ResultFailed {
			t.Errorf("%s %s %v: %s (%s)", it.Kind, it.Digest, it.Tags, it.Result, it.ResultReason)
		}
		if it.Action == plan.ActionDelete && it.Result != plan.ResultDeleted {
			t.Errorf("%s %s %v: planned delete, result %q", it.Kind, it.Digest, it.Tags, it.Result)
		}
	}
	if r.Summary.Deleted != r.Summary.DeleteManifests {
		t.Errorf("deleted %d of %d manifests", r.Summary.Deleted, r.Summary.DeleteManifests)
	}
	return pl
}

// gVerify runs GC and checks the registry against the applied plan: each
// kept manifest exists and pulls in full, each remaining tag pulls in
// full, each deleted manifest is gone, and GC freed exactly the plan's
// reclaimable bytes. It returns the GC's figures.
func gVerify(t *testing.T, reg *registrytest.Registry, repo string, pl *plan.Plan) registrytest.GCResult {
	t.Helper()
	ctx := context.Background()
	gc, err := reg.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := pl.Repositories[0]
	pulls := reg.PullSet() // nothing changes the registry while it checks
	for _, it := range r.Items {
		switch it.Action {
		case plan.ActionKeep:
			if err := pulls.Pullable(ctx, repo+"@"+it.Digest); err != nil {
				t.Errorf("kept %s %s %v after GC: %v", it.Kind, it.Digest, it.Tags, err)
			}
		case plan.ActionDelete:
			if gExists(t, reg, repo, it.Digest) {
				t.Errorf("deleted %s %s %v still there after GC", it.Kind, it.Digest, it.Tags)
			}
		}
	}
	for _, tag := range tags(t, reg, repo) {
		if err := pulls.Pullable(ctx, repo+":"+tag); err != nil {
			t.Errorf("tag %s after GC: %v", tag, err)
		}
	}
	est, freed := pl.ReclaimableBytes, gc.Freed()
	switch {
	case est != r.Summary.ReclaimableBytes:
		t.Errorf("reclaimable_bytes %d, repository %d", est, r.Summary.ReclaimableBytes)
	case reg.Flavour == registrytest.FlavourDist2 && freed <= est:
		// distribution 2.x's plain garbage-collect (the one to run there)
		// keeps the manifest blobs that any untagged index still lists,
		// such as the fallback indexes go-containerregistry replaced
		// while seeding: it may free less than the estimate, never more.
		if freed < est {
			t.Logf("distribution 2.x: GC freed %d of the estimated %d bytes (untagged leftovers of the seeding still list deleted manifests)", freed, est)
		}
	case est != freed:
		t.Errorf("reclaimable_bytes %d (repository %d), GC freed %d (blobs %d -> %d)", est, r.Summary.ReclaimableBytes, freed, gc.BlobsBefore, gc.BlobsAfter)
	}
	t.Logf("plan: %d manifests deleted, reclaimable %d bytes; GC: blobs %d -> %d, freed %d bytes",
		r.Summary.DeleteManifests, pl.ReclaimableBytes, gc.BlobsBefore, gc.BlobsAfter, gc.Freed())
	return gc
}

func gItem(t *testing.T, pl *plan.Plan, d string) plan.Item {
	t.Helper()
	for _, it := range pl.Repositories[0].Items {
		if it.Digest == d {
			return it
		}
	}
	t.Fatalf("no item %s in the plan", d)
	return plan.Item{}
}

func gWant(t *testing.T, pl *plan.Plan, action plan.Action, kind string, ds ...string) {
	t.Helper()
	for _, d := range ds {
		it := gItem(t, pl, d)
		if it.Action != action || (kind != "" && it.Kind != kind) {
			t.Errorf("%s %v: %s %s, want %s %s; reasons %q", d, it.Tags, it.Action, it.Kind, action, kind, it.Reasons)
		}
	}
}

// An OCI index and a Docker manifest list kept by tag keep their
// children; older ones go whole, children included.
func TestGraphIndexesKeptByTag(t *testing.T) { onBackends(t, testGraphIndexesKeptByTag) }

func testGraphIndexesKeptByTag(t *testing.T, newReg newRegistry) {
	reg := newReg(t, registrytest.Options{})
	const repo = "multi/arch"
	_, ociOld, ociOldKids := gIndex(t, reg, repo, types.OCIImageIndex, gKids(1, 2), nil, "oci-1")
	_, dockOld, dockOldKids := gIndex(t, reg, repo, types.DockerManifestList, gKids(2, 2), nil, "docker-1")
	_, oci, ociKids := gIndex(t, reg, repo, types.OCIImageIndex, gKids(3, 2), nil, "oci-2", "oci")
	_, dock, dockKids := gIndex(t, reg, repo, types.DockerManifestList, gKids(4, 3), nil, "docker-2", "docker")

	pl := gPlanApply(t, reg, repo, keepTag("oci", "docker"))
	s := pl.Repositories[0].Summary
	if s.Images != 4 || s.Keep != 2 || s.Delete != 2 || s.DeleteManifests != 6 || s.Untag != 0 {
		t.Fatalf("summary %+v", s)
	}
	gWant(t, pl, plan.ActionKeep, plan.KindImage, oci, dock)
	gWant(t, pl, plan.ActionKeep, plan.KindChild, append(ociKids, dockKids...)...)
	gWant(t, pl, plan.ActionDelete, plan.KindImage, ociOld, dockOld)
	gWant(t, pl, plan.ActionDelete, plan.KindChild, append(ociOldKids, dockOldKids...)...)
	if it := gItem(t, pl, dockOldKids[0]); it.Parent != dockOld {
		t.Errorf("child parent %q, want %s", it.Parent, dockOld)
	}
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"docker", "docker-2", "oci", "oci-2"}) {
		t.Errorf("tags %v", got)
	}
	gVerify(t, reg, repo, pl)
}

// keep-newest ranks indexes by their own created annotation, or else by
// their children's configs; the older ones go whole.
func TestGraphOldIndexesDeletedWhole(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "indexes"
	var idx []string
	var kids [][]string
	for i := range 4 {
		var ann map[string]string
		if i%2 == 1 {
			// Annotated an hour after its children were built.
			ann = map[string]string{registrytest.LabelCreated: t0.Add(time.Duration(10*i+1) * time.Hour).Format(time.RFC3339)}
		}
		_, d, k := gIndex(t, reg, repo, types.OCIImageIndex, gKids(10*i, 2), ann, fmt.Sprintf("build-%d", i))
		idx, kids = append(idx, d), append(kids, k)
	}
	pl := gPlanApply(t, reg, repo, policy.Policy{Keep: policy.Keep{Newest: 2}})
	gWant(t, pl, plan.ActionKeep, plan.KindImage, idx[2], idx[3])
	gWant(t, pl, plan.ActionDelete, plan.KindImage, idx[0], idx[1])
	for i, d := range idx {
		it := gItem(t, pl, d)
		want, src := t0.Add(time.Duration(10*i)*time.Hour), graph.AgeFromChildren
		if i%2 == 1 {
			want, src = want.Add(time.Hour), graph.AgeFromAnnotation
		}
		if it.Created == nil || !it.Created.Equal(want) || it.AgeSource != string(src) {
			t.Errorf("index %d: created %v from %q, want %v from %s", i, it.Created, it.AgeSource, want, src)
		}
	}
	gWant(t, pl, plan.ActionDelete, plan.KindChild, append(kids[0], kids[1]...)...)
	gVerify(t, reg, repo, pl)
}

// A child shared by a kept and a deleted index stays; the deleted
// index's own child goes.
func TestGraphSharedChild(t *testing.T) { onBackends(t, testGraphSharedChild) }

func testGraphSharedChild(t *testing.T, newReg newRegistry) {
	reg := newReg(t, registrytest.Options{})
	const repo = "shared"
	for _, mt := range []types.MediaType{types.OCIImageIndex, types.DockerManifestList} {
		t.Run(string(mt), func(t *testing.T) {
			repo := repo + "/" + strings.NewReplacer(".", "", "+", "").Replace(string(mt[len(mt)-12:]))
			childMT := types.OCIManifestSchema1
			if mt == types.DockerManifestList {
				childMT = types.DockerManifestSchema2
			}
			img, _ := gImage(t, reg, repo, 5, childMT) // by digest only
			shared, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			_, old, oldKids := gIndex(t, reg, repo, mt, []registrytest.Child{{Image: img}, {Spec: gSpec(5)}}, nil, "old")
			_, cur, curKids := gIndex(t, reg, repo, mt, []registrytest.Child{{Image: img}, {Spec: gSpec(6)}}, nil, "latest")
			pl := gPlanApply(t, reg, repo, keepTag("latest"))
			gWant(t, pl, plan.ActionDelete, plan.KindImage, old)
			gWant(t, pl, plan.ActionDelete, plan.KindChild, oldKids[1])
			gWant(t, pl, plan.ActionKeep, plan.KindChild, shared.String(), curKids[1])
			if it := gItem(t, pl, shared.String()); it.Parent != cur {
				t.Errorf("shared child reported under %q, want the kept %s", it.Parent, cur)
			}
			gVerify(t, reg, repo, pl)
			if !gExists(t, reg, repo, shared.String()) {
				t.Fatal("shared child gone")
			}
		})
	}
}

// A child tagged on its own: a child of a kept index stays with its own
// tag (the image is the unit); a kept tag on a child of a deleted index keeps that
// child while its index and siblings go.
func TestGraphChildTaggedOnItsOwn(t *testing.T) { onBackends(t, testGraphChildTaggedOnItsOwn) }

func testGraphChildTaggedOnItsOwn(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	const repo = "tagged/child"
	keptKid, keptKidD := gImage(t, reg, repo, 1, types.OCIManifestSchema1, "amd64-build-7")
	_, keptIdx, keptKids := gIndex(t, reg, repo, types.OCIImageIndex, []registrytest.Child{{Image: keptKid}, {Spec: gSpec(1)}}, nil, "latest")
	pinned, pinnedD := gImage(t, reg, repo, 0, types.DockerManifestSchema2, "pinned")
	_, oldIdx, oldKids := gIndex(t, reg, repo, types.DockerManifestList, []registrytest.Child{{Spec: gSpec(0)}, {Image: pinned}}, nil, "old")

	pl := gPlanApply(t, reg, repo, keepTag("latest", "pinned"))
	if s := pl.Repositories[0].Summary; s.Images != 4 || s.Keep != 3 || s.Delete != 1 {
		t.Errorf("summary %+v: want 4 images, the child of latest kept for its parent", s)
	}
	it := gItem(t, pl, keptKidD)
	why := it.Reasons[0]
	if it.Action != plan.ActionKeep || len(it.Untag) != 0 || it.Result != "" || why.Code != plan.ReasonKeptReached || why.Relation != "child" || why.Of != "index" || why.Digest != keptIdx {
		t.Errorf("tagged child of the kept index: %+v", it)
	}
	gWant(t, pl, plan.ActionKeep, "", keptIdx, keptKids[1], pinnedD)
	gWant(t, pl, plan.ActionDelete, plan.KindImage, oldIdx)
	gWant(t, pl, plan.ActionDelete, plan.KindChild, oldKids[0])
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"amd64-build-7", "latest", "pinned"}) {
		t.Errorf("tags %v", got)
	}
	gVerify(t, reg, repo, pl)
	if err := reg.Pullable(ctx, repo+"@"+keptKidD); err != nil {
		t.Fatal(err)
	}
}

// cosign .sig/.att tags and fallback-tag referrers (and a referrer of a
// referrer) follow their subject: kept with a kept image, deleted with a
// deleted one; none of them counts as an image.
func TestGraphSignaturesAndReferrers(t *testing.T) { onBackends(t, testGraphSignaturesAndReferrers) }

func testGraphSignaturesAndReferrers(t *testing.T, newReg newRegistry) {
	reg := newReg(t, registrytest.Options{})
	const repo = "signed"
	_, old := gImage(t, reg, repo, 1, "", "1001")
	_, cur := gImage(t, reg, repo, 2, "", "1002", "latest")
	var keepDs, delDs []string
	for _, c := range []struct {
		subject string
		out     *[]string
	}{{cur, &keepDs}, {old, &delDs}} {
		sig, att := gSign(t, reg, repo, c.subject, "sig"), gSign(t, reg, repo, c.subject, "att")
		r1, r2 := gRefer(t, reg, repo, c.subject), gRefer(t, reg, repo, c.subject)
		r1r := gRefer(t, reg, repo, r1)
		*c.out = append(*c.out, sig, att, r1, r2, r1r, gFallback(t, reg, repo, c.subject), gFallback(t, reg, repo, r1))
	}
	pl := gPlanApply(t, reg, repo, policy.Policy{Keep: policy.Keep{Newest: 1}})
	if s := pl.Repositories[0].Summary; s.Images != 2 || s.Keep != 1 || s.Delete != 1 || s.DeleteManifests != 8 {
		t.Fatalf("summary %+v: want 2 images, 1 kept, 8 manifests deleted", s)
	}
	gWant(t, pl, plan.ActionKeep, plan.KindImage, cur)
	gWant(t, pl, plan.ActionKeep, "", keepDs...)
	gWant(t, pl, plan.ActionDelete, plan.KindImage, old)
	gWant(t, pl, plan.ActionDelete, plan.KindSignature, delDs[:2]...)
	// One vocabulary both ways, the final action and its cause first.
	for d, want := range map[string]plan.Reason{
		keepDs[0]: {Code: plan.ReasonKeptReached, Relation: "signature", Of: "image", Digest: cur, Tags: []string{"1002"}},
		delDs[0]:  {Code: plan.ReasonDeleteReached, Relation: "signature", Of: "image", Digest: old, Tags: []string{"1001"}},
		keepDs[2]: {Code: plan.ReasonKeptReached, Relation: "referrer", Of: "image", Digest: cur, Tags: []string{"1002"}},
		delDs[2]:  {Code: plan.ReasonDeleteReached, Relation: "referrer", Of: "image", Digest: old, Tags: []string{"1001"}},
	} {
		if got := gItem(t, pl, d).Reasons; len(got) == 0 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("%s: reasons %+v, want %+v first", d, got, want)
		}
	}
	gWant(t, pl, plan.ActionDelete, plan.KindReferrer, delDs[2:]...)
	wantTags := []string{"1002", "latest",
		graph.FallbackTag(cur), graph.FallbackTag(cur) + ".att", graph.FallbackTag(cur) + ".sig", graph.FallbackTag(keepDs[2])}
	slices.Sort(wantTags)
	if got := tags(t, reg, repo); !slices.Equal(got, wantTags) {
		t.Errorf("tags %v, want %v", got, wantTags)
	}
	gVerify(t, reg, repo, pl)
}

// Nested indexes: an index of an index of images. The old tree goes
// whole; the kept one pulls in full.
func TestGraphNestedIndexes(t *testing.T) { onBackends(t, testGraphNestedIndexes) }

func testGraphNestedIndexes(t *testing.T, newReg newRegistry) {
	reg := newReg(t, registrytest.Options{})
	const repo = "nested"
	nest := func(h int) []registrytest.Child {
		return []registrytest.Child{
			{Children: gKids(h, 2)},
			{Children: []registrytest.Child{{Children: gKids(h, 1)}}, MediaType: types.OCIImageIndex},
			{Spec: gSpec(h)},
		}
	}
	oldIdx, old, _ := gIndex(t, reg, repo, types.OCIImageIndex, nest(1), nil, "v1")
	curIdx, cur, _ := gIndex(t, reg, repo, types.DockerManifestList, nest(2), nil, "v2")
	pl := gPlanApply(t, reg, repo, policy.Policy{Keep: policy.Keep{Newest: 1}})
	all := func(idx v1.ImageIndex) []string {
		var out []string
		var walk func(v1.ImageIndex)
		walk = func(ix v1.ImageIndex) {
			im, err := ix.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range im.Manifests {
				out = append(out, d.Digest.String())
				if d.MediaType.IsIndex() {
					sub, err := ix.ImageIndex(d.Digest)
					if err != nil {
						t.Fatal(err)
					}
					walk(sub)
				}
			}
		}
		walk(idx)
		return out
	}
	oldAll, curAll := all(oldIdx), all(curIdx)
	if len(oldAll) != 7 {
		t.Fatalf("nested tree has %d manifests, want 7", len(oldAll))
	}
	gWant(t, pl, plan.ActionDelete, plan.KindImage, old)
	gWant(t, pl, plan.ActionDelete, plan.KindChild, oldAll...)
	gWant(t, pl, plan.ActionKeep, plan.KindImage, cur)
	gWant(t, pl, plan.ActionKeep, plan.KindChild, curAll...)
	if it := gItem(t, pl, cur); it.AgeSource != string(graph.AgeFromChildren) {
		t.Errorf("nested index age from %q", it.AgeSource)
	}
	gVerify(t, reg, repo, pl)
}

// gAcceptRecorder records the Accept header of every manifest HEAD.
type gAcceptRecorder struct {
	mu      sync.Mutex
	accepts []string
}

func (r *gAcceptRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodHead && strings.Contains(req.URL.Path, "/manifests/") {
		r.mu.Lock()
		r.accepts = append(r.accepts, req.Header.Get("Accept"))
		r.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(req)
}

// The seed's hazard: a Docker manifest list tagged latest. distribution
// answers a HEAD that accepts only the Docker v2 manifest type with the
// amd64 child's digest; a tool that deletes that digest breaks latest.
// regprune HEADs with the full Accept list, sees the list, and keeps it
// with its children.
func TestGraphDockerListLatestHazard(t *testing.T) { onBackends(t, testGraphDockerListLatestHazard) }

func testGraphDockerListLatestHazard(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	const repo = "libinput/libinput/fedora/28"
	var lists []string
	var kids [][]string
	for i := 1; i <= 4; i++ {
		tagsOf := []string{fmt.Sprintf("%d", 1000+i)}
		if i == 4 {
			tagsOf = append(tagsOf, "latest")
		}
		_, d, k := gIndex(t, reg, repo, types.DockerManifestList, gKids(i, 2), nil, tagsOf...)
		lists, kids = append(lists, d), append(kids, k)
	}
	latest, amd64 := lists[3], kids[3][0]

	// The hazard is real on this registry.
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, reg.URL+"/v2/"+repo+"/manifests/latest", nil)
	req.Header.Set("Accept", string(types.DockerManifestSchema2))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Docker-Content-Digest"); got != amd64 {
		t.Fatalf("narrow-Accept HEAD of latest = %s; expected distribution to answer with the amd64 child %s", got, amd64)
	}

	rec := &gAcceptRecorder{}
	o := engine.Options{Client: registry.New(registry.Options{Transport: rec}), Now: t0.Add(30 * 24 * time.Hour)}
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	pl := engine.Plan(ctx, []engine.Job{{Repository: reg.Ref(repo), Policy: keepTag("latest")}}, plan.ModeApply, o)
	if tl := pl.Repositories[0].Tags["latest"]; tl != latest {
		t.Fatalf("plan maps latest to %s, want the list %s (amd64 child is %s)", tl, latest, amd64)
	}
	engine.Apply(ctx, pl, o)
	if r := pl.Repositories[0]; r.Err != nil || r.Summary.Failed != 0 || r.Summary.Skipped != 0 {
		t.Fatalf("apply: %s %+v", r.Err, r.Summary)
	}
	if len(rec.accepts) == 0 {
		t.Fatal("no manifest HEAD seen")
	}
	for _, a := range rec.accepts {
		for _, mt := range registrytest.ManifestAccept {
			if !strings.Contains(a, mt) {
				t.Fatalf("manifest HEAD with Accept %q lacks %s", a, mt)
			}
		}
	}
	gWant(t, pl, plan.ActionKeep, plan.KindImage, latest)
	gWant(t, pl, plan.ActionKeep, plan.KindChild, kids[3]...)
	for i := range 3 {
		gWant(t, pl, plan.ActionDelete, plan.KindImage, lists[i])
		gWant(t, pl, plan.ActionDelete, plan.KindChild, kids[i]...)
	}
	gVerify(t, reg, repo, pl)
	if !gExists(t, reg, repo, amd64) {
		t.Fatal("the amd64 child of latest is gone")
	}
	if err := reg.Pullable(ctx, repo+":latest"); err != nil {
		t.Fatal(err)
	}
}

// gMixed seeds a repository with every shape at once and returns the
// digests that must survive and those that must go under gMixedPolicy.
func gMixed(t *testing.T, reg *registrytest.Registry, repo string) (keep, del []string) {
	t.Helper()
	// Plain images, signed, with referrers and a referrer of a referrer.
	_, img1 := gImage(t, reg, repo, 1, "", "1001")
	_, img2 := gImage(t, reg, repo, 10, types.OCIManifestSchema1, "1002")
	for _, c := range []struct {
		d   string
		out *[]string
	}{{img1, &del}, {img2, &keep}} {
		r := gRefer(t, reg, repo, c.d)
		*c.out = append(*c.out, c.d, gSign(t, reg, repo, c.d, "sig"), r, gRefer(t, reg, repo, r), gFallback(t, reg, repo, r))
	}
	// OCI indexes sharing a child; the kept one's other child also has a
	// stale tag of its own.
	shared, sharedD := gImage(t, reg, repo, 2, types.OCIManifestSchema1)
	own, ownD := gImage(t, reg, repo, 11, types.OCIManifestSchema1, "arch-11")
	_, idxOld, idxOldKids := gIndex(t, reg, repo, types.OCIImageIndex, []registrytest.Child{{Image: shared}, {Spec: gSpec(2)}}, nil, "2001")
	_, idxNew, _ := gIndex(t, reg, repo, types.OCIImageIndex, []registrytest.Child{{Image: shared}, {Image: own}}, nil, "2002")
	del = append(del, idxOld, idxOldKids[1], gSign(t, reg, repo, idxOld, "sig"), gRefer(t, reg, repo, idxOld))
	keep = append(keep, idxNew, sharedD, ownD, gSign(t, reg, repo, idxNew, "att"), gRefer(t, reg, repo, idxNew))
	// Docker lists: platform children signed on their own (cosign
	// --recursive); a child of the old list is pinned by a kept tag.
	pinned, pinnedD := gImage(t, reg, repo, 3, types.DockerManifestSchema2, "pinned")
	_, listOld, listOldKids := gIndex(t, reg, repo, types.DockerManifestList, []registrytest.Child{{Spec: gSpec(3)}, {Image: pinned}}, nil, "3001")
	_, listNew, listNewKids := gIndex(t, reg, repo, types.DockerManifestList, gKids(12, 2), nil, "latest")
	del = append(del, listOld, listOldKids[0], gSign(t, reg, repo, listOldKids[0], "sig"), gRefer(t, reg, repo, listOldKids[0]))
	keep = append(keep, pinnedD, listNew, listNewKids[0], listNewKids[1], gSign(t, reg, repo, listNewKids[0], "sig"), gRefer(t, reg, repo, listNewKids[1]))
	// An old list whose child has a stale tag of its own: both go.
	_, listOld2, listOld2Kids := gIndex(t, reg, repo, types.DockerManifestList, gKids(3, 2), nil, "3002")
	gTag(t, reg, repo, listOld2Kids[0], "3002-amd64")
	del = append(del, listOld2, listOld2Kids[0], listOld2Kids[1])
	// Nested indexes; in the old tree a leaf is listed both by the outer
	// index and by the inner one.
	nest := func(h int) []registrytest.Child {
		return []registrytest.Child{{Children: gKids(h, 2)}, {Spec: gSpec(h)}}
	}
	leaf, leafD := gImage(t, reg, repo, 4, types.OCIManifestSchema1)
	_, nOld, nOldKids := gIndex(t, reg, repo, types.OCIImageIndex, []registrytest.Child{
		{Image: leaf}, {Children: []registrytest.Child{{Spec: gSpec(4)}, {Image: leaf}}}, {Spec: gSpec(4)},
	}, nil, "4001")
	nOldKids = slices.DeleteFunc(nOldKids, func(d string) bool { return d == leafD })
	del = append(del, leafD)
	_, nNew, nNewKids := gIndex(t, reg, repo, types.OCIImageIndex, nest(13), nil, "4002")
	del = append(del, nOld, gRefer(t, reg, repo, nOld))
	del = append(del, nOldKids...)
	del = append(del, slices.DeleteFunc(gChildren(t, reg, repo, nOldKids[0]), func(d string) bool { return d == leafD })...)
	keep = append(keep, nNew, gSign(t, reg, repo, nNew, "sbom"))
	keep = append(keep, nNewKids...)
	keep = append(keep, gChildren(t, reg, repo, nNewKids[0])...)
	// The fallback indexes follow their subjects.
	for _, s := range []struct {
		subject string
		out     *[]string
	}{{img1, &del}, {img2, &keep}, {idxOld, &del}, {idxNew, &keep}, {listOldKids[0], &del}, {listNewKids[1], &keep}, {nOld, &del}} {
		*s.out = append(*s.out, gFallback(t, reg, repo, s.subject))
	}
	return keep, del
}

var gMixedPolicy = keepTag("1002", "2002", "latest", "4002", "pinned")

// The plan's reclaimable bytes equal what distribution's GC frees, on a
// repository with plain images, OCI indexes sharing a child, Docker lists
// with signed children and a pinned child, nested indexes, cosign tags,
// fallback-tag referrers and referrers of referrers.
func TestGraphGCAgreement(t *testing.T) { onBackends(t, testGraphGCAgreement) }

func testGraphGCAgreement(t *testing.T, newReg newRegistry) {
	reg := newReg(t, registrytest.Options{})
	const repo = "mixed"
	keep, del := gMixed(t, reg, repo)
	pl := gPlanApply(t, reg, repo, gMixedPolicy)
	gWant(t, pl, plan.ActionKeep, "", keep...)
	gWant(t, pl, plan.ActionDelete, "", del...)
	s := pl.Repositories[0].Summary
	if s.DeleteManifests != len(del) {
		t.Errorf("%d manifests deleted, want %d", s.DeleteManifests, len(del))
	}
	var manifestBytes int64
	for _, it := range pl.Repositories[0].Items {
		if it.Action == plan.ActionDelete {
			manifestBytes += it.Size
		}
	}
	gc := gVerify(t, reg, repo, pl)
	t.Logf("GC agreement: reclaimable_bytes %d, GC freed %d (%d of them deleted manifests), blobs %d -> %d",
		pl.ReclaimableBytes, gc.Freed(), manifestBytes, gc.BlobsBefore, gc.BlobsAfter)
}

// gOrderTarget wraps the registry for apply and checks, at each digest
// DELETE, that nothing still in the registry points at the digest: no
// index lists it as a child and no referrer names it as subject. Such a
// manifest would dangle for the rest of the run.
type gOrderTarget struct {
	*registry.Repo
	g *graph.Repository

	mu       sync.Mutex
	gone     map[string]bool
	order    []string
	problems []string
}

func (o *gOrderTarget) Delete(ctx context.Context, ref string) error {
	if !strings.HasPrefix(ref, "sha256:") {
		return o.Repo.Delete(ctx, ref)
	}
	o.mu.Lock()
	for p, m := range o.g.Manifests {
		if !o.gone[p] && slices.Contains(m.Children, ref) {
			o.problems = append(o.problems, fmt.Sprintf("deleting %s (%s) while index %s (%s, tags %v) still lists it", ref, o.g.Manifests[ref].MediaType, p, m.MediaType, o.g.TagsOf(p)))
		}
	}
	for _, r := range o.g.Referrers[ref] {
		if !o.gone[r] {
			o.problems = append(o.problems, fmt.Sprintf("deleting %s while its referrer %s is still there", ref, r))
		}
	}
	o.mu.Unlock()
	err := o.Repo.Delete(ctx, ref)
	if err == nil {
		o.mu.Lock()
		o.gone[ref] = true
		o.order = append(o.order, ref)
		o.mu.Unlock()
	}
	return err
}

// Deletes run in an order that never leaves a manifest pointing at a
// deleted one: referrers before their subject, indexes (fallback indexes
// included) before their children.
func TestGraphDeleteOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "mixed/order"
	_, del := gMixed(t, reg, repo)
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	client := registry.New(registry.Options{})
	rp, err := client.Open(ctx, reg.Ref(repo), registry.PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	g, err := inventory.Collect(ctx, rp, inventory.Options{NeedAges: true})
	if err != nil {
		t.Fatal(err)
	}
	r := plan.Build(g, policy.Evaluate(g, gMixedPolicy, t0), gMixedPolicy)
	tgt := &gOrderTarget{Repo: rp, g: g, gone: map[string]bool{}}
	if err := apply.Run(ctx, tgt, &r, apply.Options{Concurrency: 4}); err != nil {
		t.Fatal(err)
	}
	if len(tgt.order) != len(del) {
		t.Errorf("%d digests deleted, want %d", len(tgt.order), len(del))
	}
	for _, p := range tgt.problems {
		t.Error(p)
	}
	pl := plan.New("apply", t0, []plan.RepoPlan{r})
	gVerify(t, reg, repo, pl)
}

// An image the plan deletes is signed again, or given a new referrer, or
// a new tag, between plan and apply. A moved signature or fallback tag
// makes apply skip the old artifact, and it must then keep the subject
// too, or the new artifact would name a deleted image; a new tag makes
// apply skip the image, and it must then keep its signatures and
// referrers too.
func TestGraphArtifactChangedSinceThePlan(t *testing.T) {
	t.Parallel()
	for _, what := range []string{"sig", "referrer", "tag"} {
		t.Run(what, func(t *testing.T) {
			ctx := context.Background()
			reg := registrytest.New(t, registrytest.Options{})
			const repo = "resigned"
			_, old := gImage(t, reg, repo, 1, "", "1001")
			_, cur := gImage(t, reg, repo, 2, "", "latest")
			for _, d := range []string{old, cur} {
				gSign(t, reg, repo, d, "sig")
				gRefer(t, reg, repo, d)
			}
			o := opts(reg)
			p := keepTag("latest")
			pl := engine.Plan(ctx, []engine.Job{{Repository: reg.Ref(repo), Policy: p}}, plan.ModeApply, o)
			refs := []string{"@" + old, ":1001", ":latest"}
			switch what {
			case "sig":
				refs = append(refs, "@"+gSign(t, reg, repo, old, "sig"))
			case "referrer":
				refs = append(refs, "@"+gRefer(t, reg, repo, old))
			case "tag":
				gTag(t, reg, repo, old, "rescued")
				refs = append(refs, ":rescued")
			}
			engine.Apply(ctx, pl, o)
			for _, it := range pl.Repositories[0].Items {
				if it.Action == plan.ActionDelete && it.Result != plan.ResultSkipped {
					t.Errorf("%s %s: %s (%s), want skipped: the %s of its image changed since the plan", it.Kind, it.Digest, it.Result, it.ResultReason, what)
				}
			}
			if _, err := reg.GC(ctx); err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{old, cur} {
				for _, suffix := range []string{".sig", ""} {
					refs = append(refs, ":"+graph.FallbackTag(d)+suffix)
				}
			}
			for _, ref := range refs {
				if err := reg.Pullable(ctx, repo+ref); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// On a registry with the referrers API and no fallback tags, referrers
// are found through the API, and so are their own referrers (a signature
// of an SBOM): they go with a deleted image and stay with a kept one.
func TestGraphReferrersAPI(t *testing.T) { onBackends(t, testGraphReferrersAPI) }

func testGraphReferrersAPI(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	const repo = "api"
	api := registrytest.NewTestReferrersAPI(t, reg.URL)

	_, old := gImage(t, reg, repo, 1, "", "1001")
	_, cur := gImage(t, reg, repo, 2, "", "latest")
	rp, err := registry.New(registry.Options{}).Open(ctx, reg.Ref(repo), registry.PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	chain := map[string][]string{} // image -> its SBOM, the SBOM's signature
	for _, d := range []string{old, cur} {
		sbom := gRefer(t, reg, repo, d)
		sig := gRefer(t, reg, repo, sbom)
		chain[d] = []string{sbom, sig}
		for _, c := range [][2]string{{d, sbom}, {sbom, sig}} {
			gAPIOnly(t, rp, api, c[0], c[1])
		}
	}
	o := opts(reg)
	pl := engine.Plan(ctx, []engine.Job{{Repository: api.Host + "/" + repo, Policy: keepTag("latest")}}, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	if r := pl.Repositories[0]; r.Err != nil || r.Summary.Failed+r.Summary.Skipped != 0 {
		t.Fatalf("apply: %q %+v", r.Err, r.Summary)
	}
	gWant(t, pl, plan.ActionDelete, plan.KindImage, old)
	gWant(t, pl, plan.ActionDelete, plan.KindReferrer, chain[old]...)
	gWant(t, pl, plan.ActionKeep, "", append([]string{cur}, chain[cur]...)...)
	if it := gItem(t, pl, chain[old][1]); it.Subject != chain[old][0] {
		t.Errorf("signature of the SBOM: subject %q, want %s", it.Subject, chain[old][0])
	}
	// Without --delete-untagged: the stand-in API is not the registry's
	// own, so to the registry the kept referrers are untagged manifests.
	if _, err := reg.GCKeepUntagged(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]string{old}, chain[old]...) {
		if gExists(t, reg, repo, d) {
			t.Errorf("%s still there", d)
		}
	}
	for _, d := range append([]string{cur}, chain[cur]...) {
		if err := reg.Pullable(ctx, repo+"@"+d); err != nil {
			t.Error(err)
		}
	}
}

// gAPIOnly makes referrer known through the referrers API of api only:
// listed there under subject, and its fallback tag gone (no fallback tag
// on a registry with the API; deleted by digest, which takes the tag with
// it, since distribution 2.x cannot delete a tag alone).
func gAPIOnly(t *testing.T, rp *registry.Repo, api *registrytest.ReferrersAPI, subject, referrer string) {
	t.Helper()
	ctx := context.Background()
	hd, err := rp.Head(ctx, referrer)
	if err != nil {
		t.Fatal(err)
	}
	api.Add(subject, v1.Descriptor{MediaType: types.MediaType(hd.MediaType), Digest: gHash(t, referrer), Size: hd.Size})
	fb, err := rp.Head(ctx, graph.FallbackTag(subject))
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Delete(ctx, fb.Digest); err != nil {
		t.Fatal(err)
	}
}

// gTag points tag at the manifest d (a tag-only PUT, as `crane tag` does).
func gTag(t *testing.T, reg *registrytest.Registry, repo, d, tag string) {
	t.Helper()
	h, err := v1.NewHash(d)
	if err == nil {
		err = reg.Tag(context.Background(), repo, h, tag)
	}
	if err != nil {
		t.Fatal(err)
	}
}
