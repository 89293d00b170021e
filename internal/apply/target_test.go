package apply

import (
	"reflect"
	"testing"

	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/registry"
)

// Issue 23 point 7: Target is composed of inventory's read interfaces
// and Delete, not a third list of the same methods. *registry.Repo is a
// Target and an inventory.Source, and a Target is what a Reader reads
// and what the referrers API answers, with no type assertion; a wrapper
// that embeds a Target therefore keeps Referrers (the final guard needs
// it).
var (
	_ Target                    = (*registry.Repo)(nil)
	_ inventory.Source          = (*registry.Repo)(nil)
	_ inventory.ReadSource      = Target(nil)
	_ inventory.ReferrersSource = Target(nil)
)

func TestTargetComposed(t *testing.T) {
	tt := reflect.TypeOf((*Target)(nil)).Elem()
	var got []string
	for i := range tt.NumMethod() {
		got = append(got, tt.Method(i).Name)
	}
	want := []string{"Delete", "GetManifest", "Head", "ListTags", "Name", "Referrers"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Target's methods %v, want %v", got, want)
	}
	type wrapper struct{ Target }
	if _, ok := any(wrapper{}).(inventory.ReferrersSource); !ok {
		t.Fatal("a wrapper embedding a Target hides the referrers API")
	}
}
