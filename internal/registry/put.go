package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// OpenPush authenticates to the repository named s for pushing manifests
// back (regprune restore): it asks for the pull and push actions.
func (c *Client) OpenPush(ctx context.Context, s string) (*Repo, error) {
	ref, err := ParseRepository(s, c.opts.Insecure)
	if err != nil {
		return nil, err
	}
	hc, err := c.authClient(ctx, ref.Registry, []string{ref.Scope("pull,push")})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Name(), err)
	}
	return &Repo{ref: ref, hc: hc, c: c, base: ref.Registry.Scheme() + "://" + ref.RegistryStr() + "/v2/" + ref.RepositoryStr()}, nil
}

// PutManifest uploads body as the manifest ref (a digest or a tag) with
// its media type. For a digest ref, body must have that digest. It
// returns the digest the registry stored.
func (r *Repo) PutManifest(ctx context.Context, ref, mediaType string, body []byte) (string, error) {
	if len(body) > MaxManifestSize {
		return "", fmt.Errorf("manifest %s is larger than %d bytes", ref, MaxManifestSize)
	}
	want := Sha256(body)
	if strings.Contains(ref, ":") && ref != want {
		return "", fmt.Errorf("manifest %s: the body has digest %s", ref, want)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, r.base+"/manifests/"+ref, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", mediaType)
	// A manifest PUT is never redirected by a registry: a redirect is
	// answered as the error it is, not followed with the body.
	hc := *r.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return "", authError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return "", newError(resp)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != want {
		return "", fmt.Errorf("%w: stored manifest %s as %s", ErrBadResponse, want, got)
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
