package registry

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The answers of registries that refuse a digest delete until something
// else is gone are classified by their code (and Harbor's by its 412 to
// a DELETE), never by their message: GAR/GCR's dangling tag and dangling
// parent (vendors.md §4), ECR's ImageReferencedByManifestList (§3),
// Harbor's 412 (§7). None of them is an unsupported operation, a denial
// or a success.
func TestStillTaggedOrReferenced(t *testing.T) {
	answer := func(method string, status int, body string) *Error {
		u, _ := url.Parse("https://r.example/v2/app/manifests/sha256:x")
		return newError(&http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Request: &http.Request{Method: method, URL: u, Header: http.Header{}}})
	}
	body := func(code string) string {
		return `{"errors":[{"code":"` + code + `","message":"m"}]}`
	}
	for _, c := range []struct {
		name string
		err  *Error
		want error
	}{
		{"GAR dangling tag", answer("DELETE", 400, body("GOOGLE_MANIFEST_DANGLING_TAG")), ErrStillTagged},
		{"GAR dangling parent", answer("DELETE", 400, body("GOOGLE_MANIFEST_DANGLING_PARENT_IMAGE")), ErrStillReferenced},
		{"ECR manifest list", answer("DELETE", 400, body("ImageReferencedByManifestList")), ErrStillReferenced},
		{"Harbor 412", answer("DELETE", 412, body("VIOLATE_FOREIGN_KEY_CONSTRAINT")), ErrStillReferenced},
		{"a 412 to a GET", answer("GET", 412, ""), nil},
		{"a push naming a missing blob", answer("PUT", 400, body("MANIFEST_BLOB_UNKNOWN")), ErrContentMissing},
		{"a push naming a missing layer", answer("PUT", 400, body("BLOB_UNKNOWN")), ErrContentMissing},
		{"the message alone names it", answer("PUT", 400, `{"errors":[{"code":"MANIFEST_INVALID","message":"BLOB_UNKNOWN"}]}`), nil},
		{"the message alone", answer("DELETE", 400, `{"errors":[{"code":"DIGEST_INVALID","message":"GOOGLE_MANIFEST_DANGLING_TAG"}]}`), nil},
	} {
		for _, s := range []error{ErrStillTagged, ErrStillReferenced, ErrContentMissing, ErrUnsupported, ErrDenied, ErrUnauthorized, ErrNotFound} {
			if got := errors.Is(c.err, s); got != (s == c.want) {
				t.Errorf("%s (%v): errors.Is(%v) = %v", c.name, c.err, s, got)
			}
		}
	}
}
