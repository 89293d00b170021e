package engine_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/cache"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registrytest"
)

// Issue 20, section 4: images pushed with expiry labels (config labels)
// and annotations (on the manifest or the index); apply --expire-by-label
// deletes exactly the expired images, and everything kept pulls after the
// registry's GC. On both backends.
func TestExpireByLabel(t *testing.T) { onBackends(t, testExpireByLabel) }

func testExpireByLabel(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	const repo = "ci/expiring"
	now := opts(reg).Now
	day := 24 * time.Hour
	const key = policy.DefaultExpiryLabel
	image := func(age time.Duration, labels, annotations map[string]string, tags ...string) string {
		t.Helper()
		spec := registrytest.ImageSpec{Created: now.Add(-age), Labels: labels, Annotations: annotations, LayerSize: 256, MediaType: types.OCIManifestSchema1}
		_, h, err := reg.PushImage(ctx, repo, spec, tags...)
		if err != nil {
			t.Fatal(err)
		}
		return h.String()
	}
	label := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	kid := func(age time.Duration, labels map[string]string) registrytest.Child {
		return registrytest.Child{Spec: &registrytest.ImageSpec{Created: now.Add(-age), Labels: labels, LayerSize: 256}}
	}

	// Expired: deleted.
	expired := image(10*day, label(key, "1w"), nil, "pr-1")
	annotated := image(3*day, nil, label(key, "2d"), "pr-2")
	custom := image(3*day, label("com.example.ttl", "1d"), nil, "pr-3")
	_, idxAnnotated, idxAnnotatedKids := gIndex(t, reg, repo, types.OCIImageIndex,
		[]registrytest.Child{kid(10*day, label(key, "30d")), kid(10*day, nil)}, label(key, "1w"), "multi-1")
	attestation := registrytest.Child{
		Spec:        &registrytest.ImageSpec{Created: now.Add(-9 * day), LayerSize: 64},
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
	}
	_, idxAgree, idxAgreeKids := gIndex(t, reg, repo, types.OCIImageIndex,
		[]registrytest.Child{kid(10*day, label(key, "1w")), kid(9*day, label(key, "1w")), attestation}, nil, "multi-2")

	// Not expired, or no expiry: kept.
	fresh := image(2*day, label(key, "1w"), nil, "pr-4")
	nolabel := image(400*day, nil, nil, "release-1")
	never := image(30*day, label(key, "never"), nil, "pr-5")
	_, idxDisagree, idxDisagreeKids := gIndex(t, reg, repo, types.OCIImageIndex,
		[]registrytest.Child{kid(10*day, label(key, "1w")), kid(10*day, label(key, "1d"))}, nil, "multi-3")
	// Expired, but a keep tag holds it.
	latest := image(10*day, label(key, "3d"), nil, "latest", "pr-7")

	// Expired, but a kept index lists it.
	sharedImg, sharedH, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: now.Add(-10 * day), Labels: label(key, "1d"), LayerSize: 256, MediaType: types.OCIManifestSchema1}, "pr-8")
	if err != nil {
		t.Fatal(err)
	}
	shared := sharedH.String()
	_, stable, _ := gIndex(t, reg, repo, types.OCIImageIndex, []registrytest.Child{{Image: sharedImg}}, nil, "stable")

	// An image of unknown build time: a reproducible build's epoch.
	_, h, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: time.Unix(0, 0), Labels: label(key, "1s"), LayerSize: 256}, "pr-6")
	if err != nil {
		t.Fatal(err)
	}
	repro := h.String()

	p := policy.Policy{Keep: policy.Keep{Tags: []string{"latest", "stable"}}, Delete: policy.Delete{ExpiredLabels: true, ExpiryLabels: []string{"com.example.ttl"}}}
	pl := gPlanApply(t, reg, repo, p)
	r := pl.Repositories[0]
	gWant(t, pl, plan.ActionDelete, plan.KindImage, expired, annotated, custom, idxAnnotated, idxAgree)
	gWant(t, pl, plan.ActionDelete, plan.KindChild, append(idxAnnotatedKids, idxAgreeKids...)...)
	gWant(t, pl, plan.ActionKeep, plan.KindImage, fresh, nolabel, never, repro, idxDisagree, latest, shared, stable)
	gWant(t, pl, plan.ActionKeep, plan.KindChild, idxDisagreeKids...)
	if s := r.Summary; s.Delete != 5 || s.Keep != 8 {
		t.Errorf("summary %+v, want 5 images deleted and 8 kept", s)
	}
	want := []string{"latest", "multi-3", "pr-4", "pr-5", "pr-6", "pr-7", "pr-8", "release-1", "stable"}
	if got := tags(t, reg, repo); !slices.Equal(got, want) {
		t.Errorf("tags %v, want %v", got, want)
	}

	reasons := func(d string) string { return strings.Join(plan.Texts(gItem(t, pl, d).Reasons), "\n") }
	for d, w := range map[string]string{
		latest:       "kept: tag latest (its label expired 7d ago)",
		expired:      "delete: its label quay.expires-after=1w expired 3d ago",
		annotated:    "delete: its annotation quay.expires-after=2d expired 1d ago",
		idxAnnotated: "delete: its index annotation quay.expires-after=1w expired 3d ago",
		idxAgree:     "delete: its children's label quay.expires-after=1w expired 2d ago",
		never:        `its label quay.expires-after="never" does not parse`,
		repro:        "but its build time is unknown, so it never expires",
		idxDisagree:  "its children's expiry labels disagree",
		fresh:        "expires in 5d",
		shared:       "kept: child of kept index " + stable[:19] + " (tag stable)\npolicy alone: delete: its label quay.expires-after=1d expired 9d ago",
	} {
		if got := reasons(d); !strings.Contains(got, w) {
			t.Errorf("%s: reasons %q, want %q", d, got, w)
		}
	}
	if it := gItem(t, pl, expired); !plan.HasCode(it.Reasons, plan.ReasonCode(policy.RuleExpired)) {
		t.Errorf("expired image: codes %v", plan.Codes(it.Reasons))
	}
	var warned []string
	for _, w := range r.Warnings {
		for _, d := range []string{never, idxDisagree} {
			if strings.Contains(w, "image "+d) {
				warned = append(warned, d)
			}
		}
	}
	if len(warned) != 2 || len(r.Warnings) != 2 {
		t.Errorf("warnings %q, want one naming %s and one naming %s", r.Warnings, never, idxDisagree)
	}
	gVerify(t, reg, repo, pl)
}

// What --expire-by-label costs: it reads each image's config once (the
// labels and the build time are there), like the age rules; a rule
// without it reads none, and a run with the configs in the cache none.
func TestExpireByLabelRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.SeedCI(ctx, "app", 4, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(t.TempDir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	expire := policy.Policy{Delete: policy.Delete{ExpiredLabels: true}}
	for _, tc := range []struct {
		p        policy.Policy
		cache    bool
		blobGets int64
	}{
		{keepTag("latest"), false, 0},
		{expire, false, 4},
		{expire, true, 4}, // cold: fills the cache
		{expire, true, 0}, // warm
	} {
		o := opts(reg)
		if tc.cache {
			o.Cache = c
		}
		pl := engine.Plan(ctx, []engine.Job{{Repository: reg.Ref("app"), Policy: tc.p}}, plan.ModePlan, o)
		if got := o.Client.Stats().Snapshot().BlobGet; got != tc.blobGets || pl.Repositories[0].Err != nil {
			t.Errorf("expire by label %v, cache %v: %d blob GETs (err %v); want %d", tc.p.Delete.ExpiredLabels, tc.cache, got, pl.Repositories[0].Err, tc.blobGets)
		}
	}
}
