package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
)

// hiddenKeptTags HEADs each tag a keep rule names literally that the tag
// list did not name. A registry (or a cache in front of it) that serves a
// tag but leaves it out of the list would otherwise let the plan delete
// what that tag names, through its other tags. Such a repository fails
// closed. The cost is one HEAD per literal keep tag missing from the list.
func hiddenKeptTags(ctx context.Context, repo *registry.Repo, g *graph.Repository, p policy.Policy) error {
	for _, t := range p.Keep.Tags {
		if _, ok := g.Tags[t]; ok {
			continue
		}
		d, err := repo.Head(ctx, t)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("kept tag %s, missing from the tag list: %w", t, err)
		}
		return fmt.Errorf("%w: tag %s names %s, but the tag list of %s leaves it out", registry.ErrBadResponse, t, d.Digest, repo.Name())
	}
	return nil
}
