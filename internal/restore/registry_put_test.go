package restore_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// This is a test of internal/registry (Repo.PutManifest and BlobExists,
// what restore pushes with) on the in-process registry. It lives here,
// in a test binary that embeds distribution anyway, so that
// internal/registry's test binary does not: one link fewer in
// go test ./... (the redirect test stays in internal/registry).

// PutManifest on the in-process registry: a deleted manifest pushed back
// by digest is served again, a tag pushed with it names it, a body is
// never pushed under another digest, and BlobExists tells a blob the
// repository has from one it has not.
func TestPutManifest(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	ds, err := reg.SeedCI(ctx, "team/app", 1, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	digest := ds[0].String()
	rp, err := registry.New(registry.Options{}).Open(ctx, reg.Ref("team/app"), registry.PullPush)
	if err != nil {
		t.Fatal(err)
	}
	body, d, err := rp.GetManifest(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Delete(ctx, digest); err != nil {
		t.Fatal(err)
	}
	if got, err := rp.PutManifest(ctx, digest, d.MediaType, body); err != nil || got != digest {
		t.Fatalf("PutManifest by digest: %s %v", got, err)
	}
	if _, err := rp.PutManifest(ctx, "restored", d.MediaType, body); err != nil {
		t.Fatalf("PutManifest by tag: %v", err)
	}
	if h, err := rp.Head(ctx, "restored"); err != nil || h.Digest != digest {
		t.Fatalf("tag restored: %+v %v", h, err)
	}
	if _, err := rp.PutManifest(ctx, "sha256:"+strings.Repeat("0", 64), d.MediaType, body); err == nil {
		t.Fatal("a body pushed under another digest was sent")
	}
	var m struct {
		Config struct{ Digest string } `json:"config"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	for blob, want := range map[string]bool{m.Config.Digest: true, "sha256:" + strings.Repeat("ab", 32): false} {
		if ok, err := rp.BlobExists(ctx, blob); err != nil || ok != want {
			t.Errorf("BlobExists(%s) = %v, %v; want %v", blob, ok, err, want)
		}
	}
}
