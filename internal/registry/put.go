package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/regprune/regprune/internal/digest"
)

// PutManifest uploads body as the manifest ref (a digest or a tag) with
// its media type. For a digest ref, body must have that digest (sha256
// or sha512). It returns the digest the registry stored. The PUT goes
// through the same path as every other request (send): its reference
// is checked, its redirect is an error, its error is redacted, and a
// retried or re-authenticated PUT sends the whole body again.
func (r *Repo) PutManifest(ctx context.Context, ref, mediaType string, body []byte) (string, error) {
	if err := CheckRef(ref); err != nil {
		return "", err
	}
	if len(body) > MaxManifestSize {
		return "", fmt.Errorf("manifest %s is larger than %d bytes", ref, MaxManifestSize)
	}
	want := string(digest.Of(digest.SHA256, body))
	if digest.KindOf(ref) == digest.KindDigest {
		if !digest.Verify(ref, body) {
			return "", fmt.Errorf("manifest %s: the body has digest %s", ref, digestOf(ref, body))
		}
		want = ref
	}
	resp, err := r.send(ctx, http.MethodPut, r.base+"/manifests/"+ref, "", mediaType, body)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != want && !digest.Verify(got, body) {
		return "", fmt.Errorf("%w: stored manifest %s as %s", ErrBadResponse, want, quoteValue(got))
	}
	return want, nil
}

// BlobExists reports whether the repository serves the blob digest (HEAD).
func (r *Repo) BlobExists(ctx context.Context, digest string) (bool, error) {
	resp, err := r.do(ctx, http.MethodHead, r.base+"/blobs/"+digest, "")
	switch {
	case err == nil:
		resp.Body.Close()
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}
