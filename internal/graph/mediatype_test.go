package graph

import "testing"

// Media types are decided from the constants, not by a substring: a type
// that only mentions "index" is not an index, and a manifest of any type
// that lists children is one.
func TestIsIndex(t *testing.T) {
	for _, c := range []struct {
		m    Manifest
		want bool
	}{
		{Manifest{MediaType: MediaOCIIndex}, true},
		{Manifest{MediaType: MediaDockerList}, true},
		{Manifest{MediaType: "application/vnd.example.unknown+json", Children: []string{"c"}}, true},
		{Manifest{MediaType: MediaOCIManifest}, false},
		{Manifest{MediaType: MediaDockerV2}, false},
		{Manifest{MediaType: "application/vnd.example.index+json"}, false},
		{Manifest{MediaType: "application/vnd.example.manifest.list+json"}, false},
	} {
		if got := c.m.IsIndex(); got != c.want {
			t.Errorf("%q with %d children: IsIndex %v, want %v", c.m.MediaType, len(c.m.Children), got, c.want)
		}
	}
	for mt, want := range map[string]bool{"": true, MediaOCIConfig: true, MediaDockerConfig: true, "application/vnd.dev.cosign.simplesigning.v1+json": false} {
		if IsImageConfigType(mt) != want {
			t.Errorf("IsImageConfigType(%q) = %v", mt, !want)
		}
	}
}
