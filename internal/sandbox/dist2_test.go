package sandbox

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// distribution 2.8.2 as a child process: it starts, takes the seed
// helpers' pushes, deletes a manifest by digest, refuses a tag delete with
// 400 DIGEST_INVALID, and its own garbage collector frees the deleted
// image's blobs while the kept one still pulls.
func TestDist2(t *testing.T) {
	ctx := context.Background()
	r := NewDist2(t, Options{})
	if r.Flavour != FlavourDist2 {
		t.Fatalf("flavour %q", r.Flavour)
	}
	ds, err := r.SeedCI(ctx, "ci/app", 3, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if tags, err := r.Tags(ctx, "ci/app"); err != nil || len(tags) != 4 {
		t.Fatalf("tags %v %v", tags, err)
	}
	del := func(ref string) int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, r.URL+"/v2/ci/app/manifests/"+ref, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := del("1001"); got != http.StatusBadRequest {
		t.Errorf("DELETE by tag: %d, want 400 (distribution 2.x cannot delete a tag alone)", got)
	}
	if got := del(ds[0].String()); got != http.StatusAccepted {
		t.Fatalf("DELETE by digest: %d", got)
	}
	gc, err := r.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gc.Freed() <= 0 {
		t.Errorf("GC freed %d bytes", gc.Freed())
	}
	if err := r.Pullable(ctx, "ci/app:latest"); err != nil {
		t.Fatal(err)
	}
	if ok, err := r.Exists(ctx, "ci/app", ds[0]); err != nil || ok {
		t.Fatalf("deleted digest exists %v %v", ok, err)
	}
}
