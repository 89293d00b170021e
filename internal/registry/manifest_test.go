package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseManifest(t *testing.T) {
	d := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	idx := fmt.Sprintf(`{"mediaType":%q,"manifests":[{"digest":%q},{"digest":%q}],"subject":{"digest":%q}}`, MediaOCIIndex, d("b"), d("a"), d("c"))
	m, err := ParseManifest("manifest x", []byte(idx))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Children(); len(got) != 2 || got[0] != d("b") || got[1] != d("a") || m.Subject.Digest != d("c") || m.Size != int64(len(idx)) {
		t.Fatalf("children %v, subject %v, size %d", got, m.Subject, m.Size)
	}
	many := `{"manifests":[` + strings.Repeat(`{"digest":"`+d("a")+`"},`, MaxIndexChildren) + `{"digest":"` + d("a") + `"}]}`
	for name, body := range map[string]string{
		"not JSON":        `{"manifests":`,
		"entry digest":    `{"manifests":[{"digest":"sha256:../x"}]}`,
		"subject digest":  `{"subject":{"digest":"latest"}}`,
		"over the bound":  many,
		"entry not a map": `{"manifests":["x"]}`,
	} {
		if _, err := ParseManifest("manifest x", []byte(body)); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: err %v, want ErrBadResponse", name, err)
		}
	}
}

// An index is told by its media type, and a manifest of any other type
// that lists entries is one too: its entries are walked and kept.
func TestManifestIsIndex(t *testing.T) {
	entry := []Descriptor{{Digest: "sha256:" + strings.Repeat("a", 64)}}
	for _, c := range []struct {
		m    Manifest
		want bool
	}{
		{Manifest{MediaType: MediaOCIIndex}, true},
		{Manifest{MediaType: MediaDockerList}, true},
		{Manifest{MediaType: "application/vnd.example.unknown+json", Manifests: entry}, true},
		{Manifest{Manifests: entry}, true},
		{Manifest{MediaType: MediaOCIManifest}, false},
		{Manifest{MediaType: MediaDockerV2}, false},
		{Manifest{MediaType: "application/vnd.example.index+json"}, false},
	} {
		if got := c.m.IsIndex(); got != c.want {
			t.Errorf("%q with %d entries: IsIndex %v, want %v", c.m.MediaType, len(c.m.Manifests), got, c.want)
		}
	}
	if MediaTypeOf([]byte(`{"mediaType":"`+MediaDockerV2+`"}`)) != MediaDockerV2 || MediaTypeOf([]byte("x")) != "" {
		t.Error("MediaTypeOf")
	}
}
