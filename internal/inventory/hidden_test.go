package inventory

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/registry"
)

// HiddenTags: a literal keep tag the list named costs nothing; one the
// registry does not serve is fine; one it serves and the list left out
// fails closed (ErrBadResponse); a HEAD that fails fails too.
func TestHiddenTags(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, 3)
	g := &graph.Repository{Tags: map[string]string{"t0": f.tags["t0"], "t1": f.tags["t1"]}}
	f.headErr["gone"] = fmt.Errorf("HEAD gone: %w", registry.ErrNotFound)
	if err := HiddenTags(ctx, f, g, []string{"t0", "gone"}); err != nil {
		t.Fatalf("listed and absent keep tags: %v", err)
	}
	if err := HiddenTags(ctx, f, g, []string{"t0", "t2"}); !errors.Is(err, registry.ErrBadResponse) {
		t.Fatalf("a served tag the list left out: %v, want ErrBadResponse", err)
	}
	f.headErr["t2"] = fmt.Errorf("HEAD t2: %w", registry.ErrServer)
	if err := HiddenTags(ctx, f, g, []string{"t2"}); !errors.Is(err, registry.ErrServer) {
		t.Fatalf("a failed HEAD: %v, want its error", err)
	}
}
