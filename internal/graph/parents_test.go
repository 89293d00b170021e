package graph

import (
	"slices"
	"sort"
	"testing"
)

// Parents: each manifest a manifest lists maps to every manifest listing
// it; a manifest nothing lists has none.
func TestParents(t *testing.T) {
	r := NewRepository("r")
	r.Manifests["a"] = &Manifest{Digest: "a", Children: []string{"c", "d"}}
	r.Manifests["b"] = &Manifest{Digest: "b", Children: []string{"c"}}
	r.Manifests["c"] = &Manifest{Digest: "c"}
	p := r.Parents()
	sort.Strings(p["c"])
	if !slices.Equal(p["c"], []string{"a", "b"}) || !slices.Equal(p["d"], []string{"a"}) || len(p["a"]) != 0 || len(p) != 2 {
		t.Fatalf("Parents() = %v", p)
	}
}
