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

// Exists: a ref the registry serves names its digest; a 404 is "not
// there", no error; any other failure is an error.
func TestReaderExists(t *testing.T) {
	ctx := context.Background()
	f := newFake(t, 2)
	r := NewReader(f, ReaderOptions{})
	if d, ok, err := r.Exists(ctx, "t1"); err != nil || !ok || d != f.tags["t1"] {
		t.Fatalf("Exists(t1) = %s %v %v", d, ok, err)
	}
	f.headErr["gone"] = fmt.Errorf("HEAD gone: %w", registry.ErrNotFound)
	if _, ok, err := r.Exists(ctx, "gone"); err != nil || ok {
		t.Fatalf("Exists(gone) = %v %v, want not there", ok, err)
	}
	f.headErr["t0"] = fmt.Errorf("HEAD t0: %w", registry.ErrServer)
	if _, _, err := r.Exists(ctx, "t0"); !errors.Is(err, registry.ErrServer) {
		t.Fatalf("Exists(t0) = %v, want the HEAD's error", err)
	}
}
