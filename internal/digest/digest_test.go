package digest_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/digest"
)

func TestDigest(t *testing.T) {
	body := []byte(`{"schemaVersion":2}`)
	s256 := sha256.Sum256(body)
	s512 := sha512.Sum512(body)
	d256 := digest.Digest("sha256:" + hex.EncodeToString(s256[:]))
	d512 := digest.Digest("sha512:" + hex.EncodeToString(s512[:]))
	for _, d := range []digest.Digest{d256, d512} {
		if !d.Valid() || !d.Verify(body) || d.Verify([]byte("other")) || !digest.Verify(string(d), body) {
			t.Errorf("%s: does not verify its own body, or verifies another", d)
		}
		if digest.Of(d.Algorithm(), body) != d || len(d.Hex()) != map[string]int{"sha256": 64, "sha512": 128}[d.Algorithm()] {
			t.Errorf("%s: Of, Algorithm or Hex", d)
		}
	}
	hex64 := strings.Repeat("a", 64)
	for _, s := range []string{"", "sha256", "sha256:" + strings.ToUpper(hex64), "sha256:" + hex64[:63], "sha512:" + hex64,
		"md5:" + hex64[:32], "sha384:" + strings.Repeat("a", 96), "sha256:" + hex64 + "/../x", "latest"} {
		d := digest.Digest(s)
		if d.Valid() || d.Algorithm() != "" || d.Hex() != "" || d.Verify(nil) {
			t.Errorf("%q accepted", d)
		}
	}
}

// TestValidTag holds ValidTag to the distribution grammar that plan,
// config, inuse and registry each wrote on their own before, on edge
// cases and on random strings over the alphabet around it.
func TestValidTag(t *testing.T) {
	grammar := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	cases := []string{"", "latest", "v1.2.3", "_x", ".x", "-x", "a-", "a.", "A_b-C.9", strings.Repeat("a", 128), strings.Repeat("a", 129),
		"a:b", "a/b", "a b", "é", "sha256:" + strings.Repeat("a", 64), "sha256-" + strings.Repeat("a", 64) + ".sig", "a\n"}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "aZ09_.-:/@ \xff"
	for range 20000 {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got, want := digest.ValidTag(s), grammar.MatchString(s); got != want {
			t.Fatalf("ValidTag(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestKindOf: a reference is a digest, a tag or neither, never two.
func TestKindOf(t *testing.T) {
	hex64 := strings.Repeat("a", 64)
	for s, want := range map[string]digest.Kind{
		"sha256:" + hex64:                       digest.KindDigest,
		"sha512:" + hex64 + hex64:               digest.KindDigest,
		"latest":                                digest.KindTag,
		"sha256-" + hex64:                       digest.KindTag, // a fallback tag
		"sha256:" + hex64[:63]:                  digest.KindInvalid,
		"md5:" + hex64[:32]:                     digest.KindInvalid,
		"../x":                                  digest.KindInvalid,
		"":                                      digest.KindInvalid,
		"sha256:" + strings.ToUpper(hex64):      digest.KindInvalid,
		"sha256:" + hex64 + "?ns=other.example": digest.KindInvalid,
	} {
		if got := digest.KindOf(s); got != want {
			t.Errorf("KindOf(%q) = %v, want %v", s, got, want)
		}
	}
}
