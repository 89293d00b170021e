package graph

import (
	"strings"
	"testing"
)

// The referrers fallback tag of a subject is taken for a referrers index
// only if it names an OCI image index, not the subject itself, whose
// entries the registry has carry that subject (OCI distribution spec
// v1.1, "Referrers Tag Schema"); entries the registry no longer has name
// nothing and do not count.
func TestFallbackProblem(t *testing.T) {
	const s, f, r, other = "sha256:s", "sha256:f", "sha256:r", "sha256:o"
	subjects := map[string]string{r: s, other: other, "sha256:plain": ""}
	of := func(e string) (string, bool) { v, ok := subjects[e]; return v, ok }
	for _, c := range []struct {
		name, digest, mt string
		entries          []string
		want             string // a word of the problem, "" for none
	}{
		{"valid", f, MediaOCIIndex, []string{r}, ""},
		{"empty index", f, MediaOCIIndex, nil, ""},
		{"stale entry", f, MediaOCIIndex, []string{r, "sha256:gone"}, ""},
		{"the subject itself (GitLab)", s, MediaOCIIndex, []string{r}, "itself"},
		{"an image", f, MediaOCIManifest, nil, "not an OCI image index"},
		{"a Docker manifest list", f, MediaDockerList, []string{r}, "not an OCI image index"},
		{"an entry of another subject", f, MediaOCIIndex, []string{r, other}, "whose subject is " + other},
		{"an entry without subject", f, MediaOCIIndex, []string{"sha256:plain"}, "(none)"},
	} {
		got := FallbackProblem(s, c.digest, c.mt, c.entries, of)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
