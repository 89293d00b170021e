package plan

import "testing"

// A registry's digest_delete_removes_tags is false if any repository saw
// a digest delete leave its tags, true if one saw them go and none stay,
// and absent where no repository saw either.
func TestMergeDigestDeleteRemovesTags(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		in   []*bool
		want *bool
	}{
		{[]*bool{nil, nil}, nil},
		{[]*bool{&yes, nil}, &yes},
		{[]*bool{&yes, &no, &yes}, &no},
		{[]*bool{&no, &yes}, &no},
	} {
		var repos []RepoPlan
		for _, v := range tc.in {
			repos = append(repos, RepoPlan{Name: "h/r", Capabilities: &Capabilities{DigestDeleteRemovesTags: v}})
		}
		got := registries(repos)[0].DigestDeleteRemovesTags
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%v: got %v, want %v", tc.in, got, tc.want)
		}
		if v := repos[0].Capabilities.DigestDeleteRemovesTags; v != nil && v != tc.in[0] {
			t.Errorf("merge changed a repository's own value")
		}
	}
}
