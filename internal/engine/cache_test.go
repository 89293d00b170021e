package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/cache"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// counted plans repo through proxy with cache c (nil: none) and returns
// the plan and the requests that reached the registry.
func counted(t *testing.T, proxy *registrytest.Proxy, repo string, c *cache.Cache) (*plan.Plan, registrytest.Counts) {
	t.Helper()
	proxy.Reset()
	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour)}
	if c != nil {
		o.Cache = c
	}
	pl := engine.Plan(context.Background(), []engine.Job{{Repository: proxy.Host + "/" + repo, Policy: keepNewest(2) /* an age rule: configs are read, once */}}, plan.ModePlan, o)
	if r := pl.Repositories[0]; r.Err != nil {
		t.Fatalf("plan failed: %s", r.Err)
	}
	return pl, proxy.Counts()
}

// reads are the counts that matter here: everything but the auth ping.
type reads struct{ TagList, HEAD, ManifestGET, BlobGET, Referrers, Other int }

func readsOf(c registrytest.Counts) reads {
	return reads{c.TagList, c.ManifestHEAD, c.ManifestGET, c.BlobGET, c.Referrers, c.Other}
}

// A cold run resolves each tag with one GET (the body and its digest
// together) and fetches each index child and config once; a second run
// over the unchanged repository sends only the tag list, one HEAD per tag,
// the one-request referrers probe and the ping; a run after new pushes
// GETs only the new tags; the plans do not depend on the cache.
func TestCacheSecondRunSendsOnlyListAndHeads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	const repo = "group/app"
	ds, err := reg.SeedCI(ctx, repo, 12, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// An index with two children, and a signature of latest.
	if _, _, err := reg.PushIndex(ctx, repo, "", []registrytest.Child{
		{Spec: &registrytest.ImageSpec{Created: t0}}, {Spec: &registrytest.ImageSpec{Created: t0}},
	}, nil, "multi"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Sign(ctx, repo, ds[len(ds)-1], "sig"); err != nil {
		t.Fatal(err)
	}
	// 12 job tags, latest, multi, the .sig tag. Manifests: 12 images, the
	// index and its 2 children, the signature; each but the index has a
	// config. A cold run GETs every tag (latest and its job tag name the
	// same image: that is one GET more than there are manifests) and the
	// 2 children by digest.
	const tags, manifests, configs, children = 15, 16, 15, 2

	c, err := cache.Open(t.TempDir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cold, n1 := counted(t, proxy, repo, c)
	if got, want := readsOf(n1), (reads{1, 0, tags + children, configs, 1, 1}); got != want {
		t.Fatalf("cold run: %+v, want %+v (one GET a tag, no HEAD; each child and config exactly once)", got, want)
	}
	warm, n2 := counted(t, proxy, repo, c)
	if got, want := readsOf(n2), (reads{1, tags, 0, 0, 1, 1}); got != want {
		t.Fatalf("warm run: %+v, want %+v (tag list, one HEAD per tag, referrers probe, ping)", got, want)
	}
	if !reflect.DeepEqual(runFree(cold.Repositories), runFree(warm.Repositories)) {
		t.Fatalf("plans differ between cold and warm runs:\ncold %+v\nwarm %+v", cold.Repositories, warm.Repositories)
	}

	// A nightly run: three builds pushed since.
	for i := range 3 {
		created := t0.Add(time.Duration(100+i) * time.Hour)
		if _, _, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: created}, fmt.Sprint(3000+i)); err != nil {
			t.Fatal(err)
		}
	}
	_, n3 := counted(t, proxy, repo, c)
	if got, want := readsOf(n3), (reads{1, tags, 3, 3, 1, 1}); got != want {
		t.Fatalf("after 3 pushes: %+v, want %+v (a HEAD for each known tag, a GET for each new one)", got, want)
	}

	// Without a cache every run pays in full.
	_, n4 := counted(t, proxy, repo, nil)
	if got, want := readsOf(n4), (reads{1, 0, tags + 3 + children, configs + 3, 1, 1}); got != want {
		t.Fatalf("no cache: %+v, want %+v", got, want)
	}
	if s := c.Stats(); s.Puts != manifests+configs+6 {
		t.Errorf("cache puts = %d, want %d", s.Puts, manifests+configs+6)
	}
}

// Tags sharing digests, on a cold run: one GET per tag (no HEAD), and each
// shared config is fetched once.
func TestSharedDigestsFetchedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	const repo = "shared"
	for i := range 3 {
		var tg []string
		for j := range 5 {
			tg = append(tg, fmt.Sprintf("b%d-%d", i, j))
		}
		if i == 2 {
			tg = append(tg, "latest")
		}
		if _, _, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: t0.Add(time.Duration(i) * time.Hour)}, tg...); err != nil {
			t.Fatal(err)
		}
	}
	_, n := counted(t, proxy, repo, nil)
	if got, want := readsOf(n), (reads{1, 0, 16, 3, 1, 1}); got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
}

// On a registry with the referrers API, each manifest's referrers are
// asked for once: the capability probe's answer is used, not asked again.
func TestReferrersAskedOncePerSubject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "refs"
	if _, err := reg.SeedCI(ctx, repo, 3, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	api := registrytest.NewTestReferrersAPI(t, reg.URL)
	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour)}
	pl := engine.Plan(ctx, []engine.Job{{Repository: api.Host + "/" + repo, Policy: keepTag("latest")}}, plan.ModePlan, o)
	if r := pl.Repositories[0]; r.Err != nil {
		t.Fatalf("plan failed: %s", r.Err)
	}
	asked := api.Asked()
	if len(asked) != 3 {
		t.Errorf("referrers asked for %d subjects, want the 3 images: %v", len(asked), asked)
	}
	for d, n := range asked {
		if n != 1 {
			t.Errorf("referrers of %s asked %d times, want once", d, n)
		}
	}
}

// A manifest without a mediaType field plans the same from the cache as
// from the registry, whose Content-Type a cached body lacks.
func TestCacheTransparentWithoutMediaTypeField(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	const repo = "bare"
	img, _, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: t0, MediaType: types.OCIManifestSchema1}, "latest")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "mediaType")
	m["annotations"] = map[string]string{"bare": "yes"} // another digest
	bare, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, reg.URL+"/v2/"+repo+"/manifests/old", bytes.NewReader(bare))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", string(types.OCIManifestSchema1))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT manifest without mediaType: %s", resp.Status)
	}
	c, err := cache.Open(t.TempDir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cold, _ := counted(t, proxy, repo, c)
	warm, n := counted(t, proxy, repo, c)
	if n.ManifestGET+n.BlobGET != 0 {
		t.Fatalf("warm run fetched: %+v", n)
	}
	if !reflect.DeepEqual(runFree(cold.Repositories), runFree(warm.Repositories)) {
		t.Fatalf("plans differ between cold and warm runs:\ncold %+v\nwarm %+v", cold.Repositories, warm.Repositories)
	}
	for _, it := range warm.Repositories[0].Items {
		if it.MediaType != string(types.OCIManifestSchema1) {
			t.Errorf("%s: media type %q, want %s", it.Digest, it.MediaType, types.OCIManifestSchema1)
		}
	}
}

func keepNewest(n int) policy.Policy { return policy.Policy{Keep: policy.Keep{Newest: n}} }

// The request count of a plan of N single-platform tags, at the registry:
// cold, one GET a tag plus the pages of the tag list (and the ping and
// the referrers probe); warm, one HEAD a tag instead, and nothing else.
func TestPlanRequestsPerTag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	const repo, builds = "ci/app", 40
	if _, err := reg.SeedCI(ctx, repo, builds, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	const tags, pages = builds + 1, 5 // the job tags and latest, 10 a page: 5 pages
	c, err := cache.Open(t.TempDir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := engine.Options{Now: t0.Add(30 * 24 * time.Hour), Cache: c}
	target := []engine.Job{{Repository: proxy.Host + "/" + repo, Policy: keepTag("latest")}}
	for _, run := range []struct {
		name string
		want registrytest.Counts
	}{
		{"cold", registrytest.Counts{Total: tags + pages + 2, TagList: pages, ManifestGET: tags, Referrers: 1, Other: 1}},
		{"warm", registrytest.Counts{Total: tags + pages + 2, TagList: pages, ManifestHEAD: tags, Referrers: 1, Other: 1}},
	} {
		proxy.Reset()
		o.Client = registry.New(registry.Options{PageSize: 10}) // a run of its own: one process, one client
		pl := engine.Plan(ctx, target, plan.ModePlan, o)
		if r := pl.Repositories[0]; r.Err != nil || r.Summary.Delete != builds-1 {
			t.Fatalf("%s: plan %+v", run.name, r.Summary)
		}
		if got := proxy.Counts(); got != run.want {
			t.Errorf("%s plan: %+v, want %+v", run.name, got, run.want)
		}
	}
}

// runFree drops what a plan records of its own run only: the tags a GET
// resolved (a cold run GETs them, a warm one HEADs them).
func runFree(rs []plan.RepoPlan) []plan.RepoPlan {
	out := append([]plan.RepoPlan(nil), rs...)
	for i := range out {
		out[i].VerifiedTags = nil
	}
	return out
}
