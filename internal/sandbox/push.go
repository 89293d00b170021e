package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The seeding helpers push images and indexes with the registry API's
// plainest calls, on a registry with auth through one authenticated
// transport per push (a ping and a token, as go-containerregistry's
// pusher gets), on one without straight away:
//
//   - a blob is uploaded in two requests, POST /blobs/uploads/ and a PUT
//     of the whole body with ?digest= (the monolithic upload every
//     distribution version takes), without a HEAD first. ggcr sends a
//     HEAD, a POST, a PATCH and a PUT per blob. The blobs of a seed are
//     new random bytes almost always; when one exists already, the
//     registry commits the same bytes again and links them, which
//     changes nothing.
//   - a child manifest of an index is checked with a HEAD and PUT by
//     digest only where missing (as ggcr does), children before parents.
//   - the manifest itself is PUT once per tag, or by digest without tags.
//
// What is written is what ggcr writes: the same manifest bytes, media
// types and blobs. A manifest with a subject (an OCI referrer, whose
// fallback tag ggcr maintains) is pushed by ggcr's pusher.

// errHasSubject sends a push to ggcr's pusher.
var errHasSubject = errors.New("registrytest: manifest with a subject")

// fastPusher is one push's connection to one repository.
type fastPusher struct {
	client *http.Client
	base   string // scheme://host/v2/repo
	done   map[v1.Hash]bool
}

func (r *Registry) newFastPusher(ctx context.Context, rp name.Repository) (*fastPusher, error) {
	client := anonClient // a registry without auth needs no ping and no token
	if r.adminPass != "" {
		rt, err := transport.NewWithContext(ctx, rp.Registry, r.Authenticator(), ggcrTransport, []string{rp.Scope(transport.PushScope)})
		if err != nil {
			return nil, err
		}
		client = &http.Client{Transport: rt}
	}
	return &fastPusher{
		client: client,
		base:   fmt.Sprintf("%s://%s/v2/%s", rp.Scheme(), rp.RegistryStr(), rp.RepositoryStr()),
		done:   map[v1.Hash]bool{},
	}, nil
}

// fastPush pushes t (a v1.Image or v1.ImageIndex) and tags it; ok false
// means t is of another kind, or has a subject somewhere, and ggcr must
// push it.
func (r *Registry) fastPush(ctx context.Context, rp name.Repository, t remote.Taggable, tags []string, h v1.Hash) (ok bool, err error) {
	switch t.(type) {
	case v1.Image, v1.ImageIndex:
	default:
		return false, nil
	}
	p, err := r.newFastPusher(ctx, rp)
	if err != nil {
		return true, err
	}
	if err := p.deps(ctx, t); err != nil {
		if errors.Is(err, errHasSubject) {
			return false, nil
		}
		return true, err
	}
	raw, mt, err := rawOf(t)
	if err != nil {
		return true, err
	}
	if hasSubject(raw) {
		return false, nil
	}
	if len(tags) == 0 {
		return true, p.putManifest(ctx, h.String(), raw, mt)
	}
	for _, tag := range tags {
		if err := p.putManifest(ctx, tag, raw, mt); err != nil {
			return true, fmt.Errorf("registrytest: push %s:%s: %w", rp.RepositoryStr(), tag, err)
		}
	}
	return true, nil
}

func rawOf(t remote.Taggable) ([]byte, types.MediaType, error) {
	raw, err := t.RawManifest()
	if err != nil {
		return nil, "", err
	}
	var mt types.MediaType
	if d, ok := t.(interface {
		MediaType() (types.MediaType, error)
	}); ok {
		if mt, err = d.MediaType(); err != nil {
			return nil, "", err
		}
	}
	if mt == "" {
		var probe struct {
			MediaType types.MediaType `json:"mediaType"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, "", err
		}
		mt = probe.MediaType
	}
	return raw, mt, nil
}

func hasSubject(raw []byte) bool {
	var probe struct {
		Subject *json.RawMessage `json:"subject"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.Subject != nil
}

// deps writes what t needs before its own manifest: an image's config and
// layers, an index's child manifests (and theirs).
func (p *fastPusher) deps(ctx context.Context, t remote.Taggable) error {
	switch t := t.(type) {
	case v1.ImageIndex:
		im, err := t.IndexManifest()
		if err != nil {
			return err
		}
		for _, d := range im.Manifests {
			if p.done[d.Digest] {
				continue
			}
			exists, err := p.manifestExists(ctx, d.Digest)
			if err != nil {
				return err
			}
			if !exists {
				var child remote.Taggable
				if d.MediaType.IsIndex() {
					child, err = t.ImageIndex(d.Digest)
				} else {
					child, err = t.Image(d.Digest)
				}
				if err != nil {
					return err
				}
				if err := p.deps(ctx, child); err != nil {
					return err
				}
				raw, mt, err := rawOf(child)
				if err != nil {
					return err
				}
				if hasSubject(raw) {
					return errHasSubject
				}
				if err := p.putManifest(ctx, d.Digest.String(), raw, mt); err != nil {
					return err
				}
			}
			p.done[d.Digest] = true
		}
		return nil
	case v1.Image:
		cfg, err := t.RawConfigFile()
		if err != nil {
			return err
		}
		ch, err := t.ConfigName()
		if err != nil {
			return err
		}
		if err := p.blob(ctx, ch, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(cfg)), nil }); err != nil {
			return err
		}
		layers, err := t.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			lh, err := l.Digest()
			if err != nil {
				return err
			}
			if err := p.blob(ctx, lh, l.Compressed); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("registrytest: cannot push %T", t)
}

func (p *fastPusher) do(ctx context.Context, method, u string, body io.Reader, contentType string, accept []string, codes ...int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if len(accept) > 0 {
		req.Header.Set("Accept", strings.Join(accept, ", "))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, codes...); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

func (p *fastPusher) manifestExists(ctx context.Context, d v1.Hash) (bool, error) {
	resp, err := p.do(ctx, http.MethodHead, p.base+"/manifests/"+d.String(), nil, "", ManifestAccept, http.StatusOK, http.StatusNotFound)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK, nil
}

func (p *fastPusher) putManifest(ctx context.Context, ref string, raw []byte, mt types.MediaType) error {
	resp, err := p.do(ctx, http.MethodPut, p.base+"/manifests/"+ref, bytes.NewReader(raw), string(mt), nil, http.StatusOK, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// blob uploads a blob in two requests (see above), once per push.
func (p *fastPusher) blob(ctx context.Context, h v1.Hash, open func() (io.ReadCloser, error)) error {
	if p.done[h] {
		return nil
	}
	resp, err := p.do(ctx, http.MethodPost, p.base+"/blobs/uploads/", nil, "", nil, http.StatusAccepted)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return fmt.Errorf("registrytest: upload of %s: %w", h, err)
	}
	q := loc.Query()
	q.Set("digest", h.String())
	loc.RawQuery = q.Encode()
	rc, err := open()
	if err != nil {
		return err
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return err
	}
	resp, err = p.do(ctx, http.MethodPut, loc.String(), bytes.NewReader(body), "application/octet-stream", nil, http.StatusCreated)
	if err != nil {
		return fmt.Errorf("registrytest: upload of %s: %w", h, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	p.done[h] = true
	return nil
}
