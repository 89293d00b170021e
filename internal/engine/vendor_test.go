package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/config"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// vendorSeed is the seed layout with multi-arch images, attestation
// manifests and signatures: an old and a new multi-arch index (two
// platforms and a buildx attestation each, the old one signed), old
// single-platform CI builds (one signed), and "latest" on the new index.
type vendorSeed struct {
	kept, deleted []string // digests
	keptRefs      []string // ":tag" or "@digest" to pull after GC
}

func seedVendor(t *testing.T, reg *registrytest.Registry, repo string) vendorSeed {
	t.Helper()
	ctx := context.Background()
	var s vendorSeed
	multi := func(h int, tags ...string) (string, []string) {
		att := registrytest.Child{
			Spec:        &registrytest.ImageSpec{Created: t0.Add(time.Duration(h) * time.Hour), LayerSize: 64},
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
		}
		_, d, kids := gIndex(t, reg, repo, types.OCIImageIndex, append(gKids(h, 2), att), nil, tags...)
		return d, kids
	}
	old, oldKids := multi(1, "v1")
	s.deleted = append(s.deleted, old, gSign(t, reg, repo, old, "sig"))
	s.deleted = append(s.deleted, oldKids...)
	for i, tag := range []string{"1001", "1002"} {
		_, d := gImage(t, reg, repo, 2+i, types.OCIManifestSchema1, tag)
		s.deleted = append(s.deleted, d)
		if i == 0 {
			s.deleted = append(s.deleted, gSign(t, reg, repo, d, "sig"))
		}
	}
	cur, curKids := multi(5, "latest", "1003")
	s.kept = append(s.kept, cur, gSign(t, reg, repo, cur, "sig"))
	s.kept = append(s.kept, curKids...)
	s.keptRefs = []string{":latest", ":1003", "@" + cur}
	for _, k := range curKids {
		s.keptRefs = append(s.keptRefs, "@"+k)
	}
	_ = ctx
	return s
}

// ghOptions is a run against the GHCR stand-in: --api-url alone.
func ghOptions(gh *registrytest.GitHubAPI, token string) engine.Options {
	return engine.Options{
		Client: registry.New(registry.Options{
			APIs:  registry.APIConfig{Default: registry.APISetting{URL: gh.URL}, Getenv: func(k string) string { return map[string]string{"GITHUB_TOKEN": token}[k] }},
			Retry: registry.RetryPolicy{Base: time.Millisecond},
		}),
		Now: t0.Add(30 * 24 * time.Hour),
	}
}

func ghRun(ctx context.Context, t *testing.T, o engine.Options, ref string) *plan.Plan {
	t.Helper()
	pl := engine.Plan(ctx, []engine.Job{{Repository: ref, Policy: keepTag("latest")}}, plan.ModeApply, o)
	if err := pl.Repositories[0].Err; err != nil {
		t.Fatalf("plan: %v", err)
	}
	engine.Apply(ctx, pl, o)
	return pl
}

// checkWhole pulls every kept image after GC and finds every deleted
// digest gone.
func checkWhole(t *testing.T, reg *registrytest.Registry, repo string, s vendorSeed) {
	t.Helper()
	ctx := context.Background()
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ref := range s.keptRefs {
		if err := reg.Pullable(ctx, repo+ref); err != nil {
			t.Errorf("kept %s: %v", ref, err)
		}
	}
	for _, d := range s.kept {
		if ok, err := reg.Exists(ctx, repo, gHash(t, d)); err != nil || !ok {
			t.Errorf("kept %s: exists %v, %v", d, ok, err)
		}
	}
	for _, d := range s.deleted {
		if ok, err := reg.Exists(ctx, repo, gHash(t, d)); err != nil || ok {
			t.Errorf("deleted %s: exists %v, %v", d, ok, err)
		}
	}
}

// On the GHCR stand-in (405 UNSUPPORTED to every v2 DELETE), apply REPO
// --keep-tag latest with nothing but the API URL deletes the old images
// as package versions, their platform and attestation children with
// them, and leaves the kept index, its children and its signature whole.
// The owner is a user (/orgs answers 404), the package name is nested
// (escaped), the first API answers are rate limits, and the token
// authenticates every API request.
func TestGitHubApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "acme/team/app"
	s := seedVendor(t, reg, repo)
	gh := registrytest.NewGitHub(t, reg, registrytest.GitHubOptions{Token: "ghp_secret", User: true, RateLimited: 2})
	p := keepTag("latest")
	p.UntagUnkept = true
	o := ghOptions(gh, "ghp_secret")
	pl := engine.Plan(ctx, []engine.Job{{Repository: gh.Ref(repo), Policy: p}}, plan.ModeApply, o)
	if err := pl.Repositories[0].Err; err != nil {
		t.Fatalf("plan: %v", err)
	}
	engine.Apply(ctx, pl, o)
	r := pl.Repositories[0]
	if r.Err != nil {
		t.Fatalf("apply: %v", r.Err)
	}
	if r.Summary.Deleted != len(s.deleted) {
		t.Errorf("deleted %d, want %d: %+v", r.Summary.Deleted, len(s.deleted), r.Summary)
	}
	c := gh.Counts()
	if c.V2Delete != 0 || c.APIDelete != len(s.deleted) || c.RateLimited != 2 {
		t.Errorf("counts %+v: want no v2 DELETE, %d version deletes, 2 rate limits", c, len(s.deleted))
	}
	caps := r.Capabilities
	if caps == nil || caps.API != "github" || caps.APIURL != gh.URL || !slices.Contains(caps.APIUsedFor, "listing") || !slices.Contains(caps.APIUsedFor, "deletes") ||
		caps.TagDelete != plan.CapRefused {
		t.Errorf("capabilities %+v", caps)
	}
	// untag_unkept: the kept image's other tag stays (no tag delete).
	if got := tags(t, reg, repo); !slices.Contains(got, "1003") || !slices.Contains(got, "latest") {
		t.Errorf("tags %v", got)
	}
	checkWhole(t, reg, repo, s)
}

// Hostile listings fail the repository closed: a version naming a digest
// the registry does not have, a tag listed on two versions. Nothing is
// deleted.
func TestGitHubHostileListing(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]registrytest.GitHubOptions{
		"unknown digest": {ExtraDigest: "sha256:" + string(slices.Repeat([]byte("ab"), 32))},
		"tag twice":      {DuplicateTag: "latest"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			reg := registrytest.New(t, registrytest.Options{})
			const repo = "acme/app"
			seedVendor(t, reg, repo)
			gh := registrytest.NewGitHub(t, reg, o)
			eo := ghOptions(gh, "")
			pl := engine.Plan(ctx, []engine.Job{{Repository: gh.Ref(repo), Policy: keepTag("latest")}}, plan.ModeApply, eo)
			engine.Apply(ctx, pl, eo)
			if err := pl.Repositories[0].Err; err == nil || !errors.Is(err, registry.ErrBadResponse) {
				t.Fatalf("repository error %v, want a bad response", err)
			}
			if c := gh.Counts(); c.APIDelete != 0 {
				t.Fatalf("%d deletes", c.APIDelete)
			}
		})
	}
}

// A listing that gives one version id to two versions does not add up:
// the old index listed with the kept index's id would delete the kept
// index through it. The repository fails closed and nothing is deleted.
func TestGitHubVersionIDTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "acme/app"
	s := seedVendor(t, reg, repo)
	gh := registrytest.NewGitHub(t, reg, registrytest.GitHubOptions{IDFrom: map[string]string{s.deleted[0]: s.kept[0]}})
	eo := ghOptions(gh, "")
	pl := engine.Plan(ctx, []engine.Job{{Repository: gh.Ref(repo), Policy: keepTag("latest")}}, plan.ModeApply, eo)
	engine.Apply(ctx, pl, eo)
	if err := pl.Repositories[0].Err; err == nil || !errors.Is(err, registry.ErrBadResponse) {
		t.Errorf("repository error %v, want a bad response", err)
	}
	if c := gh.Counts(); c.APIDelete != 0 {
		t.Errorf("%d deletes", c.APIDelete)
	}
	if err := reg.Pullable(ctx, repo+":latest"); err != nil {
		t.Errorf("kept latest: %v", err)
	}
}

// A listing that swaps the version ids of the old index and the kept one
// adds up on its face (each id once); only the version itself tells. Each
// version delete reads its version first: the kept index is never deleted
// through the old one's listed id.
func TestGitHubVersionIDsSwapped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "acme/app"
	s := seedVendor(t, reg, repo)
	old, cur := s.deleted[0], s.kept[0]
	gh := registrytest.NewGitHub(t, reg, registrytest.GitHubOptions{IDFrom: map[string]string{old: cur, cur: old}})
	eo := ghOptions(gh, "")
	pl := engine.Plan(ctx, []engine.Job{{Repository: gh.Ref(repo), Policy: keepTag("latest")}}, plan.ModeApply, eo)
	if err := pl.Repositories[0].Err; err != nil {
		t.Fatalf("plan: %v", err)
	}
	engine.Apply(ctx, pl, eo)
	if it := item(t, pl.Repositories[0], old); it.Result == plan.ResultDeleted {
		t.Errorf("old index %+v: deleted through a swapped id", it)
	}
	if err := reg.Pullable(ctx, repo+":latest"); err != nil {
		t.Errorf("kept latest: %v", err)
	}
	if ok, err := reg.Exists(ctx, repo, gHash(t, cur)); err != nil || !ok {
		t.Errorf("kept index: exists %v, %v", ok, err)
	}
}

// A public version with more than 5,000 downloads cannot be deleted: that
// item fails with GitHub's answer, the rest is deleted; a re-run plan
// finds only it.
func TestGitHubDownloadsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "acme/app"
	s := seedVendor(t, reg, repo)
	popular := s.deleted[len(s.deleted)-1] // the last CI build, unsigned
	gh := registrytest.NewGitHub(t, reg, registrytest.GitHubOptions{Downloads: map[string]bool{popular: true}})
	pl := ghRun(ctx, t, ghOptions(gh, ""), gh.Ref(repo))
	r := pl.Repositories[0]
	it := item(t, r, popular)
	if it.Result != plan.ResultFailed || !errors.Is(it.ResultReason.Err, registry.ErrBadRequest) {
		t.Fatalf("popular item %+v", it)
	}
	if r.Summary.Deleted != len(s.deleted)-1 {
		t.Errorf("deleted %d, want %d", r.Summary.Deleted, len(s.deleted)-1)
	}
	s.deleted = s.deleted[:len(s.deleted)-1]
	checkWhole(t, reg, repo, s)
}

// A stale plan: a tag pushed onto an image to delete after the plan
// keeps it at apply (the re-check reads the registry, not the listing).
// An interrupted apply, re-run from a new plan, finishes the work.
func TestGitHubStaleAndInterrupted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "acme/app"
	s := seedVendor(t, reg, repo)
	gh := registrytest.NewGitHub(t, reg, registrytest.GitHubOptions{})
	o := ghOptions(gh, "")
	pl := engine.Plan(ctx, []engine.Job{{Repository: gh.Ref(repo), Policy: keepTag("latest")}}, plan.ModeApply, o)
	if err := pl.Repositories[0].Err; err != nil {
		t.Fatal(err)
	}
	stale := s.deleted[len(s.deleted)-1]
	if err := reg.Tag(ctx, repo, gHash(t, stale), "hotfix"); err != nil {
		t.Fatal(err)
	}
	// Interrupt at the third version delete.
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	var n atomic.Int32 // the stand-in calls the hook from concurrent requests
	gh.SetOptions(registrytest.GitHubOptions{OnDelete: func(string) {
		if n.Add(1) == 3 {
			cancel()
		}
	}})
	engine.Apply(ictx, pl, o)
	if it := item(t, pl.Repositories[0], stale); it.Result != plan.ResultSkipped {
		t.Fatalf("stale item %+v, want skipped", it)
	}
	gh.SetOptions(registrytest.GitHubOptions{})
	// The re-run: a new handle, a new plan; "hotfix" keeps the stale image.
	o = ghOptions(gh, "")
	pl = engine.Plan(ctx, []engine.Job{{Repository: gh.Ref(repo), Policy: keepTag("latest", "hotfix")}}, plan.ModeApply, o)
	if err := pl.Repositories[0].Err; err != nil {
		t.Fatal(err)
	}
	engine.Apply(ctx, pl, o)
	if err := pl.Repositories[0].Err; err != nil {
		t.Fatal(err)
	}
	s.deleted = s.deleted[:len(s.deleted)-1]
	s.kept = append(s.kept, stale)
	s.keptRefs = append(s.keptRefs, ":hotfix")
	checkWhole(t, reg, repo, s)
}

func hubOptions(hub *registrytest.DockerHub, user, secret string) engine.Options {
	env := map[string]string{"REGPRUNE_USERNAME": user, "REGPRUNE_PASSWORD": secret}
	getenv := func(k string) string { return env[k] }
	return engine.Options{
		Client: registry.New(registry.Options{
			Keychain: registry.Keychain(getenv),
			APIs:     registry.APIConfig{Default: registry.APISetting{API: registry.APIDockerHub, URL: hub.URL}, Getenv: getenv},
			Retry:    registry.RetryPolicy{Base: time.Millisecond, Max: 2},
		}),
		Now: t0.Add(30 * 24 * time.Hour),
	}
}

// On the Docker Hub stand-in (tags go only through the Hub API; a v2
// DELETE of a digest still tagged or listed by an index answers 403),
// apply REPO --keep-tag latest deletes the old images' tags through the
// Hub API and their manifests over v2, signatures and children included,
// and leaves the kept index whole. No manifest is read by tag with GET
// (Hub counts it as a pull); the registry credential is exchanged for a
// Hub token; the first API answer is a 429 with X-Retry-After.
func TestDockerHubApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "acme/app"
	s := seedVendor(t, reg, repo)
	hub := registrytest.NewDockerHub(t, reg, registrytest.DockerHubOptions{User: "acme-bot", Secret: "dckr_pat_s3cret", RateLimited: 1})
	o := hubOptions(hub, "acme-bot", "dckr_pat_s3cret")
	pl := engine.Plan(ctx, []engine.Job{{Repository: hub.Ref(repo), Policy: keepTag("latest")}}, plan.ModeApply, o)
	if err := pl.Repositories[0].Err; err != nil {
		t.Fatalf("plan: %v", err)
	}
	if c := hub.Counts(); c.ManifestGETByTag != 0 {
		t.Errorf("plan: %d manifest GETs by tag, want none (HEAD)", c.ManifestGETByTag)
	}
	engine.Apply(ctx, pl, o)
	r := pl.Repositories[0]
	if r.Err != nil {
		t.Fatalf("apply: %v", r.Err)
	}
	if r.Summary.Deleted != len(s.deleted) || r.Summary.Failed != 0 {
		t.Errorf("summary %+v, want %d deleted", r.Summary, len(s.deleted))
	}
	c := hub.Counts()
	// Apply GETs each kept tag once (verifyKept: HEAD and GET agree):
	// latest, 1003 and the kept index's signature tag.
	if c.ManifestGETByTag != 3 || c.TagDelete == 0 || c.Auth != 1 || c.RateLimited != 1 || c.TagList != 1 {
		t.Errorf("counts %+v: want no GET by tag, tag deletes through the API, one token exchange, one listing page", c)
	}
	caps := r.Capabilities
	if caps == nil || caps.API != "dockerhub" || !slices.Contains(caps.APIUsedFor, "listing") || !slices.Contains(caps.APIUsedFor, "tag deletes") {
		t.Errorf("capabilities %+v", caps)
	}
	checkWhole(t, reg, repo, s)
}

// Hub's 500 to a manifest DELETE (retried in the background) is reported
// pending, not deleted and not failed; what hangs from it stays. Once Hub
// has finished, the digest is gone.
func TestDockerHubPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "acme/app"
	s := seedVendor(t, reg, repo)
	last := s.deleted[len(s.deleted)-1] // the last CI build, unsigned
	hub := registrytest.NewDockerHub(t, reg, registrytest.DockerHubOptions{Pending: map[string]bool{last: true}})
	pl := ghRun(ctx, t, hubOptions(hub, "", ""), hub.Ref(repo))
	it := item(t, pl.Repositories[0], last)
	if it.Result != plan.ResultSkipped || it.ResultReason.Code != plan.ReasonPending || !errors.Is(it.ResultReason.Err, registry.ErrPending) {
		t.Fatalf("pending item %+v", it)
	}
	if ok, err := reg.Exists(ctx, repo, gHash(t, last)); err != nil || !ok {
		t.Fatalf("pending digest: exists %v, %v", ok, err)
	}
	if err := hub.CompletePending(repo); err != nil {
		t.Fatal(err)
	}
	checkWhole(t, reg, repo, s)
}

func glOptions(gl *registrytest.GitLab, token string) engine.Options {
	getenv := func(k string) string { return map[string]string{"GITLAB_TOKEN": token}[k] }
	return engine.Options{
		Client: registry.New(registry.Options{
			APIs:  registry.APIConfig{Default: registry.APISetting{URL: gl.URL}, Getenv: getenv},
			Retry: registry.RetryPolicy{Base: time.Millisecond},
		}),
		Now: t0.Add(30 * 24 * time.Hour),
	}
}

// A policy over a GitLab group finds its repositories through GitLab's
// API (the stand-in refuses _catalog, as GitLab.com does): subgroups'
// projects included, an image under a project, paged two at a time;
// another group's repository is not touched. Apply through the API then
// keeps every kept image whole.
func TestGitLabDiscoveryApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	s := seedVendor(t, reg, "mygroup/app")
	for _, repo := range []string{"mygroup/sub/tool", "mygroup/sub/tool/cli", "other/x"} {
		if _, err := reg.SeedCI(ctx, repo, 3, t0, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	gl := registrytest.NewGitLab(t, reg, registrytest.GitLabOptions{
		Projects: []string{"mygroup/app", "mygroup/sub/tool", "other/x"}, Token: "glpat-s3cret", PerPage: 2,
	})
	cfg, err := config.Parse("p.yaml", []byte("version: 1\nrules:\n  - repositories: ["+gl.Host+"/mygroup/**]\n    keep: {tags: [latest]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := glOptions(gl, "glpat-s3cret")
	targets, unmatched, err := engine.Discover(ctx, o.Client, cfg)
	if err != nil || len(unmatched) != 0 {
		t.Fatalf("discover: %v, unmatched %v", err, unmatched)
	}
	var names []string
	for _, tg := range targets {
		names = append(names, tg.Repository)
	}
	want := []string{gl.Ref("mygroup/app"), gl.Ref("mygroup/sub/tool"), gl.Ref("mygroup/sub/tool/cli")}
	if !slices.Equal(names, want) {
		t.Fatalf("discovered %v, want %v", names, want)
	}
	pl := engine.Plan(ctx, targets, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	for _, r := range pl.Repositories {
		if r.Err != nil || r.Summary.Failed != 0 {
			t.Fatalf("%s: %v %+v", r.Name, r.Err, r.Summary)
		}
		if c := r.Capabilities; c == nil || c.API != "gitlab" || !slices.Contains(c.APIUsedFor, "discovery") || !slices.Contains(c.APIUsedFor, "tag deletes") ||
			!slices.Contains(c.APIUsedFor, "listing") {
			t.Errorf("%s: capabilities %+v", r.Name, c)
		}
	}
	// mygroup/app's 8 tags (5 and 3 signature tags) two a page: 4 GraphQL
	// pages; the others' 4 tags: 2 each.
	if c := gl.Counts(); c.Catalog != 0 || c.TagDelete == 0 || c.GraphQL != 4+2+2 {
		t.Errorf("counts %+v: want no catalog request, tag deletes through the API, the tags listed through GraphQL", c)
	}
	checkWhole(t, reg, "mygroup/app", s)
	for _, repo := range []string{"mygroup/sub/tool", "mygroup/sub/tool/cli"} {
		if got := tags(t, reg, repo); !slices.Equal(got, []string{"1003", "latest"}) {
			t.Errorf("%s: tags %v", repo, got)
		}
	}
	if got := tags(t, reg, "other/x"); len(got) != 4 {
		t.Errorf("other/x: tags %v, want untouched", got)
	}
}

// A protected tag: GitLab refuses its delete (403); the image is reported
// kept, protected by the registry, and pulls; the rest of the repository
// is deleted and nothing fails. The refusal is learnt only when the tag's
// delete is tried, after the image's signature (deleted first, so that an
// interrupt never orphans it): the signature is gone, the image whole.
func TestGitLabProtectedTag(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "mygroup/app"
	s := seedVendor(t, reg, repo)
	// An older GitLab without the GraphQL tags: v2 lists alone.
	gl := registrytest.NewGitLab(t, reg, registrytest.GitLabOptions{Projects: []string{repo}, Protected: map[string]bool{"1001": true}, NoGraphQL: true})
	pl := ghRun(ctx, t, glOptions(gl, ""), gl.Ref(repo))
	r := pl.Repositories[0]
	if r.Err != nil || r.Summary.Failed != 0 {
		t.Fatalf("%v %+v", r.Err, r.Summary)
	}
	// s.deleted: old index, its signature, its 3 children, 1001, its
	// signature, 1002.
	protected, sig := s.deleted[5], s.deleted[6]
	it := item(t, r, protected)
	if it.Result != plan.ResultSkipped || it.ResultReason.Code != plan.ReasonProtected || !errors.Is(it.ResultReason.Err, registry.ErrProtected) {
		t.Fatalf("protected item %+v", it)
	}
	if it := item(t, r, sig); it.Result != plan.ResultDeleted {
		t.Errorf("its signature %+v", it)
	}
	s.deleted = slices.Delete(s.deleted, 5, 6)
	s.kept = append(s.kept, protected)
	s.keptRefs = append(s.keptRefs, ":1001")
	checkWhole(t, reg, repo, s)
}

// A cold plan of N single-platform tags on a vendor listing costs at most
// N/50+10 API requests (100 a page, plus the token exchange), and reads no
// manifest by tag with GET: tags are resolved with HEAD on Docker Hub. The
// bodies are read once per digest (for sizes and children), by digest.
func TestVendorPlanRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 120 // two listing pages
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.SeedCI(ctx, "acme/app", n, t0, time.Minute); err != nil {
		t.Fatal(err)
	}
	budget := n/50 + 10
	hub := registrytest.NewDockerHub(t, reg, registrytest.DockerHubOptions{User: "u", Secret: "dckr_pat_x"})
	o := hubOptions(hub, "u", "dckr_pat_x")
	pl := engine.Plan(ctx, []engine.Job{{Repository: hub.Ref("acme/app"), Policy: keepTag("latest")}}, plan.ModePlan, o)
	if err := pl.Repositories[0].Err; err != nil {
		t.Fatal(err)
	}
	c := hub.Counts()
	t.Logf("Docker Hub, N=%d: %+v", n, c)
	if api := o.Client.Stats().Snapshot().API; api > int64(budget) || c.API != int(api) || c.TagList != 2 {
		t.Errorf("Docker Hub: %d API requests (stand-in %+v), want at most %d", api, c, budget)
	}
	if c.ManifestGETByTag != 0 || c.ManifestGET > n {
		t.Errorf("Docker Hub: %d manifest GETs by tag, %d in all; want none by tag, at most one per digest", c.ManifestGETByTag, c.ManifestGET)
	}
	gh := registrytest.NewGitHub(t, reg, registrytest.GitHubOptions{})
	o = ghOptions(gh, "")
	pl = engine.Plan(ctx, []engine.Job{{Repository: gh.Ref("acme/app"), Policy: keepTag("latest")}}, plan.ModePlan, o)
	if err := pl.Repositories[0].Err; err != nil {
		t.Fatal(err)
	}
	t.Logf("GitHub, N=%d: %+v", n, gh.Counts())
	if api := o.Client.Stats().Snapshot().API; api > int64(budget) || gh.Counts().API != int(api) {
		t.Errorf("GitHub: %d API requests (stand-in %+v), want at most %d", api, gh.Counts(), budget)
	}
	gl := registrytest.NewGitLab(t, reg, registrytest.GitLabOptions{Projects: []string{"acme/app"}})
	o = glOptions(gl, "")
	pl = engine.Plan(ctx, []engine.Job{{Repository: gl.Ref("acme/app"), Policy: keepTag("latest")}}, plan.ModePlan, o)
	if err := pl.Repositories[0].Err; err != nil {
		t.Fatal(err)
	}
	t.Logf("GitLab, N=%d: %+v", n, gl.Counts())
	if api := o.Client.Stats().Snapshot().API; api > int64(budget) || gl.Counts().API != int(api) || gl.Counts().GraphQL != 2 {
		t.Errorf("GitLab: %d API requests (stand-in %+v), want at most %d", api, gl.Counts(), budget)
	}
}

// A Docker Hub listing that names another digest for a tag than the
// registry resolves fails the repository closed: nothing is deleted.
func TestDockerHubHostileListing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	s := seedVendor(t, reg, "acme/app")
	hub := registrytest.NewDockerHub(t, reg, registrytest.DockerHubOptions{Lie: map[string]string{"1001": s.kept[0]}})
	o := hubOptions(hub, "", "")
	pl := engine.Plan(ctx, []engine.Job{{Repository: hub.Ref("acme/app"), Policy: keepTag("latest")}}, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	if err := pl.Repositories[0].Err; !errors.Is(err, registry.ErrBadResponse) {
		t.Fatalf("repository error %v, want a bad response", err)
	}
	if c := hub.Counts(); c.TagDelete != 0 || c.V2Delete != 0 {
		t.Fatalf("deletes sent: %+v", c)
	}
}

// Images of reproducible builds carry no build time (1970); on GitHub the
// package version's created_at, the push time, dates them instead:
// --keep-newest 1 keeps the last pushed, and the plan says where the age
// came from.
func TestGitHubPushTimeAges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "acme/app"
	created := map[string]time.Time{}
	var ds []string
	for i, tag := range []string{"c", "a", "b"} { // pushed in this order
		_, d, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: time.Unix(0, 0)}, tag)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d.String())
		created[d.String()] = t0.Add(time.Duration(i) * time.Hour)
	}
	gh := registrytest.NewGitHub(t, reg, registrytest.GitHubOptions{Created: created})
	o := ghOptions(gh, "")
	pl := engine.Plan(ctx, []engine.Job{{Repository: gh.Ref(repo), Policy: policy.Policy{Keep: policy.Keep{Newest: 1}}}}, plan.ModePlan, o)
	r := pl.Repositories[0]
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	for i, d := range ds {
		it := item(t, r, d)
		want := plan.ActionDelete
		if i == 2 {
			want = plan.ActionKeep
		}
		if it.Action != want || it.AgeSource != "pushed" {
			t.Errorf("%s: %s from %q, want %s from pushed", it.Tags, it.Action, it.AgeSource, want)
		}
	}
}

// Docker Hub and GitLab: a stale plan (a tag pushed onto an image to
// delete since) keeps that image, and an apply interrupted at its third
// delete request, re-run from a new plan, finishes the work; every kept
// image stays whole.
func TestVendorStaleAndInterrupted(t *testing.T) {
	t.Parallel()
	for _, api := range []string{"dockerhub", "gitlab"} {
		t.Run(api, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			reg := registrytest.New(t, registrytest.Options{})
			const repo = "acme/app"
			s := seedVendor(t, reg, repo)
			var (
				ref     string
				options func() engine.Options
				hook    func(func(string))
			)
			switch api {
			case "dockerhub":
				hub := registrytest.NewDockerHub(t, reg, registrytest.DockerHubOptions{})
				ref, options = hub.Ref(repo), func() engine.Options { return hubOptions(hub, "", "") }
				hook = func(f func(string)) { hub.SetOptions(registrytest.DockerHubOptions{OnDelete: f}) }
			case "gitlab":
				gl := registrytest.NewGitLab(t, reg, registrytest.GitLabOptions{Projects: []string{repo}})
				ref, options = gl.Ref(repo), func() engine.Options { return glOptions(gl, "") }
				hook = func(f func(string)) { gl.SetOptions(registrytest.GitLabOptions{Projects: []string{repo}, OnDelete: f}) }
			}
			o := options()
			pl := engine.Plan(ctx, []engine.Job{{Repository: ref, Policy: keepTag("latest")}}, plan.ModeApply, o)
			if err := pl.Repositories[0].Err; err != nil {
				t.Fatal(err)
			}
			stale := s.deleted[len(s.deleted)-1]
			if err := reg.Tag(ctx, repo, gHash(t, stale), "hotfix"); err != nil {
				t.Fatal(err)
			}
			ictx, cancel := context.WithCancel(ctx)
			defer cancel()
			var n atomic.Int32
			hook(func(string) {
				if n.Add(1) == 3 {
					cancel()
				}
			})
			engine.Apply(ictx, pl, o)
			if it := item(t, pl.Repositories[0], stale); it.Result != plan.ResultSkipped {
				t.Fatalf("stale item %+v, want skipped", it)
			}
			hook(nil)
			o = options()
			pl = engine.Plan(ctx, []engine.Job{{Repository: ref, Policy: keepTag("latest", "hotfix")}}, plan.ModeApply, o)
			if err := pl.Repositories[0].Err; err != nil {
				t.Fatal(err)
			}
			engine.Apply(ctx, pl, o)
			if r := pl.Repositories[0]; r.Err != nil || r.Summary.Failed != 0 {
				t.Fatalf("re-run: %v %+v", r.Err, r.Summary)
			}
			s.deleted = s.deleted[:len(s.deleted)-1]
			s.kept = append(s.kept, stale)
			s.keptRefs = append(s.keptRefs, ":hotfix")
			checkWhole(t, reg, repo, s)
		})
	}
}

// Docker Hub: a tag pushed onto an image between its untag and its
// manifest DELETE makes Hub answer 403 (still tagged). That tag is new,
// nobody planned to delete it: apply must not delete it (and the image
// with it) on the strength of a fresh listing; the item fails, named.
func TestDockerHubTagPushedDuringDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "acme/app"
	s := seedVendor(t, reg, repo)
	hub := registrytest.NewDockerHub(t, reg, registrytest.DockerHubOptions{})
	o := hubOptions(hub, "", "")
	pl := engine.Plan(ctx, []engine.Job{{Repository: hub.Ref(repo), Policy: keepTag("latest")}}, plan.ModeApply, o)
	if err := pl.Repositories[0].Err; err != nil {
		t.Fatal(err)
	}
	target := s.deleted[len(s.deleted)-1]
	var once sync.Once
	hub.SetOptions(registrytest.DockerHubOptions{OnDelete: func(ref string) {
		if ref == target {
			once.Do(func() {
				if err := reg.Tag(ctx, repo, gHash(t, target), "hotfix"); err != nil {
					t.Error(err)
				}
			})
		}
	}})
	engine.Apply(ctx, pl, o)
	if it := item(t, pl.Repositories[0], target); it.Result == plan.ResultDeleted {
		t.Errorf("item %+v: deleted with the tag pushed onto it", it)
	}
	if err := reg.Pullable(ctx, repo+":hotfix"); err != nil {
		t.Errorf("hotfix: %v", err)
	}
}

// Without any credential the GitHub API refuses to list (401): the plan
// is made over v2 alone and says what deletes need; apply then deletes
// nothing (GitHub refuses every delete) and reports the refusal.
func TestGitHubAnonymousPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	s := seedVendor(t, reg, "acme/app")
	gh := registrytest.NewGitHub(t, reg, registrytest.GitHubOptions{Token: "ghp_needed"})
	o := ghOptions(gh, "")
	pl := engine.Plan(ctx, []engine.Job{{Repository: gh.Ref("acme/app"), Policy: keepTag("latest")}}, plan.ModeApply, o)
	r := &pl.Repositories[0]
	if r.Err != nil || r.Summary.DeleteManifests != len(s.deleted) {
		t.Fatalf("plan: %v %+v", r.Err, r.Summary)
	}
	if c := r.Capabilities; c == nil || len(c.Notes) == 0 || !strings.Contains(c.Notes[0], "GITHUB_TOKEN") || slices.Contains(c.APIUsedFor, "listing") {
		t.Fatalf("capabilities %+v", c)
	}
	engine.Apply(ctx, pl, o)
	if r.Summary.Deleted != 0 || gh.Counts().APIDelete != 0 {
		t.Fatalf("apply: %+v, %+v", r.Summary, gh.Counts())
	}
	checkWhole(t, reg, "acme/app", vendorSeed{kept: append(s.kept, s.deleted...), keptRefs: s.keptRefs})
}

// --untag-unkept on GitHub, with nothing else to do: the untag is refused
// once, without a request, and the kept image keeps its tags.
func TestGitHubUntagRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	d := push(t, reg, "acme/app", t0, "latest", "1003")
	gh := registrytest.NewGitHub(t, reg, registrytest.GitHubOptions{})
	p := keepTag("latest")
	p.UntagUnkept = true
	o := ghOptions(gh, "")
	pl := engine.Plan(ctx, []engine.Job{{Repository: gh.Ref("acme/app"), Policy: p}}, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	r := pl.Repositories[0]
	if it := item(t, r, d); it.Result != plan.ResultSkipped || it.ResultReason.Code != plan.ReasonNoTagDelete {
		t.Fatalf("item %+v", it)
	}
	if c := r.Capabilities; c == nil || c.TagDelete != plan.CapRefused || len(c.Notes) != 1 {
		t.Fatalf("capabilities %+v", c)
	}
	if c := gh.Counts(); c.APIDelete != 0 || c.V2Delete != 0 {
		t.Fatalf("deletes sent: %+v", c)
	}
	if got := tags(t, reg, "acme/app"); !slices.Equal(got, []string{"1003", "latest"}) {
		t.Fatalf("tags %v", got)
	}
}

// A GitLab tag listing that names another digest for a tag than the
// registry resolves fails the repository closed: nothing is deleted.
func TestGitLabHostileListing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	s := seedVendor(t, reg, "acme/app")
	gl := registrytest.NewGitLab(t, reg, registrytest.GitLabOptions{Projects: []string{"acme/app"}, Lie: map[string]string{"1001": s.kept[0]}})
	o := glOptions(gl, "")
	pl := engine.Plan(ctx, []engine.Job{{Repository: gl.Ref("acme/app"), Policy: keepTag("latest")}}, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	if err := pl.Repositories[0].Err; !errors.Is(err, registry.ErrBadResponse) {
		t.Fatalf("repository error %v, want a bad response", err)
	}
	if c := gl.Counts(); c.TagDelete != 0 {
		t.Fatalf("deletes sent: %+v", c)
	}
}
