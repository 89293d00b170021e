package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// Issue 19 point 15: the referrers API's answer is followed page by page
// (Link rel="next"), as the tag list is; a page larger than the bound
// fails closed with a clear error instead of being cut.
func TestReferrersPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	api := registrytest.NewTestReferrersAPI(t, reg.URL)
	api.SetPageSize(2)
	_, subject := gImage(t, reg, "app", 1, "", "latest")
	var want []string
	for i := range 5 {
		sum := sha256.Sum256([]byte(fmt.Sprint("referrer ", i)))
		d := "sha256:" + hex.EncodeToString(sum[:])
		want = append(want, d)
		api.Add(subject, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: gHash(t, d), Size: 100})
	}
	rp, err := registry.New(registry.Options{}).Open(ctx, api.Host+"/app", registry.Pull)
	if err != nil {
		t.Fatal(err)
	}
	body, ok, err := rp.Referrers(ctx, subject)
	if err != nil || !ok {
		t.Fatalf("Referrers: %v %v", ok, err)
	}
	m, err := registry.ParseManifest("referrers", body)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Children(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("referrers %v, want all five %v", got, want)
	}
	if n := api.Asked()[subject]; n != 3 {
		t.Errorf("%d pages asked for, want 3", n)
	}

	// One page over MaxManifestSize: refused, not cut.
	_, big := gImage(t, reg, "app", 2, "", "big")
	api.SetPageSize(0)
	pad := strings.Repeat("x", 1<<20)
	for i := range 5 {
		sum := sha256.Sum256([]byte(fmt.Sprint("big ", i)))
		api.Add(big, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: gHash(t, "sha256:"+hex.EncodeToString(sum[:])), Size: 100,
			Annotations: map[string]string{"pad": pad}})
	}
	_, ok, err = rp.Referrers(ctx, big)
	if !errors.Is(err, registry.ErrBadResponse) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized page: ok %v, err %v; want a refusal naming the bound", ok, err)
	}

	// A plan reads every page: all three referrers of the old image are
	// found and deleted with it.
	_, old := gImage(t, reg, "plan", 0, "", "old")
	gImage(t, reg, "plan", 3, "", "latest")
	rp2, err := registry.New(registry.Options{}).Open(ctx, api.Host+"/plan", registry.PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	api.SetPageSize(1)
	var refs []string
	for range 3 {
		r := gRefer(t, reg, "plan", old)
		gAPIOnly(t, rp2, api, old, r)
		refs = append(refs, r)
	}
	o := opts(reg)
	pl := engine.Plan(ctx, []engine.Job{{Repository: api.Host + "/plan", Policy: keepTag("latest")}}, plan.ModeApply, o)
	if r := pl.Repositories[0]; r.Err != nil {
		t.Fatalf("plan: %v", r.Err)
	}
	gWant(t, pl, plan.ActionDelete, plan.KindReferrer, refs...)
}
