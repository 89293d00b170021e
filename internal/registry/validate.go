package registry

import (
	"errors"
	"fmt"

	"github.com/regprune/regprune/internal/digest"
)

// Every tag and digest a registry hands out is checked here, at the
// package boundary, before the rest of regprune sees it: a tag-list entry
// that looks like a digest, or a Docker-Content-Digest that looks like a
// tag, would otherwise turn into a DELETE of something else.

// ValidTag reports whether s matches the distribution tag grammar
// (digest.ValidTag, the one check of a tag).
func ValidTag(s string) bool { return digest.ValidTag(s) }

// ValidDigest reports whether s is "sha256:" and 64 lowercase hex digits
// or "sha512:" and 128: the only digests regprune reads, verifies and
// deletes (digest.Digest.Valid, the one check of a digest).
func ValidDigest(s string) bool { return digest.Digest(s).Valid() }

// quoteValue quotes a value from the registry for an error message,
// truncated so that a hostile answer cannot flood the output.
func quoteValue(s string) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%q… (%d bytes)", s[:max], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// checkTags refuses a page of the tag list holding anything but tags.
func checkTags(repo string, tags []string) error {
	for _, t := range tags {
		if !digest.ValidTag(t) {
			return fmt.Errorf("%w: tag list of %s holds %s, which is not a valid tag", ErrBadResponse, repo, quoteValue(t))
		}
	}
	return nil
}

// checkDigest refuses a digest the registry gave (what: where it came
// from) unless it is a valid sha256 or sha512 digest.
func checkDigest(what, d string) error {
	if !digest.Digest(d).Valid() {
		return fmt.Errorf("%w: %s %s is not a sha256 or sha512 digest", ErrBadResponse, what, quoteValue(d))
	}
	return nil
}

// digestOf returns the digest of b in the algorithm of like ("sha256:…"
// or "sha512:…"); sha256 when like is no valid digest.
func digestOf(like string, b []byte) string {
	return string(digest.Of(digest.Digest(like).Algorithm(), b))
}

// Verify reports whether b has the digest d (sha256 or sha512):
// digest.Verify, for callers that hold a string.
func Verify(d string, b []byte) bool { return digest.Verify(d, b) }

// CheckRef refuses a reference that is neither a valid tag nor a valid
// digest; Delete calls it before sending anything.
func CheckRef(ref string) error {
	if digest.KindOf(ref) != digest.KindInvalid {
		return nil
	}
	return fmt.Errorf("%w: refusing %s: neither a tag nor a sha256 or sha512 digest", ErrInvalidReference, quoteValue(ref))
}

// ErrInvalidReference is a tag or digest regprune refuses to send.
var ErrInvalidReference = errors.New("invalid reference")

// Bounds on what a registry can make regprune hold in memory. Each is far
// above what real registries serve; crossing one fails the repository
// closed with a message naming the bound.
const (
	// MaxIndexChildren bounds the entries of one index or referrers list.
	MaxIndexChildren = 10_000
	// MaxManifests bounds the manifests of one repository's graph.
	MaxManifests = 1_000_000
)
