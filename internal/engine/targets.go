package engine

import (
	"context"

	"github.com/regprune/regprune/internal/apply"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/registry"
)

// referrerser is the referrers API of a Target (*registry.Repo has it).
// apply's final guard asks for it with a type assertion, so every wrapper
// of a Target must pass it on: a wrapper that hid it would turn the guard's
// referrers check off without a word.
type referrerser interface {
	Referrers(ctx context.Context, digest string) ([]byte, bool, error)
}

// referrers passes the referrers API of inner on; an inner Target without
// one answers like a registry without the API (ok false), as apply would
// have seen it.
func referrers(ctx context.Context, inner apply.Target, digest string) ([]byte, bool, error) {
	if r, ok := inner.(referrerser); ok {
		return r.Referrers(ctx, digest)
	}
	return nil, false, nil
}

// Referrers passes the referrers API of the wrapped Target on.
func (t *journalTarget) Referrers(ctx context.Context, digest string) ([]byte, bool, error) {
	return referrers(ctx, t.Target, digest)
}

// cachedTarget serves GETs of manifests by digest from the
// content-addressed cache, where a body that hashes to the digest is the
// manifest: apply's re-check and final guard then read the manifests this
// run's inventory (or an earlier run) already verified without asking the
// registry again. Tags always go to the registry.
type cachedTarget struct {
	apply.Target
	cache inventory.Cache
}

func withCache(t apply.Target, c inventory.Cache) apply.Target {
	if c == nil {
		return t
	}
	return &cachedTarget{Target: t, cache: c}
}

func (t *cachedTarget) GetManifest(ctx context.Context, ref string) ([]byte, registry.Descriptor, error) {
	if registry.ValidDigest(ref) {
		if body, ok := t.cache.Get(ref); ok && registry.Verify(ref, body) {
			return body, registry.Descriptor{Digest: ref, MediaType: mediaTypeOf(body), Size: int64(len(body))}, nil
		}
	}
	return t.Target.GetManifest(ctx, ref)
}

// Referrers passes the referrers API of the wrapped Target on.
func (t *cachedTarget) Referrers(ctx context.Context, digest string) ([]byte, bool, error) {
	return referrers(ctx, t.Target, digest)
}
