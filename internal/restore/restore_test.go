package restore_test

// Integration tests of the journal and restore on the in-process
// registry (distribution v3): apply a policy over multi-arch images with
// signatures and referrers, journaled; restore the run; apply again, run
// the registry's garbage collector, restore again.

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
	"github.com/regprune/regprune/internal/restore"
)

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func spec(h int) registrytest.ImageSpec {
	return registrytest.ImageSpec{Created: t0.Add(time.Duration(h) * time.Hour), LayerSize: 256}
}

func kids(h, n int) []registrytest.Child {
	out := make([]registrytest.Child, n)
	for i := range out {
		s := spec(h + i)
		out[i] = registrytest.Child{Spec: &s}
	}
	return out
}

// liveTags resolves every tag of repo.
func liveTags(t *testing.T, reg *registrytest.Registry, repo string) map[string]string {
	t.Helper()
	ctx := context.Background()
	rp, err := registry.New(registry.Options{}).Open(ctx, reg.Ref(repo), registry.Pull)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	err = rp.ListTags(ctx, func(tags []string) error {
		for _, tag := range tags {
			d, err := rp.Head(ctx, tag)
			if err != nil {
				return err
			}
			out[tag] = d.Digest
		}
		return nil
	})
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		t.Fatal(err)
	}
	return out
}

func exists(t *testing.T, reg *registrytest.Registry, repo, d string) bool {
	t.Helper()
	h, err := v1.NewHash(d)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := reg.Exists(context.Background(), repo, h)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func applyJournaled(t *testing.T, reg *registrytest.Registry, repo string, p policy.Policy, j *journal.Journal) *plan.Plan {
	t.Helper()
	ctx := context.Background()
	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour), Journal: j}
	pl := engine.Plan(ctx, []engine.Job{{Repository: reg.Ref(repo), Policy: p}}, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	r := pl.Repositories[0]
	if r.Err != nil {
		t.Fatalf("repository failed: %s", r.Err)
	}
	for _, it := range r.Items {
		if it.Action == plan.ActionDelete && it.Result != plan.ResultDeleted {
			t.Fatalf("%s %s %v: %s (%s)", it.Kind, it.Digest, it.Tags, it.Result, it.ResultReason)
		}
	}
	if pl.RunID == "" {
		t.Fatal("no run id in the report")
	}
	return pl
}

func deletedItems(pl *plan.Plan) map[string]plan.Item {
	out := map[string]plan.Item{}
	for _, it := range pl.Repositories[0].Items {
		if it.Result == plan.ResultDeleted {
			out[it.Digest] = it
		}
	}
	return out
}

// On CNCF distribution v3 in process and distribution 2.8.2 as a child
// process (skipped where docker-registry is not installed).
func TestRestoreAfterApplyAndAfterGC(t *testing.T) {
	for _, b := range []struct {
		name  string
		start func(testing.TB, registrytest.Options) *registrytest.Registry
	}{{"v3", registrytest.New}, {"dist2", registrytest.NewDist2}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel() // own registry and journal
			testRestore(t, b.start(t, registrytest.Options{}))
		})
	}
}

func testRestore(t *testing.T, reg *registrytest.Registry) {
	ctx := context.Background()
	// distribution's GC removes a repository's links to blobs no manifest
	// marked so far references, walking repositories in name order: the
	// repository that keeps the shared image's blobs must come first.
	const repo, mirror = "team/app", "base/mirror"

	// Deleted by the policy: an OCI index of 2 platforms (signed, with an
	// OCI 1.1 referrer through the fallback tag), a Docker manifest list,
	// a signed single image, and an image whose blobs another repository
	// keeps (it survives the garbage collector).
	_, oldIdx, err := reg.PushIndex(ctx, repo, types.OCIImageIndex, kids(1, 2), nil, "v1", "v1.0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Sign(ctx, repo, oldIdx, "sig"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AttachReferrer(ctx, repo, v1.Descriptor{Digest: oldIdx}, ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.PushIndex(ctx, repo, types.DockerManifestList, kids(3, 2), nil, "v1-docker"); err != nil {
		t.Fatal(err)
	}
	_, single, err := reg.PushImage(ctx, repo, spec(5), "build-5")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Sign(ctx, repo, single, "sig"); err != nil {
		t.Fatal(err)
	}
	shared, sharedDigest, err := reg.PushImage(ctx, repo, spec(6), "build-6")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PushExisting(ctx, mirror, shared, "keep"); err != nil {
		t.Fatal(err)
	}
	// Kept: the current multi-arch release.
	if _, _, err := reg.PushIndex(ctx, repo, types.OCIImageIndex, kids(10, 2), nil, "v2", "latest"); err != nil {
		t.Fatal(err)
	}
	// Clear the garbage seeding leaves (ggcr replaces the fallback index
	// when it adds a referrer), so that GC below only sees what apply did.
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}

	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "state", "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	keep := policy.Policy{Keep: policy.Keep{Tags: []string{"latest"}}}

	before := liveTags(t, reg, repo)
	pl := applyJournaled(t, reg, repo, keep, j)
	deleted := deletedItems(pl)
	kinds := map[string]int{}
	for _, it := range deleted {
		kinds[it.Kind]++
	}
	if kinds[plan.KindImage] != 4 || kinds[plan.KindChild] != 4 || kinds[plan.KindSignature] != 2 || kinds[plan.KindReferrer] < 2 {
		t.Fatalf("deleted kinds %v, want 4 images, 4 children, 2 signatures, the referrer and its fallback index", kinds)
	}
	for d := range deleted {
		if exists(t, reg, repo, d) {
			t.Fatalf("%s still there after apply", d)
		}
	}

	// The journal holds every deletion with its manifest.
	entries, err := j.Entries(ctx, pl.RunID, journal.Filter{WithManifests: true})
	if err != nil {
		t.Fatal(err)
	}
	journaled := map[string]bool{}
	for _, e := range entries {
		if e.Kind == journal.KindManifest {
			if registry.Sha256(e.Manifest) != e.Digest || e.Result != journal.ResultDeleted || e.Reason == "" || e.MediaType == "" {
				t.Errorf("entry %+v: manifest digest %s", e, registry.Sha256(e.Manifest))
			}
			journaled[e.Digest] = true
		}
	}
	for d := range deleted {
		if !journaled[d] {
			t.Errorf("deleted %s has no journal entry", d)
		}
	}

	// Someone pushes a new image to v1.0 meanwhile: restore leaves it.
	_, newer, err := reg.PushImage(ctx, repo, spec(20), "v1.0")
	if err != nil {
		t.Fatal(err)
	}

	o := restore.Options{Client: registry.New(registry.Options{}), Journal: j}
	rp, err := restore.Build(ctx, pl.RunID, restore.Filter{}, o)
	if err != nil {
		t.Fatal(err)
	}
	if s := rp.Summary; s.Push != len(deleted) || s.Unrecoverable != 0 || s.Leave != 1 {
		t.Fatalf("restore plan %+v, want %d to push, 1 tag left", s, len(deleted))
	}
	for d := range deleted {
		if !exists(t, reg, repo, d) {
			continue
		}
		t.Fatalf("the dry run pushed %s", d)
	}
	restore.Apply(ctx, rp, o)
	if err := rp.Err(); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if s := rp.Summary; s.Pushed != len(deleted) {
		t.Fatalf("pushed %d of %d: %+v", s.Pushed, len(deleted), s)
	}
	// Order: children before their index, subjects before referrers.
	pos := map[string]int{}
	for i, m := range rp.Repositories[0].Manifests {
		pos[m.Digest] = i
	}
	for _, it := range deleted {
		if it.Parent != "" && pos[it.Parent] < pos[it.Digest] {
			t.Errorf("index %s pushed before its child %s", it.Parent, it.Digest)
		}
		if it.Subject != "" && pos[it.Subject] > pos[it.Digest] {
			t.Errorf("referrer %s pushed before its subject %s", it.Digest, it.Subject)
		}
	}
	var left []string
	for _, tg := range rp.Repositories[0].Tags {
		if tg.Action == restore.ActionLeave {
			left = append(left, tg.Tag)
			if tg.Code != restore.WhyTagMoved {
				t.Errorf("tag %s left alone with code %q, want %q", tg.Tag, tg.Code, restore.WhyTagMoved)
			}
		}
	}
	if !slices.Equal(left, []string{"v1.0"}) {
		t.Errorf("tags left alone %v, want [v1.0]", left)
	}
	after := liveTags(t, reg, repo)
	pulls := reg.PullSet() // nothing changes the registry while it checks
	for tag, d := range before {
		want := d
		if tag == "v1.0" {
			want = newer.String() // the newer push stays
		}
		if after[tag] != want {
			t.Errorf("tag %s names %q after restore, want %s", tag, after[tag], want)
		}
		if err := pulls.Pullable(ctx, repo+":"+tag); err != nil {
			t.Errorf("tag %s does not pull after restore: %v", tag, err)
		}
	}
	for d := range deleted {
		if err := pulls.Pullable(ctx, repo+"@"+d); err != nil {
			t.Errorf("%s does not pull after restore: %v", d, err)
		}
	}

	// Apply again, let the garbage collector run, restore: only the image
	// whose blobs the mirror keeps comes back; every other one is named.
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	pl2 := applyJournaled(t, reg, repo, keep, j)
	deleted2 := deletedItems(pl2)
	if _, ok := deleted2[sharedDigest.String()]; !ok {
		t.Fatalf("the second run did not delete %s", sharedDigest)
	}
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	rp2, err := restore.Build(ctx, pl2.RunID, restore.Filter{}, o)
	if err != nil {
		t.Fatal(err)
	}
	restore.Apply(ctx, rp2, o)
	err = rp2.Err()
	if !errors.Is(err, restore.ErrUnrecoverable) || errors.Is(err, restore.ErrFailed) {
		t.Fatalf("restore after GC: %v, want ErrUnrecoverable only", err)
	}
	var lost []string
	for _, m := range rp2.Repositories[0].Manifests {
		switch m.Action {
		case restore.ActionUnrecoverable:
			lost = append(lost, m.Digest)
			t.Logf("cannot come back: %s %v: %s", m.Digest, m.Tags, m.Reason)
			if !strings.Contains(m.Reason, "sha256:") {
				t.Errorf("%s: reason %q names no blob or manifest", m.Digest, m.Reason)
			}
			if m.Code != restore.WhyBlobGone && m.Code != restore.WhyNeedUnrecoverable {
				t.Errorf("%s: code %q, want %q or %q", m.Digest, m.Code, restore.WhyBlobGone, restore.WhyNeedUnrecoverable)
			}
		case restore.ActionPush:
			if m.Digest != sharedDigest.String() || m.Result != restore.ResultPushed {
				t.Errorf("%s: %s %s", m.Digest, m.Action, m.Result)
			}
		}
	}
	var want []string
	for d := range deleted2 {
		if d != sharedDigest.String() {
			want = append(want, d)
		}
	}
	sort.Strings(lost)
	sort.Strings(want)
	if !slices.Equal(lost, want) {
		t.Errorf("unrecoverable %v,\nwant %v", lost, want)
	}
	if err := reg.Pullable(ctx, repo+":build-6"); err != nil {
		t.Errorf("build-6 after the second restore: %v", err)
	}
	for _, tg := range rp2.Repositories[0].Tags {
		if slices.Contains(lost, tg.Digest) && tg.Result == restore.ResultTagged {
			t.Errorf("tag %s of an unrecoverable image re-created", tg.Tag)
		}
	}
	t.Logf("restore after GC: %+v", rp2.Summary)
}
