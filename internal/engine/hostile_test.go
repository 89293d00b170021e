package engine_test

// A faulty or hostile registry (issue 10): registrytest.Proxy in front of
// the in-process distribution answers the way a broken CDN, cache or an
// attacker would. Each test asserts at the registry itself (not through
// the proxy) that the kept image is intact and pulls in full, before and
// after garbage collection, and that nothing outside the plan changed: the
// other repository, every tag and every manifest the plan does not delete.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/cache"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// hEnv is a registry with app:latest (an index of two images, signed),
// app:v1 and app:v2 (old images the plan deletes), victim:keep in another
// repository, and a proxy in front.
type hEnv struct {
	t      *testing.T
	ctx    context.Context
	reg    *registrytest.Registry
	px     *registrytest.Proxy
	latest string
	kids   []string
	sig    string
	old    []string
	victim string
	before map[string]map[string]string // repo -> tag -> digest
	all    []string                     // every digest seeded, by repo "app"
}

func hSetup(t *testing.T, o registrytest.Options) *hEnv {
	t.Helper()
	e := &hEnv{t: t, ctx: context.Background(), reg: registrytest.New(t, o)}
	_, e.latest, e.kids = gIndex(t, e.reg, "app", types.OCIImageIndex, gKids(10, 2), nil, "latest")
	e.sig = gSign(t, e.reg, "app", e.latest, "sig")
	for i, tag := range []string{"v1", "v2"} {
		_, d := gImage(t, e.reg, "app", i+1, types.OCIManifestSchema1, tag)
		e.old = append(e.old, d)
	}
	_, e.victim = gImage(t, e.reg, "victim", 5, types.OCIManifestSchema1, "keep")
	e.all = append(append([]string{e.latest, e.sig}, e.kids...), e.old...)
	e.px = registrytest.NewTestProxy(t, e.reg.URL, registrytest.ProxyOptions{})
	e.before = e.state()
	return e
}

// state reads every tag of both repositories straight from the registry.
func (e *hEnv) state() map[string]map[string]string {
	e.t.Helper()
	out := map[string]map[string]string{}
	c := registry.New(registry.Options{Keychain: keychainOf(e.reg)})
	for _, repo := range []string{"app", "victim"} {
		rp, err := c.Open(e.ctx, e.reg.Ref(repo), registry.Pull)
		if err != nil {
			e.t.Fatal(err)
		}
		tags, err := e.reg.Tags(e.ctx, repo)
		if err != nil {
			e.t.Fatal(err)
		}
		out[repo] = map[string]string{}
		for _, tag := range tags {
			d, err := rp.Head(e.ctx, tag)
			if err != nil {
				e.t.Fatal(err)
			}
			out[repo][tag] = d.Digest
		}
	}
	return out
}

// run plans and applies repo "app" through the proxy.
func (e *hEnv) run(c *registry.Client, p policy.Policy) *plan.Plan {
	e.t.Helper()
	o := engine.Options{Client: c, Now: t0.Add(30 * 24 * time.Hour)}
	pl := engine.Plan(e.ctx, []engine.Job{{Repository: e.px.Host + "/app", Policy: p}}, plan.ModeApply, o)
	engine.Apply(e.ctx, pl, o)
	return pl
}

// intact checks that the kept image and the other repository pull in
// full, before and after GC, and that only what the plan deleted (and
// reports deleted) is gone: every other tag and manifest is as before.
func (e *hEnv) intact(pl *plan.Plan) {
	e.t.Helper()
	deleted := map[string]bool{}
	for _, r := range pl.Repositories {
		for _, it := range r.Items {
			if it.Action == plan.ActionDelete && (it.Result == plan.ResultDeleted || !it.ResultReason.IsZero()) {
				// Deleted, or its tags removed before a digest delete
				// that did not happen: within the plan either way.
				deleted[it.Digest] = true
			}
		}
	}
	for round := range 2 {
		for _, ref := range []string{"app:latest", "victim:keep"} {
			if err := e.reg.Pullable(e.ctx, ref); err != nil {
				e.t.Errorf("%s not pullable (round %d): %v", ref, round, err)
			}
		}
		for _, d := range append([]string{e.victim}, e.all...) {
			repo := "app"
			if d == e.victim {
				repo = "victim"
			}
			if !deleted[d] && !gExists(e.t, e.reg, repo, d) {
				e.t.Errorf("%s %s is gone, and the plan did not delete it", repo, d)
			}
		}
		now := e.state()
		for repo, tags := range e.before {
			for tag, d := range tags {
				if now[repo][tag] != d && !(repo == "app" && deleted[d]) {
					e.t.Errorf("%s:%s named %s, now %q", repo, tag, d, now[repo][tag])
				}
			}
		}
		if _, err := e.reg.GC(e.ctx); err != nil {
			e.t.Fatal(err)
		}
	}
}

// keychainOf answers the registry's own credentials for every host.
func keychainOf(reg *registrytest.Registry) authn.Keychain {
	return staticKeychain{reg.Authenticator()}
}

type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

// failedClosed checks that repository "app" failed while reading with
// cause (errors.Is), with an error message that names the values in
// names (the bad value quoted, for the user), and that no DELETE reached
// the registry.
func (e *hEnv) failedClosed(pl *plan.Plan, code plan.ErrorCode, cause error, names ...string) {
	e.t.Helper()
	r := pl.Repositories[0]
	if !errors.Is(r.Err, cause) || plan.CodeOf(r.Err) != code {
		e.t.Errorf("repository error %v (%s), want %s with %v", r.Err, plan.CodeOf(r.Err), code, cause)
	}
	for _, w := range names {
		if r.Err == nil || !strings.Contains(r.Err.Error(), w) {
			e.t.Errorf("repository error %v does not name %q", r.Err, w)
		}
	}
	if n := e.px.Counts().ManifestDELETE; n != 0 {
		e.t.Errorf("%d DELETEs reached the registry", n)
	}
	for _, it := range r.Items {
		if it.Result == plan.ResultDeleted || it.Result == plan.ResultUntagged {
			e.t.Errorf("%s: %s", it.Digest, it.Result)
		}
	}
}

// rewriteJSON replaces the JSON body of resp with what edit makes of it.
func rewriteJSON(resp *http.Response, edit func(map[string]any)) error {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	edit(v)
	b, _ = json.Marshal(v)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}

func isTagList(r *http.Request, repo string) bool {
	return r.Method == http.MethodGet && r.URL.Path == "/v2/"+repo+"/tags/list"
}

// Point 1: a tag-list entry that is the digest of latest would become a
// DELETE of latest.
func TestHostileTagListDigestEntry(t *testing.T) {
	t.Parallel()
	e := hSetup(t, registrytest.Options{})
	e.px.SetOptions(registrytest.ProxyOptions{Rewrite: func(resp *http.Response) error {
		if !isTagList(resp.Request, "app") {
			return nil
		}
		return rewriteJSON(resp, func(v map[string]any) { v["tags"] = append(v["tags"].([]any), e.latest) })
	}})
	pl := e.run(registry.New(registry.Options{}), keepTag("latest"))
	e.failedClosed(pl, plan.ErrorRead, registry.ErrBadResponse, strconv.Quote(e.latest))
	e.intact(pl)
}

// Point 1: a HEAD whose Docker-Content-Digest is a tag would become a
// DELETE of that tag.
func TestHostileHeadDigestIsATag(t *testing.T) {
	t.Parallel()
	e := hSetup(t, registrytest.Options{})
	e.px.SetOptions(registrytest.ProxyOptions{Rewrite: func(resp *http.Response) error {
		if resp.Request.Method == http.MethodHead && resp.Request.URL.Path == "/v2/app/manifests/v1" {
			resp.Header.Set("Docker-Content-Digest", "latest")
		}
		return nil
	}})
	pl := e.run(registry.New(registry.Options{}), keepTag("latest"))
	e.failedClosed(pl, plan.ErrorRecheck, registry.ErrBadResponse, "Docker-Content-Digest", `"latest"`)
	e.intact(pl)
}

// Point 2: a DELETE answered with a redirect into another repository
// (307) or one that would turn it into a GET (301) is that item's
// failure, naming the Location; nothing reaches the other repository.
func TestHostileDeleteRedirect(t *testing.T) {
	t.Parallel()
	e := hSetup(t, registrytest.Options{})
	var mu sync.Mutex
	var victimHits []string
	loc := "/v2/victim/manifests/" + e.victim
	e.px.SetOptions(registrytest.ProxyOptions{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/v2/victim/") {
			mu.Lock()
			victimHits = append(victimHits, r.Method+" "+r.URL.Path)
			mu.Unlock()
		}
		if r.Method != http.MethodDelete {
			return false
		}
		switch r.URL.Path {
		case "/v2/app/manifests/" + e.old[0]:
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return true
		case "/v2/app/manifests/" + e.old[1]:
			w.Header().Set("Location", loc)
			w.WriteHeader(http.StatusMovedPermanently)
			return true
		}
		return false
	}})
	pl := e.run(registry.New(registry.Options{}), keepTag("latest"))
	r := pl.Repositories[0]
	for _, d := range e.old {
		it := gItem(t, pl, d)
		if why := it.ResultReason; it.Result != plan.ResultFailed || why.Code != plan.ReasonDeleteFailed || !errors.Is(why.Err, registry.ErrBadResponse) || !strings.Contains(why.Err.Error(), loc) {
			t.Errorf("%s: %s %q; want failed naming %s", d, it.Result, it.ResultReason, loc)
		}
	}
	if len(victimHits) != 0 {
		t.Errorf("requests reached the other repository: %v", victimHits)
	}
	if r.Summary.Deleted != 0 {
		t.Errorf("%d reported deleted", r.Summary.Deleted)
	}
	e.intact(pl)
}

// Point 2: a 401 challenge that asks for another repository's scope is
// refused: the token is never widened.
func TestHostileChallengeWidensScope(t *testing.T) {
	t.Parallel()
	e := hSetup(t, registrytest.Options{Auth: &registrytest.TokenAuth{Users: map[string]registrytest.TokenUser{
		"bot": {Password: "bot-password-1", Actions: []string{"pull", "delete"}},
	}}})
	challenge := fmt.Sprintf(`Bearer realm=%q,service=%q,scope="repository:victim:pull,delete"`, e.reg.TokenURL(), e.reg.TokenService())
	e.px.SetOptions(registrytest.ProxyOptions{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if !isTagList(r, "app") || r.Header.Get("Authorization") == "" {
			return false
		}
		w.Header().Set("WWW-Authenticate", challenge)
		w.WriteHeader(http.StatusUnauthorized)
		return true
	}})
	before := e.reg.TokenRequests()
	c := registry.New(registry.Options{Keychain: registry.Keychain(func(k string) string {
		return map[string]string{"REGPRUNE_USERNAME": "bot", "REGPRUNE_PASSWORD": "bot-password-1"}[k]
	})})
	pl := e.run(c, keepTag("latest"))
	e.failedClosed(pl, plan.ErrorRead, registry.ErrBadResponse, `"repository:victim:pull,delete"`)
	// One token for the plan's pull and one for apply's pull,delete at
	// most: none for the challenge.
	if n := e.reg.TokenRequests() - before; n > 2 {
		t.Errorf("%d token requests; the challenge was followed", n)
	}
	e.intact(pl)
}

// Point 3: a HEAD of the kept tag that disagrees with its GET (a stale
// cache answering the digest latest named before) would make the plan
// delete what latest serves now. apply's GET of the kept tag catches it.
func TestHostileStaleHeadOfKeptTag(t *testing.T) {
	t.Parallel()
	e := hSetup(t, registrytest.Options{})
	// stable now serves fresh (also tagged 1.2); the stale HEAD says 1.1.
	_, stale := gImage(t, e.reg, "app", 20, types.OCIManifestSchema1, "1.1")
	_, fresh := gImage(t, e.reg, "app", 21, types.OCIManifestSchema1, "1.2", "stable")
	e.all = append(e.all, stale, fresh)
	e.before = e.state()
	// A cold plan resolves each tag with a GET, which the stale HEAD
	// cannot mislead; a warm one (the cache and its hints filled by a
	// first plan) resolves known tags with HEAD, and is misled.
	c, err := cache.Open(t.TempDir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour), Cache: c}
	target := []engine.Job{{Repository: e.px.Host + "/app", Policy: keepTag("latest", "stable")}}
	engine.Plan(e.ctx, target, plan.ModePlan, o)
	e.px.SetOptions(registrytest.ProxyOptions{Intercept: func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead && r.URL.Path == "/v2/app/manifests/stable" {
			r.URL.Path = "/v2/app/manifests/" + stale // forwarded: the stale answer
		}
		return false
	}})
	pl := engine.Plan(e.ctx, target, plan.ModeApply, o)
	engine.Apply(e.ctx, pl, o)
	if it := gItem(t, pl, fresh); it.Action != plan.ActionDelete {
		t.Fatalf("the stale HEAD did not mislead the plan (%s): the test proves nothing", it.Action)
	}
	e.failedClosed(pl, plan.ErrorRecheck, registry.ErrBadResponse, "stable")
	e.intact(pl)
	for _, ref := range []string{"app:stable", "app:1.2"} {
		if err := e.reg.Pullable(e.ctx, ref); err != nil {
			t.Error(err)
		}
	}
}

// Point 4: a plan file edited to delete a child of the kept index and
// its signature, their links to latest dropped. The final guard keeps
// both, naming the tag; latest pulls in full after GC.
func TestHostileEditedPlanFile(t *testing.T) {
	t.Parallel()
	e := hSetup(t, registrytest.Options{})
	c := registry.New(registry.Options{})
	o := engine.Options{Client: c, Now: t0.Add(30 * 24 * time.Hour)}
	saved := fSave(t, engine.Plan(e.ctx, []engine.Job{{Repository: e.px.Host + "/app", Policy: keepTag("latest")}}, plan.ModePlan, o))
	var doc map[string]any
	if err := json.Unmarshal(saved, &doc); err != nil {
		t.Fatal(err)
	}
	edited := 0
	for _, it := range doc["repositories"].([]any)[0].(map[string]any)["images"].([]any) {
		m := it.(map[string]any)
		if d := m["digest"].(string); d == e.kids[0] || d == e.sig {
			m["action"] = "delete"
			edited++
		}
	}
	if edited != 2 {
		t.Fatalf("edited %d items", edited)
	}
	// As edited, the file contradicts itself (a deletion whose index or
	// subject it keeps): Load refuses it (issue 19). Without the links it
	// loads, and the final guard must catch it from the registry alone.
	b, _ := json.Marshal(doc)
	if _, err := plan.Load(bytes.NewReader(b), "plan.json"); !errors.Is(err, plan.ErrBadPlan) {
		t.Fatalf("Load of the edited plan: %v", err)
	}
	for _, it := range doc["repositories"].([]any)[0].(map[string]any)["images"].([]any) {
		if m := it.(map[string]any); m["action"] == "delete" {
			delete(m, "parent")
			delete(m, "subject")
		}
	}
	b, _ = json.Marshal(doc)
	pl := fLoad(t, b)
	engine.Apply(e.ctx, pl, o)
	for _, d := range []string{e.kids[0], e.sig} {
		it := gItem(t, pl, d)
		if why := it.ResultReason; it.Result != plan.ResultSkipped || why.Code != plan.ReasonGuardReached || !slices.Equal(why.Tags, []string{"latest"}) {
			t.Errorf("%s: %s %q; want skipped by the guard naming latest", d, it.Result, it.ResultReason)
		}
	}
	for _, d := range e.old {
		if it := gItem(t, pl, d); it.Result != plan.ResultDeleted {
			t.Errorf("old %s: %s %q", d, it.Result, it.ResultReason)
		}
	}
	e.intact(pl)
	if _, ok := e.state()["app"][registrytest.SignatureTag(gHash(t, e.latest), "sig")]; !ok {
		t.Error("the signature tag of latest is gone")
	}
}

// hManifest serves a synthesized manifest for tag through the proxy: the
// tag list gains tag, HEAD of the tag answers digest, GET of the digest
// answers body.
func hManifest(e *hEnv, tag, digest string, body []byte) {
	e.px.SetOptions(registrytest.ProxyOptions{
		Rewrite: func(resp *http.Response) error {
			if !isTagList(resp.Request, "app") {
				return nil
			}
			return rewriteJSON(resp, func(v map[string]any) { v["tags"] = append(v["tags"].([]any), tag) })
		},
		Intercept: func(w http.ResponseWriter, r *http.Request) bool {
			switch r.URL.Path {
			case "/v2/app/manifests/" + tag, "/v2/app/manifests/" + digest:
				w.Header().Set("Docker-Content-Digest", digest)
				w.Header().Set("Content-Type", registry.MediaOCIIndex)
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				if r.Method == http.MethodGet {
					_, _ = w.Write(body)
				}
				return true
			}
			return false
		},
	})
}

// Point 5: an index with more children than the bound fails the
// repository closed, naming the bound.
func TestHostileIndexFanOut(t *testing.T) {
	t.Parallel()
	e := hSetup(t, registrytest.Options{})
	var b strings.Builder
	b.WriteString(`{"schemaVersion":2,"mediaType":"` + registry.MediaOCIIndex + `","manifests":[`)
	for i := range registry.MaxIndexChildren + 1 {
		if i > 0 {
			b.WriteByte(',')
		}
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		fmt.Fprintf(&b, `{"mediaType":%q,"digest":"sha256:%x","size":1}`, registry.MediaOCIManifest, h)
	}
	b.WriteString("]}")
	body := []byte(b.String())
	hManifest(e, "fan", registry.Sha256(body), body)
	pl := e.run(registry.New(registry.Options{}), keepTag("latest"))
	e.failedClosed(pl, plan.ErrorRead, registry.ErrBadResponse, "10001", "10000")
	e.intact(pl)
}

// Point 5: a sha512 manifest is verified like a sha256 one.
func TestHostileSha512Mismatch(t *testing.T) {
	t.Parallel()
	e := hSetup(t, registrytest.Options{})
	claimed := sha512.Sum512([]byte("another body"))
	digest := "sha512:" + hex.EncodeToString(claimed[:])
	hManifest(e, "s512", digest, []byte(`{"schemaVersion":2,"mediaType":"`+registry.MediaOCIIndex+`","manifests":[]}`))
	pl := e.run(registry.New(registry.Options{}), keepTag("latest"))
	e.failedClosed(pl, plan.ErrorRead, registry.ErrBadResponse, digest, "sha512:")
	e.intact(pl)
}

// Point 9: a signature whose subject is gone is listed as an orphan and
// kept, and deleted only on request.
func TestOrphanSignature(t *testing.T) {
	t.Parallel()
	e := hSetup(t, registrytest.Options{})
	// Sign v1, then delete v1 behind regprune's back.
	orphan := gSign(t, e.reg, "app", e.old[0], "sig")
	rp, err := registry.New(registry.Options{}).Open(e.ctx, e.reg.Ref("app"), registry.PullDelete)
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Delete(e.ctx, e.old[0]); err != nil {
		t.Fatal(err)
	}
	e.all = slices.DeleteFunc(e.all, func(d string) bool { return d == e.old[0] })
	e.all = append(e.all, orphan)
	e.before = e.state()

	pl := e.run(registry.New(registry.Options{}), keepTag("latest"))
	it := gItem(t, pl, orphan)
	if it.Action != plan.ActionKeep || it.Reasons[0].Code != plan.ReasonOrphan || it.Subject != e.old[0] {
		t.Errorf("orphan without the option: %s %q subject %s", it.Action, it.Reasons, it.Subject)
	}
	if !gExists(t, e.reg, "app", orphan) {
		t.Error("orphan deleted without the option")
	}
	e.intact(pl)

	e.all = slices.DeleteFunc(e.all, func(d string) bool { return d == e.old[1] }) // deleted by the first run
	e.before = e.state()
	p := keepTag("latest")
	p.DeleteOrphanArtifacts = true
	pl = e.run(registry.New(registry.Options{}), p)
	if it := gItem(t, pl, orphan); it.Action != plan.ActionDelete || it.Result != plan.ResultDeleted {
		t.Errorf("orphan with the option: %s %s %q", it.Action, it.Result, it.ResultReason)
	}
	e.intact(pl)
	if gExists(t, e.reg, "app", orphan) {
		t.Error("orphan still there with the option")
	}
}

// A tag list that leaves out a tag a keep rule names (a stale or partial
// listing): the plan would delete what the hidden tag names through its
// other tag. A HEAD of the literal keep tag catches it.
func TestHostileTagListHidesKeptTag(t *testing.T) {
	t.Parallel()
	e := hSetup(t, registrytest.Options{})
	_, prod := gImage(t, e.reg, "app", 30, types.OCIManifestSchema1, "1.9", "prod")
	e.all = append(e.all, prod)
	e.before = e.state()
	e.px.SetOptions(registrytest.ProxyOptions{Rewrite: func(resp *http.Response) error {
		if !isTagList(resp.Request, "app") {
			return nil
		}
		return rewriteJSON(resp, func(v map[string]any) {
			v["tags"] = slices.DeleteFunc(v["tags"].([]any), func(t any) bool { return t == "prod" })
		})
	}})
	pl := e.run(registry.New(registry.Options{}), keepTag("latest", "prod"))
	e.failedClosed(pl, plan.ErrorRead, registry.ErrBadResponse, "prod", prod)
	e.intact(pl)
	if err := e.reg.Pullable(e.ctx, "app:prod"); err != nil {
		t.Error(err)
	}
}
