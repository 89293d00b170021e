package engine_test

// Integration tests of regprune against registries that speak the
// protocol in ways distribution v3 alone does not show: tag lists without
// Link headers, listed tags that do not resolve, registries that cannot
// delete a tag alone or refuse deletes, and keep rules that hold nothing.
// Each ends with the registry's own GC and a full pull of every kept image.

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// pApply plans and applies p to repo through host (a proxy's, or the
// registry's own) with client options co.
func pApply(t *testing.T, host, repo string, p policy.Policy, co registry.Options) *plan.Plan {
	t.Helper()
	ctx := context.Background()
	o := engine.Options{Client: registry.New(co), Now: t0.Add(30 * 24 * time.Hour)}
	pl := engine.Plan(ctx, []engine.Job{{Repository: host + "/" + repo, Policy: p}}, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	return pl
}

// pEnd runs the registry's own GC, then pulls in full every manifest the
// plan kept and every tag left.
func pEnd(t *testing.T, reg *registrytest.Registry, repo string, pl *plan.Plan) {
	t.Helper()
	ctx := context.Background()
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	pulls := reg.PullSet() // nothing changes the registry while it checks
	for _, it := range pl.Repositories[0].Items {
		if it.Action == plan.ActionKeep {
			if err := pulls.Pullable(ctx, repo+"@"+it.Digest); err != nil {
				t.Errorf("kept %s %s %v after GC: %v", it.Kind, it.Digest, it.Tags, err)
			}
		}
	}
	for _, tag := range tags(t, reg, repo) {
		if err := pulls.Pullable(ctx, repo+":"+tag); err != nil {
			t.Errorf("tag %s after GC: %v", tag, err)
		}
	}
}

// A registry that sends full tag-list pages without Link (as
// go-containerregistry's does): the only tag that protects a build, v1.0
// (kept by a keep regex), is on the second page. regprune continues with
// ?last= after a full page, sees v1.0, and keeps the build; with Link
// honoured alone it would have stopped after the first page and deleted
// it by digest.
func TestTagListWithoutLink(t *testing.T) { onBackends(t, testTagListWithoutLink) }

func testTagListWithoutLink(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{Rewrite: registrytest.StripLink})
	const repo = "ci/app"
	ds, err := reg.SeedCI(ctx, repo, 6, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	released := ds[1] // build 1002, also released as v1.0
	if err := reg.Tag(ctx, repo, released, "v1.0"); err != nil {
		t.Fatal(err)
	}
	// Sorted tags, 4 a page: 1001 1002 1003 1004 | 1005 1006 latest v1.0 | -
	re, err := policy.CompileRegex(`v[0-9.]+`)
	if err != nil {
		t.Fatal(err)
	}
	p := policy.Policy{Keep: policy.Keep{Tags: []string{"latest"}, Regex: []*regexp.Regexp{re}}}
	pl := pApply(t, proxy.Host, repo, p, registry.Options{PageSize: 4})
	r := pl.Repositories[0]
	if r.Err != nil {
		t.Fatalf("repository failed: %s", r.Err)
	}
	if it := item(t, r, released.String()); it.Action != plan.ActionKeep || it.Result != "" {
		t.Fatalf("the released build: %+v", it)
	}
	if s := r.Summary; s.Keep != 2 || s.Delete != 4 || s.Deleted != 4 {
		t.Errorf("summary %+v, want 2 kept, 4 deleted", s)
	}
	// distribution v3 honours n (Link stripped): the plan's listing and
	// apply's re-check take 3 requests each (4, 4 and 0 tags), the
	// re-check after the tag deletes 2 (4 and 0). distribution 2.x ignores
	// n and sends all 8 tags at once, and cannot delete tags, so there is
	// no second re-check: 1 + 1. The read-back after the deletes lists
	// once more: on v3 2 requests (4 and 0 tags), on 2.x 3 (its 4 tags
	// fill a page of n=4, ?last= brings the same page, and n=8 proves the
	// listing complete).
	c := proxy.Counts()
	t.Logf("%s: %d tag-list requests over the plan's listing and apply's re-checks", reg.Flavour, c.TagList)
	if want := map[string]int{registrytest.FlavourV3: 3 + 3 + 2 + 2, registrytest.FlavourDist2: 1 + 1 + 3}[reg.Flavour]; c.TagList != want {
		t.Errorf("%d tag-list requests, want %d", c.TagList, want)
	}
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"1002", "1006", "latest", "v1.0"}) {
		t.Errorf("tags %v", got)
	}
	pEnd(t, reg, repo, pl)
	if err := reg.Pullable(ctx, repo+":v1.0"); err != nil {
		t.Fatal(err)
	}
}

// A registry whose listing does not add up fails the repository closed:
// a page that repeats a tag of an earlier page, and a registry that
// ignores ?last= while honouring ?n= (it would repeat the first page for
// ever). Nothing is deleted, and every image still pulls after GC.
func TestTagListThatDoesNotAddUp(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/app"
	if _, err := reg.SeedCI(ctx, repo, 6, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	for name, rewrite := range map[string]func(*http.Request){
		// Every ?last= is turned back into the first page.
		"ignores last": func(r *http.Request) {
			q := r.URL.Query()
			q.Del("last")
			r.URL.RawQuery = q.Encode()
		},
		// The second page starts one tag early: 1004 is listed twice.
		"overlapping pages": func(r *http.Request) {
			q := r.URL.Query()
			if q.Get("last") == "1004" {
				q.Set("last", "1003")
				r.URL.RawQuery = q.Encode()
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{
				Rewrite: registrytest.StripLink,
				Intercept: func(w http.ResponseWriter, r *http.Request) bool {
					if strings.HasSuffix(r.URL.Path, "/tags/list") {
						rewrite(r)
					}
					return false
				},
			})
			pl := pApply(t, proxy.Host, repo, keepTag("latest"), registry.Options{PageSize: 4})
			r := pl.Repositories[0]
			if !errors.Is(r.Err, registry.ErrBadResponse) || plan.CodeOf(r.Err) != plan.ErrorRead {
				t.Fatalf("repository error %v, want a listing that does not add up (ErrBadResponse)", r.Err)
			}
			if c := proxy.Counts(); c.ManifestDELETE != 0 {
				t.Fatalf("%d DELETEs", c.ManifestDELETE)
			}
			if got := tags(t, reg, repo); len(got) != 7 {
				t.Fatalf("tags %v, want all 7", got)
			}
			pEnd(t, reg, repo, pl)
		})
	}
}

// A listed tag whose HEAD answers 404: listed again and still there and
// still unresolvable, it fails the repository closed (it was a kept tag:
// without this its build would have been deleted by digest). A tag that
// is gone from the second listing was deleted a moment ago: fine.
func TestListedTagThatDoesNotResolve(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/app"
	ds, err := reg.SeedCI(ctx, repo, 4, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{
		Intercept: func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method != http.MethodHead && r.Method != http.MethodGet { // a tag is resolved by either
				return false
			}
			switch {
			case strings.HasSuffix(r.URL.Path, "/manifests/1002"):
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				return true
			case strings.HasSuffix(r.URL.Path, "/manifests/1001"):
				// Someone deletes 1001 between regprune's listing and
				// its HEAD.
				once.Do(func() {
					req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, reg.URL+"/v2/"+repo+"/manifests/1001", nil)
					if resp, err := http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
					}
				})
			}
			return false
		},
	})
	pl := pApply(t, proxy.Host, repo, keepTag("latest", "1002"), registry.Options{})
	r := pl.Repositories[0]
	if !errors.Is(r.Err, inventory.ErrUnresolvableTag) || r.Err == nil || !strings.Contains(r.Err.Error(), "1002") {
		t.Fatalf("repository error %v, want ErrUnresolvableTag naming 1002", r.Err)
	}
	if c := proxy.Counts(); c.ManifestDELETE != 0 {
		t.Fatalf("%d DELETEs in a repository that failed closed", c.ManifestDELETE)
	}
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"1002", "1003", "1004", "latest"}) {
		t.Fatalf("tags %v", got)
	}
	pEnd(t, reg, repo, pl)
	if err := reg.Pullable(ctx, repo+"@"+ds[1].String()); err != nil {
		t.Fatal(err)
	}

	// The inventory alone: 1001 vanished (no error), 1002 does not resolve.
	rp, err := registry.New(registry.Options{}).Open(ctx, proxy.Host+"/"+repo, registry.Pull)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inventory.Collect(ctx, rp, inventory.Options{}); !errors.Is(err, inventory.ErrUnresolvableTag) {
		t.Fatalf("collect: %v, want ErrUnresolvableTag", err)
	}
}

// The tag-delete probe is a tag of an image being deleted anyway, never a
// tag of a kept image. On distribution v3 it works, and the opt-in untag
// of the kept image follows; on distribution 2.x it answers 400
// DIGEST_INVALID, regprune deletes by digest and says so (capabilities in
// the JSON, a note for stderr), and the kept image keeps its tag.
func TestTagDeleteProbe(t *testing.T) { onBackends(t, testTagDeleteProbe) }

func testTagDeleteProbe(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	var mu sync.Mutex
	var deletes []string
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{
		Intercept: func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodDelete {
				mu.Lock()
				deletes = append(deletes, r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
				mu.Unlock()
			}
			return false
		},
	})
	const repo = "ci/app"
	ds, err := reg.SeedCI(ctx, repo, 3, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := keepTag("latest")
	p.UntagUnkept = true
	pl := pApply(t, proxy.Host, repo, p, registry.Options{})
	r := pl.Repositories[0]
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if len(deletes) == 0 || deletes[0] != "1001" && deletes[0] != "1002" {
		t.Fatalf("DELETEs %v: the first must be a tag of a deleted build", deletes)
	}
	kept := item(t, r, ds[2].String())
	c := r.Capabilities
	if c == nil {
		t.Fatal("no capabilities recorded")
	}
	switch reg.Flavour {
	case registrytest.FlavourV3:
		if c.TagDelete != plan.CapWorks || kept.Result != plan.ResultUntagged {
			t.Errorf("capabilities %+v, kept %s %q", c, kept.Result, kept.ResultReason)
		}
		if got := tags(t, reg, repo); !slices.Equal(got, []string{"latest"}) {
			t.Errorf("tags %v", got)
		}
	default:
		if c.TagDelete != plan.CapRefused || c.Deletes != plan.CapWorks || kept.Result != plan.ResultSkipped ||
			len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "400 DIGEST_INVALID") || !strings.Contains(c.Notes[0], "deleted by digest") {
			t.Errorf("capabilities %+v, kept %s %q", c, kept.Result, kept.ResultReason)
		}
		if slices.Contains(deletes, "1003") {
			t.Errorf("DELETEs %v: a tag of the kept image was sent", deletes)
		}
		if got := tags(t, reg, repo); !slices.Equal(got, []string{"1003", "latest"}) {
			t.Errorf("tags %v", got)
		}
	}
	if reg := pl.Registries; len(reg) != 1 || reg[0].Host != proxy.Host || reg[0].TagDelete != c.TagDelete {
		t.Errorf("registries %+v", reg)
	}
	if r.Summary.Deleted != 2 || r.Summary.FreedBytes == nil || *r.Summary.FreedBytes != r.Summary.ReclaimableBytes {
		t.Errorf("summary %+v", r.Summary)
	}
	t.Logf("%s: DELETEs %v", reg.Flavour, deletes)
	pEnd(t, reg, repo, pl)
}

// A registry whose DELETE /manifests/<tag> removes the whole manifest:
// the probe, a tag of a deleted build, shows it; regprune then sends no
// further tag delete (the opt-in untag of the kept image is skipped, or it
// would destroy latest) and deletes the rest by digest.
func TestTagDeleteThatRemovesTheManifest(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/app"
	if _, err := reg.SeedCI(ctx, repo, 3, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{
		Intercept: func(w http.ResponseWriter, r *http.Request) bool {
			i := strings.LastIndex(r.URL.Path, "/manifests/")
			if r.Method != http.MethodDelete || i < 0 || strings.HasPrefix(r.URL.Path[i:], "/manifests/sha256:") {
				return false
			}
			rp, err := registry.New(registry.Options{}).Open(r.Context(), reg.Ref(repo), registry.PullDelete)
			if err == nil {
				var d registry.Descriptor
				if d, err = rp.Head(r.Context(), r.URL.Path[i+len("/manifests/"):]); err == nil {
					err = rp.Delete(r.Context(), d.Digest)
				}
			}
			if err != nil {
				w.WriteHeader(http.StatusInternalServerError)
				return true
			}
			w.WriteHeader(http.StatusAccepted)
			return true
		},
	})
	p := keepTag("latest")
	p.UntagUnkept = true
	pl := pApply(t, proxy.Host, repo, p, registry.Options{})
	r := pl.Repositories[0]
	if r.Err != nil || r.Summary.Deleted != 2 || r.Summary.Failed != 0 {
		t.Fatalf("error %q, summary %+v", r.Err, r.Summary)
	}
	if c := r.Capabilities; c == nil || c.TagDelete != plan.CapRefused || len(c.Notes) == 0 || !strings.Contains(c.Notes[0], "removed the whole manifest") {
		t.Errorf("capabilities %+v", c)
	}
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"1003", "latest"}) {
		t.Errorf("tags %v: latest and its job tag must stay", got)
	}
	pEnd(t, reg, repo, pl)
}

// Keep rules that hold nothing are warned about, in plan and apply: a
// keep tag naming no tag (a typo) and a keep regex matching none.
func TestKeepRuleMatchesNothing(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "ci/app"
	if _, err := reg.SeedCI(ctx, repo, 3, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	re, err := policy.CompileRegex(`release-.*`)
	if err != nil {
		t.Fatal(err)
	}
	p := policy.Policy{Keep: policy.Keep{Tags: []string{"lastest", "1003"}, Regex: []*regexp.Regexp{re}}}
	for _, mode := range []plan.Mode{plan.ModePlan, plan.ModeApply} {
		o := opts(reg)
		pl := engine.Plan(ctx, []engine.Job{{Repository: reg.Ref(repo), Policy: p}}, mode, o)
		if mode == plan.ModeApply {
			engine.Apply(ctx, pl, o)
		}
		want := []string{"keep tag lastest names no tag in " + reg.Ref(repo) + "; did you mean latest?", "keep regex release-.* matches no tag in " + reg.Ref(repo)}
		if got := pl.Repositories[0].Warnings; !slices.Equal(got, want) {
			t.Errorf("%s: warnings %q, want %q", mode, got, want)
		}
	}
	if got := tags(t, reg, repo); !slices.Equal(got, []string{"1003", "latest"}) {
		t.Errorf("tags %v", got)
	}
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if err := reg.Pullable(ctx, repo+":latest"); err != nil {
		t.Fatal(err)
	}
}

// The GC advice, measured on distribution 2.8.2 with nothing of regprune
// involved: `garbage-collect --delete-untagged` destroys the untagged
// children of a tagged index and an OCI 1.1 artifact of a tagged image
// that only its fallback tag lists; plain `garbage-collect` keeps both.
func TestDist2DeleteUntaggedDestroysKeptIndexChildren(t *testing.T) {
	ctx := context.Background()
	for _, untagged := range []bool{false, true} {
		reg := registrytest.NewDist2(t, registrytest.Options{})
		const repo = "multi"
		_, idx, err := reg.PushIndex(ctx, repo, "", gKids(1, 2), nil, "latest")
		if err != nil {
			t.Fatal(err)
		}
		_, img := gImage(t, reg, repo, 2, "", "v1")
		sbom := gRefer(t, reg, repo, img)
		gc := reg.GCKeepUntagged
		if untagged {
			gc = reg.GCDeleteUntagged
		}
		if _, err := gc(ctx); err != nil {
			t.Fatal(err)
		}
		for what, ref := range map[string]string{"the children of a tagged index": "@" + idx.String(), "an artifact listed by a fallback tag": "@" + sbom} {
			err = reg.Pullable(ctx, repo+ref)
			if untagged && err == nil {
				t.Errorf("garbage-collect --delete-untagged kept %s on distribution 2.x; the README's advice is wrong", what)
			}
			if !untagged && err != nil {
				t.Errorf("plain garbage-collect broke %s: %v", what, err)
			}
		}
	}
}

// _catalog is paged by the same helper: without Link, 5 repositories at 2
// a page are all found (pages of 2, 2 and 1), on both registries.
func TestCatalogWithoutLink(t *testing.T) { onBackends(t, testCatalogWithoutLink) }

func testCatalogWithoutLink(t *testing.T, newReg newRegistry) {
	ctx := context.Background()
	reg := newReg(t, registrytest.Options{})
	repos := []string{"a/1", "a/2", "a/3", "a/4", "a/5"}
	seedCI(t, reg, 1, repos...)
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{Rewrite: registrytest.StripLink})
	cfg, _ := writePolicy(t, proxy.Host, "version: 1\nrules:\n  - repositories: [HOST/a/*]\n    keep: {tags: [latest]}\n")
	targets, _, err := engine.Discover(ctx, registry.New(registry.Options{PageSize: 2}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range targets {
		got = append(got, strings.TrimPrefix(tg.Repository, proxy.Host+"/"))
	}
	slices.Sort(got)
	if !slices.Equal(got, repos) {
		t.Fatalf("discovered %v, want %v", got, repos)
	}
	t.Logf("%s: %d catalog requests", reg.Flavour, proxy.Counts().Catalog)
	if c := proxy.Counts().Catalog; c != 3 {
		t.Errorf("%d catalog requests, want 3 (2, 2 and 1 repositories)", c)
	}
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range repos {
		if err := reg.Pullable(ctx, r+":latest"); err != nil {
			t.Error(err)
		}
	}
}
