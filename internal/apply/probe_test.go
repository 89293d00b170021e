package apply_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/plan"
)

// The tag-delete probe's tag is gone already (404): that says nothing of
// what the registry does with a tag DELETE, so the next tag probes, still
// alone. Here the registry removes the whole manifest for DELETE by tag
// (as Gitea does): the second probe shows it, no further tag is deleted,
// and the opt-in untag of the kept image is skipped. Before, the tags
// after a 404 went out together with nothing checked, the capability read
// "works", and the untag of 1004 took latest's image with it. Run it
// with -race: the tag phase's goroutines share the capability.
func TestProbeAfter404StaysAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	ds, err := e.reg.SeedCI(e.ctx, e.repo, 6, t0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := keep("latest")
	p.UntagUnkept = true
	r := e.plan(p)
	real := e.open()
	var first atomic.Bool
	var tagDeletes atomic.Int64
	h := &hooked{Repo: e.open()}
	h.del = func(ctx context.Context, ref string, del func() error) error {
		if strings.Contains(ref, ":") {
			return del()
		}
		tagDeletes.Add(1)
		if first.CompareAndSwap(false, true) {
			return status(http.StatusNotFound, "MANIFEST_UNKNOWN")
		}
		d, err := real.Head(ctx, ref)
		if err != nil {
			return err
		}
		return real.Delete(ctx, d.Digest)
	}
	if err := e.apply(h, r); err != nil {
		t.Fatal(err)
	}
	if n := tagDeletes.Load(); n != 2 {
		t.Errorf("%d tag DELETEs, want 2 (the probe that found its tag gone, then the one that settled it)", n)
	}
	if c := r.Capabilities; c == nil || c.TagDelete != plan.CapRefused {
		t.Errorf("capabilities %+v, want tag_delete refused", c)
	}
	expect(t, r, ds[5], plan.ActionKeep, plan.ResultSkipped, plan.ReasonNoTagDelete)
	if !e.exists(ds[5].String()) {
		t.Fatal("latest's image was deleted")
	}
	e.pullable(":latest", ":1006")
	for _, d := range ds[:5] {
		if it := itemOf(t, r, d); it.Result != plan.ResultDeleted {
			t.Errorf("%s: %s (%s)", d, it.Result, it.ResultReason)
		}
		if e.exists(d.String()) {
			t.Errorf("%s still there", d)
		}
	}
}
