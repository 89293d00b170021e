package inventory

import (
	"context"
	"fmt"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/registry"
)

// HiddenTags HEADs each of tags (the tags a keep rule names literally)
// that the tag list, as g holds it, did not name. A registry (or a cache
// in front of it) that serves a tag but leaves it out of the list would
// otherwise let the plan delete what that tag names, through its other
// tags. Such a repository fails closed: an error that matches
// registry.ErrBadResponse. The cost is one HEAD per literal keep tag
// missing from the list.
func HiddenTags(ctx context.Context, src ReadSource, g *graph.Repository, tags []string) error {
	r := NewReader(src, ReaderOptions{})
	for _, t := range tags {
		if _, ok := g.Tags[t]; ok {
			continue
		}
		d, ok, err := r.Exists(ctx, t)
		if err != nil {
			return fmt.Errorf("kept tag %s, missing from the tag list: %w", t, err)
		}
		if ok {
			return fmt.Errorf("%w: tag %s names %s, but the tag list of %s leaves it out", registry.ErrBadResponse, t, d, src.Name())
		}
	}
	return nil
}
