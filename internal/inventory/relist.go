package inventory

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/regprune/regprune/internal/registry"
)

// ErrUnresolvableTag means a tag the registry lists does not resolve,
// even after listing again: the registry is inconsistent, and the
// repository fails closed. It matches registry.ErrBadResponse too.
var ErrUnresolvableTag = fmt.Errorf("%w: a listed tag does not resolve", registry.ErrBadResponse)

// Unresolved tells a tag deleted a moment ago from an inconsistent
// registry. missing are listed tags whose HEAD answered 404. It lists the
// repository once more: a tag no longer listed was deleted between the
// listing and the HEAD, and is not there. A tag still listed is resolved
// again; if it still answers 404, the listing cannot be trusted (a kept
// tag missing from the graph would let its digest be deleted), and
// Unresolved fails. It returns the digests of the tags that resolve now.
func Unresolved(ctx context.Context, src interface {
	ListTags(ctx context.Context, fn func(tags []string) error) error
	Head(ctx context.Context, ref string) (registry.Descriptor, error)
}, missing []string) (map[string]string, error) {
	out := map[string]string{}
	if len(missing) == 0 {
		return out, nil
	}
	sort.Strings(missing)
	want := map[string]bool{}
	for _, t := range missing {
		want[t] = true
	}
	listed := map[string]bool{}
	if err := src.ListTags(ctx, func(page []string) error {
		for _, t := range page {
			if want[t] {
				listed[t] = true
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("listing again after tags that did not resolve: %w", err)
	}
	for _, t := range missing {
		if !listed[t] {
			continue // deleted a moment ago
		}
		d, err := src.Head(ctx, t)
		if errors.Is(err, registry.ErrNotFound) {
			return nil, fmt.Errorf("%w: tag %s is listed, but HEAD answers 404, twice; nothing is deleted in this repository", ErrUnresolvableTag, t)
		}
		if err != nil {
			return nil, fmt.Errorf("tag %s: %w", t, err)
		}
		out[t] = d.Digest
	}
	return out, nil
}
