package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ManifestAccept is the full Accept list for manifests: OCI index, OCI
// manifest, Docker manifest list, Docker v2 schema 2 manifest.
var ManifestAccept = []string{
	string(types.OCIImageIndex),
	string(types.OCIManifestSchema1),
	string(types.DockerManifestList),
	string(types.DockerManifestSchema2),
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// Tags lists the tags of repo (following pagination).
func (r *Registry) Tags(ctx context.Context, repo string) ([]string, error) {
	rp, err := r.repo(repo)
	if err != nil {
		return nil, err
	}
	if r.adminPass == "" {
		return anonTags(ctx, rp)
	}
	return remote.List(rp, r.remote(ctx)...)
}

// tagsPage is anonTags' page size, ggcr's default (tests change it).
var tagsPage = 1000

// anonTags is remote.List on a registry without auth, without the ping
// of a new ggcr transport: GET tags/list?n=1000, then each Link rel=next.
func anonTags(ctx context.Context, rp name.Repository) ([]string, error) {
	next := fmt.Sprintf("%s://%s/v2/%s/tags/list?n=%d", rp.Scheme(), rp.RegistryStr(), rp.RepositoryStr(), tagsPage)
	tags := []string{}
	for next != "" {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		resp, err := anonClient.Do(req)
		if err != nil {
			return nil, err
		}
		if err := transport.CheckError(resp, http.StatusOK); err != nil {
			resp.Body.Close()
			return nil, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		tags = append(tags, page.Tags...)
		next = ""
		if l := resp.Header.Get("Link"); l != "" {
			target, rel, _ := strings.Cut(l, ";")
			target = strings.Trim(strings.TrimSpace(target), "<>")
			if strings.Contains(rel, `rel="next"`) && target != "" {
				u, err := req.URL.Parse(target)
				if err != nil {
					return nil, err
				}
				next = u.String()
			}
		}
	}
	return tags, nil
}

// Tag points tag at the manifest digest already in repo, with a tag-only
// PUT as `crane tag` does.
func (r *Registry) Tag(ctx context.Context, repo string, digest v1.Hash, tag string) error {
	ref, err := name.NewDigest(r.Ref(repo)+"@"+digest.String(), name.Insecure)
	if err != nil {
		return err
	}
	desc, err := remote.Get(ref, r.remote(ctx)...)
	if err != nil {
		return err
	}
	return remote.Tag(ref.Context().Tag(tag), desc, r.remote(ctx)...)
}

// Exists reports whether repo has a manifest with this digest (a HEAD by
// digest with the full Accept list).
func (r *Registry) Exists(ctx context.Context, repo string, digest v1.Hash) (bool, error) {
	rp, err := r.repo(repo)
	if err != nil {
		return false, err
	}
	if r.adminPass == "" {
		// Anonymous: the HEAD alone, without the ping and token dance
		// of a new ggcr transport.
		return anonExists(ctx, rp, digest)
	}
	_, err = remote.Head(rp.Digest(digest.String()), r.remote(ctx)...)
	if isNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func anonExists(ctx context.Context, rp name.Repository, digest v1.Hash) (bool, error) {
	u := fmt.Sprintf("%s://%s/v2/%s/manifests/%s", rp.Scheme(), rp.RegistryStr(), rp.RepositoryStr(), digest)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", strings.Join(ManifestAccept, ", "))
	resp, err := anonClient.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return false, err
	}
	return true, nil
}

// anonHead is remote.Head on a registry without auth: the HEAD alone.
// ref is a tag or a digest.
func anonHead(ctx context.Context, rp name.Repository, ref string) (*v1.Descriptor, error) {
	u := fmt.Sprintf("%s://%s/v2/%s/manifests/%s", rp.Scheme(), rp.RegistryStr(), rp.RepositoryStr(), ref)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", strings.Join(ManifestAccept, ", "))
	resp, err := anonClient.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return nil, err
	}
	h, err := v1.NewHash(resp.Header.Get("Docker-Content-Digest"))
	if err != nil {
		return nil, err
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return &v1.Descriptor{MediaType: types.MediaType(ct), Digest: h, Size: resp.ContentLength}, nil
}

// Pullable does a full pull of ref ("repo:tag" or "repo@sha256:..."): it
// GETs the manifest with the full Accept list, every child manifest of an
// index recursively, and every config and layer blob, reading each body
// and checking its digest (and size where a descriptor gives one). It
// returns the first failure.
func (r *Registry) Pullable(ctx context.Context, ref string) error {
	return r.PullSet().Pullable(ctx, ref)
}

// PullableAt is Pullable against any registry host (e.g. a Proxy's Host),
// with auth (nil means anonymous).
func PullableAt(ctx context.Context, host string, auth authn.Authenticator, ref string) error {
	return (&PullSet{host: host, auth: auth}).Pullable(ctx, ref)
}

// PullSet is a series of full pulls (Pullable) on one registry for
// checks of a registry that does not change between them, such as every
// kept manifest and every tag after GC. The pulls of a repository share
// one transport (one ping and, with auth, one token) and read each
// manifest and blob once: a child manifest or a blob that an earlier
// pull of the set read and verified in full is not fetched again. The
// manifest a pull names is always fetched and checked.
type PullSet struct {
	host  string
	auth  authn.Authenticator
	plain bool // a registry without auth: no ggcr transport needed

	mu    sync.Mutex
	repos map[string]*puller
}

// PullSet returns an empty PullSet on this registry with its own
// credentials.
func (r *Registry) PullSet() *PullSet {
	return &PullSet{host: r.Host, auth: r.Authenticator(), plain: r.adminPass == ""}
}

// PullSetAt is Registry.PullSet against any registry host, with auth
// (nil means anonymous).
func PullSetAt(host string, auth authn.Authenticator) *PullSet {
	return &PullSet{host: host, auth: auth}
}

// Pullable does a full pull of ref, as Registry.Pullable does, minus what
// an earlier pull of the set verified.
func (s *PullSet) Pullable(ctx context.Context, ref string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	nref, err := name.ParseReference(s.host+"/"+ref, name.StrictValidation)
	if err != nil {
		return err
	}
	repo := nref.Context()
	p := s.repos[repo.RepositoryStr()]
	if p == nil {
		client := anonClient // a registry without auth: no ping, no token
		if !s.plain {
			auth := s.auth
			if auth == nil {
				auth = authn.Anonymous
			}
			rt, err := transport.NewWithContext(ctx, repo.Registry, auth, pullTransport, []string{repo.Scope(transport.PullScope)})
			if err != nil {
				return err
			}
			client = &http.Client{Transport: rt}
		}
		p = &puller{
			client: client,
			base:   fmt.Sprintf("%s://%s/v2/%s", repo.Scheme(), repo.RegistryStr(), repo.RepositoryStr()),
			seen:   map[v1.Hash]bool{},
		}
		if s.repos == nil {
			s.repos = map[string]*puller{}
		}
		s.repos[repo.RepositoryStr()] = p
	}
	var want *v1.Descriptor
	if d, ok := nref.(name.Digest); ok {
		h, err := v1.NewHash(d.DigestStr())
		if err != nil {
			return err
		}
		want = &v1.Descriptor{Digest: h}
	}
	if err := p.manifest(ctx, nref.Identifier(), want); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	return nil
}

type puller struct {
	client *http.Client
	base   string
	seen   map[v1.Hash]bool // manifests and blobs read and verified in full
}

func (p *puller) get(ctx context.Context, url string, accept []string) ([]byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	if len(accept) > 0 {
		req.Header.Set("Accept", strings.Join(accept, ", "))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("GET %s: read body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		snippet := string(body)
		if len(snippet) > 300 {
			snippet = snippet[:300]
		}
		return nil, nil, fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, strings.TrimSpace(snippet))
	}
	return body, resp.Header, nil
}

func checkContent(what string, body []byte, want *v1.Descriptor) (v1.Hash, error) {
	h, n, err := v1.SHA256(bytes.NewReader(body))
	if err != nil {
		return h, err
	}
	if want != nil {
		if want.Digest != (v1.Hash{}) && h != want.Digest {
			return h, fmt.Errorf("%s: digest mismatch: got %s, want %s", what, h, want.Digest)
		}
		if want.Size != 0 && n != want.Size {
			return h, fmt.Errorf("%s: size mismatch: got %d, want %d", what, n, want.Size)
		}
	}
	return h, nil
}

func (p *puller) manifest(ctx context.Context, reference string, want *v1.Descriptor) error {
	url := p.base + "/manifests/" + reference
	body, hdr, err := p.get(ctx, url, ManifestAccept)
	if err != nil {
		return err
	}
	h, err := checkContent("manifest "+reference, body, want)
	if err != nil {
		return err
	}
	if dcd := hdr.Get("Docker-Content-Digest"); dcd != "" && dcd != h.String() {
		return fmt.Errorf("manifest %s: Docker-Content-Digest %s, body is %s", reference, dcd, h)
	}
	ct, _, _ := mime.ParseMediaType(hdr.Get("Content-Type"))
	mt := types.MediaType(ct)
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return fmt.Errorf("manifest %s: %w", reference, err)
	}
	if probe.MediaType != "" && mt != probe.MediaType {
		return fmt.Errorf("manifest %s: Content-Type %q but mediaType %q", reference, mt, probe.MediaType)
	}
	if want != nil && want.MediaType != "" && want.MediaType != mt {
		return fmt.Errorf("manifest %s: media type %q, descriptor says %q", reference, mt, want.MediaType)
	}
	switch {
	case mt.IsIndex():
		im, err := v1.ParseIndexManifest(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("manifest %s: %w", reference, err)
		}
		for _, c := range im.Manifests {
			if p.seen[c.Digest] {
				continue
			}
			c := c
			if err := p.manifest(ctx, c.Digest.String(), &c); err != nil {
				return err
			}
		}
	case mt.IsImage():
		m, err := v1.ParseManifest(bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("manifest %s: %w", reference, err)
		}
		blobs := append([]v1.Descriptor{m.Config}, m.Layers...)
		for _, b := range blobs {
			if p.seen[b.Digest] || len(b.URLs) > 0 {
				continue
			}
			if err := p.blob(ctx, b); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("manifest %s: unexpected media type %q", reference, mt)
	}
	p.seen[h] = true
	return nil
}

func (p *puller) blob(ctx context.Context, d v1.Descriptor) error {
	body, _, err := p.get(ctx, p.base+"/blobs/"+d.Digest.String(), nil)
	if err != nil {
		return err
	}
	if _, err := checkContent("blob "+d.Digest.String(), body, &d); err != nil {
		return err
	}
	p.seen[d.Digest] = true
	return nil
}
