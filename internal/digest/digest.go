// Package digest checks content digests: "sha256:" and 64 lowercase hex
// digits, or "sha512:" and 128, the only algorithms regprune reads,
// verifies, caches and deletes. A digest is verified with its own
// algorithm, so that a manifest stored under sha512 is as intact as one
// under sha256. The tag grammar is beside it (ValidTag, KindOf): what
// names a manifest is checked in one place. Standard library only.
package digest

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"strings"
)

// Digest is "algorithm:hex".
type Digest string

// The algorithms regprune accepts.
const (
	SHA256 = "sha256"
	SHA512 = "sha512"
)

// Valid reports whether d is a sha256 or sha512 digest, its hex lowercase
// and of the algorithm's length.
func (d Digest) Valid() bool {
	alg, hexpart, ok := strings.Cut(string(d), ":")
	if !ok {
		return false
	}
	switch alg {
	case SHA256:
		return len(hexpart) == 64 && lowerHex(hexpart)
	case SHA512:
		return len(hexpart) == 128 && lowerHex(hexpart)
	}
	return false
}

// Algorithm is SHA256 or SHA512; "" when d is not Valid.
func (d Digest) Algorithm() string {
	if !d.Valid() {
		return ""
	}
	alg, _, _ := strings.Cut(string(d), ":")
	return alg
}

// Hex is the hex part of a Valid digest; "" otherwise.
func (d Digest) Hex() string {
	if !d.Valid() {
		return ""
	}
	_, h, _ := strings.Cut(string(d), ":")
	return h
}

// Verify reports whether d is Valid and b has it.
func (d Digest) Verify(b []byte) bool {
	alg := d.Algorithm()
	return alg != "" && Of(alg, b) == d
}

// Of is the digest of b in alg (SHA512, else SHA256).
func Of(alg string, b []byte) Digest {
	if alg == SHA512 {
		h := sha512.Sum512(b)
		return Digest(SHA512 + ":" + hex.EncodeToString(h[:]))
	}
	h := sha256.Sum256(b)
	return Digest(SHA256 + ":" + hex.EncodeToString(h[:]))
}

// Verify reports whether b has the digest d (sha256 or sha512).
func Verify(d string, b []byte) bool { return Digest(d).Verify(b) }

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; !(b >= '0' && b <= '9' || b >= 'a' && b <= 'f') {
			return false
		}
	}
	return true
}
