package graph

import (
	"testing"
	"time"
)

// A manifest without a build time takes the push time a vendor API gave,
// only in the default order, after its children's build times.
func TestCreatedFallsBackToPushed(t *testing.T) {
	pushed := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	built := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	r := &Repository{Manifests: map[string]*Manifest{
		"img":   {Digest: "img", CreatedConfig: time.Unix(0, 0), Pushed: pushed},
		"idx":   {Digest: "idx", Children: []string{"child"}, Pushed: pushed},
		"child": {Digest: "child", CreatedConfig: built},
		"none":  {Digest: "none"},
	}}
	for _, c := range []struct {
		d     string
		order []AgeSource
		t     time.Time
		src   AgeSource
	}{
		{"img", nil, pushed, AgeFromPushed},
		{"img", []AgeSource{AgeFromConfig}, time.Time{}, AgeUnknown},
		{"idx", nil, built, AgeFromChildren},
		{"none", nil, time.Time{}, AgeUnknown},
	} {
		if tm, src := r.Created(c.d, c.order); !tm.Equal(c.t) || src != c.src {
			t.Errorf("%s %v: %s %q, want %s %q", c.d, c.order, tm, src, c.t, c.src)
		}
	}
}
