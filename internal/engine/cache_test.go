package engine_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cache"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
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
	pl := engine.Plan(context.Background(), []engine.Target{{Repository: proxy.Host + "/" + repo, Policy: keepTag("latest")}}, false, o)
	if r := pl.Repositories[0]; r.Error != "" {
		t.Fatalf("plan failed: %s", r.Error)
	}
	return pl, proxy.Counts()
}

// reads are the counts that matter here: everything but the auth ping.
type reads struct{ TagList, HEAD, ManifestGET, BlobGET, Referrers, Other int }

func readsOf(c registrytest.Counts) reads {
	return reads{c.TagList, c.ManifestHEAD, c.ManifestGET, c.BlobGET, c.Referrers, c.Other}
}

// A cold run fetches each manifest and config once; a second run over the
// unchanged repository sends only the tag list, one HEAD per tag, the
// one-request referrers probe and the ping; a run after new pushes fetches
// only what is new; the plans do not depend on the cache.
func TestCacheSecondRunSendsOnlyListAndHeads(t *testing.T) {
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
	// config.
	const tags, manifests, configs = 15, 16, 15

	c, err := cache.Open(t.TempDir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cold, n1 := counted(t, proxy, repo, c)
	if got, want := readsOf(n1), (reads{1, tags, manifests, configs, 1, 1}); got != want {
		t.Fatalf("cold run: %+v, want %+v (each manifest and config exactly once)", got, want)
	}
	warm, n2 := counted(t, proxy, repo, c)
	if got, want := readsOf(n2), (reads{1, tags, 0, 0, 1, 1}); got != want {
		t.Fatalf("warm run: %+v, want %+v (tag list, one HEAD per tag, referrers probe, ping)", got, want)
	}
	if !reflect.DeepEqual(cold.Repositories, warm.Repositories) {
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
	if got, want := readsOf(n3), (reads{1, tags + 3, 3, 3, 1, 1}); got != want {
		t.Fatalf("after 3 pushes: %+v, want %+v (only the new manifests and configs)", got, want)
	}

	// Without a cache every run pays in full.
	_, n4 := counted(t, proxy, repo, nil)
	if got, want := readsOf(n4), (reads{1, tags + 3, manifests + 3, configs + 3, 1, 1}); got != want {
		t.Fatalf("no cache: %+v, want %+v", got, want)
	}
	if s := c.Stats(); s.Puts != manifests+configs+6 {
		t.Errorf("cache puts = %d, want %d", s.Puts, manifests+configs+6)
	}
}

// Tags sharing digests: one HEAD per tag, but each shared manifest and
// config is fetched once.
func TestSharedDigestsFetchedOnce(t *testing.T) {
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
	if got, want := readsOf(n), (reads{1, 16, 3, 3, 1, 1}); got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
}
