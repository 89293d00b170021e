package engine_test

// Issue 19, point 1: a plan file that contradicts itself. The kept image
// listed a second time with "action": "delete" made apply --plan delete
// latest and every other image, exit 0, without --allow-empty. Each layer
// is tested on its own, at the registry, on distribution v3 and 2.8.2:
//
//   - plan.Load refuses the edited file (a digest or a repository listed
//     twice);
//   - the final guard, given the contradictory plan anyway (as if Load had
//     let it through), keeps every tag an entry keeps, so latest and what
//     it reaches stay and pull;
//   - a file that lists only deletions, or keeps a digest the registry does
//     not have, cannot empty the repository: refused when read
//     (RefuseEmpty, as the CLI runs it) and again at apply on the live tags.

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

func TestContradictoryPlanFile(t *testing.T) { onBackends(t, testContradictoryPlanFile) }

// pEnv is hEnv's layout (app:latest an index of two images, signed;
// app:v1 and app:v2 old images; victim:keep) on a registry of any backend.
func pEnv(t *testing.T, newReg newRegistry) *hEnv {
	e := &hEnv{t: t, ctx: context.Background(), reg: newReg(t, registrytest.Options{})}
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

// pEdit decodes a plan file, lets edit change it, and encodes it again.
func pEdit(t *testing.T, b []byte, edit func(doc map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func pImages(doc map[string]any) []any {
	return doc["repositories"].([]any)[0].(map[string]any)["images"].([]any)
}

func pSetImages(doc map[string]any, images []any) {
	doc["repositories"].([]any)[0].(map[string]any)["images"] = images
}

func testContradictoryPlanFile(t *testing.T, newReg newRegistry) {
	e := pEnv(t, newReg)
	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour)}
	saved := fSave(t, engine.Plan(e.ctx, []engine.Job{{Repository: e.px.Host + "/app", Policy: keepTag("latest")}}, plan.ModePlan, o))
	repo := e.px.Host + "/app"

	// 1. Load refuses the edit: jq '.repositories[0].images +=
	// [(.repositories[0].images[] | select(.tags // [] | index("latest")) |
	// .action = "delete")]', and a repository listed twice.
	dupLatest := pEdit(t, saved, func(doc map[string]any) {
		images := pImages(doc)
		for _, it := range images {
			m := it.(map[string]any)
			if tags, _ := m["tags"].([]any); slices.Contains(tags, any("latest")) {
				again := map[string]any{}
				for k, v := range m {
					again[k] = v
				}
				again["action"] = "delete"
				images = append(images, again)
			}
		}
		pSetImages(doc, images)
	})
	_, err := plan.Load(strings.NewReader(string(dupLatest)), "plan.json")
	if !errors.Is(err, plan.ErrBadPlan) || !strings.Contains(err.Error(), "plan.json: "+repo+": digest "+e.latest+" listed twice") {
		t.Errorf("latest listed again to delete: %v", err)
	}
	dupRepo := pEdit(t, saved, func(doc map[string]any) {
		rs := doc["repositories"].([]any)
		doc["repositories"] = append(rs, rs[0])
	})
	_, err = plan.Load(strings.NewReader(string(dupRepo)), "plan.json")
	if !errors.Is(err, plan.ErrBadPlan) || !strings.Contains(err.Error(), "repository "+repo+" listed twice") {
		t.Errorf("repository listed twice: %v", err)
	}

	// 2. The final guard, given the contradictory plan anyway: latest's
	// tag stays (its kept entry keeps it), so the guard keeps latest and
	// what it reaches; the old images go.
	pl := fLoad(t, saved)
	r := &pl.Repositories[0]
	for _, it := range slices.Clone(r.Items) {
		if it.Action == plan.ActionKeep {
			it.Action = plan.ActionDelete
			r.Items = append(r.Items, it)
		}
	}
	engine.Apply(e.ctx, pl, o)
	if r.Err != nil {
		t.Fatalf("apply: %v", r.Err)
	}
	for _, it := range r.Items {
		switch {
		case it.Action == plan.ActionKeep:
			if it.Result != "" {
				t.Errorf("kept %s %s: %s %q", it.Kind, it.Digest, it.Result, it.ResultReason)
			}
		case slices.Contains(e.old, it.Digest):
			if it.Result != plan.ResultDeleted {
				t.Errorf("old %s: %s %q", it.Digest, it.Result, it.ResultReason)
			}
		case it.Result != plan.ResultSkipped || it.ResultReason.Code != plan.ReasonGuardReached:
			t.Errorf("contradictory delete of %s %s: %s %q, want skipped by the final guard", it.Kind, it.Digest, it.Result, it.ResultReason)
		}
	}
	e.intact(pl)
	for _, d := range append([]string{e.latest, e.sig}, e.kids...) {
		if !gExists(t, e.reg, "app", d) {
			t.Errorf("%s is gone", d)
		}
	}
	if got := e.state()["app"]; got["latest"] != e.latest || len(got) != 2 {
		t.Errorf("app's tags %v, want latest and its signature", got)
	}

	// 3. A file that deletes every image (what is left: latest, its
	// children and signature) and lists no kept image is refused when
	// read, as a plan made now would be; nothing is sent.
	before := e.px.Counts()
	onlyDeletes := pEdit(t, saved, func(doc map[string]any) {
		var images []any
		for _, it := range pImages(doc) {
			m := it.(map[string]any)
			m["action"] = "delete"
			delete(m, "untag")
			images = append(images, m)
		}
		pSetImages(doc, images)
	})
	pl = fLoad(t, onlyDeletes)
	pl.RefuseEmpty(false)
	engine.Apply(e.ctx, pl, o)
	if r := pl.Repositories[0]; !errors.Is(r.Err, plan.ErrRefusedEmpty) || !r.Refused {
		t.Errorf("a file deleting every image: %v, refused %v", r.Err, r.Refused)
	}
	if n := e.px.Counts().Total - before.Total; n != 0 {
		t.Errorf("%d requests for a plan refused when read", n)
	}

	// 4. The same with a kept image the registry does not have: it passes
	// the file's own count, and apply refuses it on the live tags (all of
	// them would go) after a HEAD of the kept digest.
	fake := "sha256:" + strings.Repeat("e", 64)
	keepsFake := pEdit(t, onlyDeletes, func(doc map[string]any) {
		pSetImages(doc, append(pImages(doc), map[string]any{"digest": fake, "kind": "image", "tags": []any{}, "action": "keep", "reasons": []any{}, "created": nil, "size": 1}))
	})
	pl = fLoad(t, keepsFake)
	pl.RefuseEmpty(false)
	if r := pl.Repositories[0]; r.Err != nil {
		t.Fatalf("refused when read: %v", r.Err)
	}
	engine.Apply(e.ctx, pl, o)
	r = &pl.Repositories[0]
	if !errors.Is(r.Err, plan.ErrRefusedEmpty) || plan.CodeOf(r.Err) != plan.ErrorRefusedEmpty || !r.Refused {
		t.Errorf("a file keeping a digest the registry lacks: %v (%s), refused %v", r.Err, plan.CodeOf(r.Err), r.Refused)
	}
	for _, it := range r.Items {
		if it.Action == plan.ActionDelete && (it.Result != plan.ResultSkipped || it.ResultReason.Code != plan.ReasonPlanRefused) {
			t.Errorf("%s: %s %q, want skipped, plan refused", it.Digest, it.Result, it.ResultReason)
		}
	}
	if n := e.px.Counts().ManifestDELETE - before.ManifestDELETE; n != 0 {
		t.Errorf("%d DELETEs reached the registry for refused plans", n)
	}
	if got := e.state()["app"]; got["latest"] != e.latest || len(got) != 2 {
		t.Errorf("app's tags %v, want latest and its signature", got)
	}
	for _, ref := range []string{"app:latest", "victim:keep"} {
		if err := e.reg.Pullable(e.ctx, ref); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
	if got := e.state()["victim"]; len(got) != 1 || got["keep"] != e.victim {
		t.Errorf("victim's tags %v", got)
	}
}
