package digest

// MaxTagLen is the longest tag the distribution grammar allows.
const MaxTagLen = 128

// ValidTag reports whether s matches the distribution tag grammar
// [A-Za-z0-9_][A-Za-z0-9._-]{0,127}: the one check of a tag, beside the
// one of a digest, so that a tag never holds ':' and a reference is a
// digest exactly when Digest(ref).Valid().
func ValidTag(s string) bool {
	if len(s) == 0 || len(s) > MaxTagLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '_':
		case i > 0 && (b == '.' || b == '-'):
		default:
			return false
		}
	}
	return true
}

// Kind is what a reference to a manifest is: a tag, a digest, or neither.
type Kind int

// The kinds of a reference.
const (
	KindInvalid Kind = iota // neither a valid tag nor a sha256 or sha512 digest
	KindTag                 // ValidTag
	KindDigest              // Digest(ref).Valid()
)

// KindOf says whether ref is a digest, a tag or neither: the typed form
// of the decision that "has a ':'" used to make.
func KindOf(ref string) Kind {
	switch {
	case Digest(ref).Valid():
		return KindDigest
	case ValidTag(ref):
		return KindTag
	}
	return KindInvalid
}
