package restore_test

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
	"github.com/regprune/regprune/internal/restore"
)

// Issue 19 point 14: a manifest the journal holds under a sha512 digest
// is verified by that algorithm: restore plans to push it (its blobs are
// there), where it called it "no intact copy" when it hashed with sha256
// only. distribution v3 (and 2.8.2) compute a manifest's digest with
// sha256 and refuse a PUT by any other digest (DIGEST_INVALID), so a
// sha512 manifest cannot be put there at all: the test stops at the
// plan, and checks that the push's refusal is reported as a failure,
// not as success.
func TestRestoreVerifiesSha512(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	_, h, err := reg.PushImage(ctx, "app", spec(1), "v1")
	if err != nil {
		t.Fatal(err)
	}
	c := registry.New(registry.Options{})
	rp, err := c.Open(ctx, reg.Ref("app"), registry.Pull)
	if err != nil {
		t.Fatal(err)
	}
	body, d, err := rp.GetManifest(ctx, h.String())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(body)
	d512 := "sha512:" + hex.EncodeToString(sum[:])

	j, err := journal.Open(ctx, filepath.Join(t.TempDir(), "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const run = "20261201T000000Z-000512"
	if err := j.BeginRun(ctx, run, "apply", t0); err != nil {
		t.Fatal(err)
	}
	id, err := j.Record(ctx, journal.Entry{RunID: run, Time: t0, Repository: reg.Ref("app"), Kind: journal.KindManifest,
		Digest: d512, MediaType: d.MediaType, Size: int64(len(body)), Tags: []string{}, ItemKind: "image", Manifest: body})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Finish(ctx, id, journal.ResultDeleted, ""); err != nil {
		t.Fatal(err)
	}
	o := restore.Options{Client: c, Journal: j}
	p, err := restore.Build(ctx, run, restore.Filter{}, o)
	if err != nil {
		t.Fatal(err)
	}
	r := p.Repositories[0]
	if r.Error != "" || len(r.Manifests) != 1 {
		t.Fatalf("plan: %q, %d manifests", r.Error, len(r.Manifests))
	}
	if m := r.Manifests[0]; m.Action != restore.ActionPush {
		t.Fatalf("sha512 manifest: %s (%s), want push", m.Action, m.Reason)
	}
	restore.Apply(ctx, p, o)
	m := p.Repositories[0].Manifests[0]
	t.Logf("PUT by sha512 on distribution v3: %s %s %s", m.Result, m.ResultReason, m.Reason)
	if m.Result == restore.ResultPushed {
		if ok, err := rp.Head(ctx, d512); err != nil || ok.Digest != d512 {
			t.Fatalf("reported pushed, but HEAD %s: %+v %v", d512, ok, err)
		}
	}
}
