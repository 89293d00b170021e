package digest_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
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
