package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// MountBlob asks the registry to link blob digest, which the repository
// from (a path on the same registry, such as "team/app") holds, into this
// repository without uploading it (POST /blobs/uploads/?mount=&from=).
// It reports whether the blob was mounted (201 Created). A registry that
// cannot mount answers 202 with an upload session instead: that session
// is cancelled and MountBlob reports false.
func (r *Repo) MountBlob(ctx context.Context, digest, from string) (bool, error) {
	if !ValidDigest(digest) {
		return false, fmt.Errorf("mount: %q is not a digest", digest)
	}
	if _, err := ParseRepository(r.ref.RegistryStr()+"/"+from, true); err != nil {
		return false, fmt.Errorf("mount from %q: %w", from, err)
	}
	u := r.base + "/blobs/uploads/?mount=" + url.QueryEscape(digest) + "&from=" + url.QueryEscape(from)
	resp, err := r.send(ctx, http.MethodPost, u, "", "", nil)
	if err != nil {
		return false, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode == http.StatusCreated {
		return true, nil
	}
	// An upload session was opened instead: close it, best effort, on
	// this registry only (the Location is the registry's word).
	if loc, err := resp.Location(); err == nil && loc.Host == resp.Request.URL.Host {
		if dr, err := r.send(ctx, http.MethodDelete, loc.String(), "", "", nil); err == nil {
			dr.Body.Close()
		}
	}
	return false, nil
}
