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

func TestMediaTypeOf(t *testing.T) {
	if MediaTypeOf([]byte(`{"mediaType":"`+MediaDockerV2+`"}`)) != MediaDockerV2 || MediaTypeOf([]byte("x")) != "" {
		t.Error("MediaTypeOf")
	}
}
