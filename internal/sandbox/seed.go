package sandbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// LabelCreated is the OCI annotation/label that carries a build time.
const LabelCreated = "org.opencontainers.image.created"

// ImageSpec describes a random image to build and push.
type ImageSpec struct {
	// Created is the config's "created". Zero leaves it as ggcr's empty
	// image has it: the zero time.Time, serialized "0001-01-01T00:00:00Z".
	Created time.Time
	// Labels are config labels, e.g. LabelCreated.
	Labels map[string]string
	// Annotations are manifest annotations.
	Annotations map[string]string
	// Layers is the number of random layers; 0 means 1.
	Layers int
	// LayerSize is each layer's uncompressed payload in bytes; 0 means 1024.
	LayerSize int64
	// Platform sets the config's os/architecture/variant and, for an index
	// child, the descriptor's platform.
	Platform *v1.Platform
	// MediaType of the manifest: types.DockerManifestSchema2 or
	// types.OCIManifestSchema1. "" means Docker schema 2 for PushImage and
	// the index's flavour for an index child (Docker schema 2 in a Docker
	// manifest list, OCI in an OCI index). Layers and config get matching
	// media types.
	MediaType types.MediaType
}

// BuildImage builds the random image that spec describes, without pushing
// it. mt overrides spec.MediaType when not "".
func BuildImage(spec ImageSpec, mt types.MediaType) (v1.Image, error) {
	if mt == "" {
		mt = spec.MediaType
	}
	if mt == "" {
		mt = types.DockerManifestSchema2
	}
	layerMT, cfgMT := types.DockerLayer, types.DockerConfigJSON
	switch mt {
	case types.DockerManifestSchema2:
	case types.OCIManifestSchema1:
		layerMT, cfgMT = types.OCILayer, types.OCIConfigJSON
	default:
		return nil, fmt.Errorf("registrytest: unsupported image media type %q", mt)
	}
	n := spec.Layers
	if n <= 0 {
		n = 1
	}
	size := spec.LayerSize
	if size <= 0 {
		size = 1024
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, mt), cfgMT)
	adds := make([]mutate.Addendum, 0, n)
	for i := range n {
		l, err := random.Layer(size, layerMT)
		if err != nil {
			return nil, err
		}
		if l, err = compressOnce(l); err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{
			CreatedBy: fmt.Sprintf("registrytest layer %d of %d", i+1, n),
			Created:   v1.Time{Time: spec.Created},
		}})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	if !spec.Created.IsZero() {
		cf.Created = v1.Time{Time: spec.Created.UTC()}
	}
	if len(spec.Labels) > 0 {
		cf.Config.Labels = maps.Clone(spec.Labels)
	}
	if p := spec.Platform; p != nil {
		cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = p.OS, p.Architecture, p.Variant, p.OSVersion
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	if len(spec.Annotations) > 0 {
		img = mutate.Annotations(img, spec.Annotations).(v1.Image)
	}
	return img, nil
}

// PushImage builds a random image and pushes it to repo (a path such as
// "libinput/fedora/28"). The first tag pushes the image, the other tags are
// tag-only manifest PUTs (remote.Tag); without tags it is pushed by digest.
func (r *Registry) PushImage(ctx context.Context, repo string, spec ImageSpec, tags ...string) (v1.Image, v1.Hash, error) {
	img, err := BuildImage(spec, "")
	if err != nil {
		return nil, v1.Hash{}, err
	}
	h, err := r.push(ctx, repo, img, tags)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	return img, h, nil
}

// PushExisting pushes an image or index that the caller built (any
// remote.Taggable whose dependencies ggcr can write: v1.Image or
// v1.ImageIndex), with the same tag rules as PushImage.
func (r *Registry) PushExisting(ctx context.Context, repo string, t remote.Taggable, tags ...string) (v1.Hash, error) {
	return r.push(ctx, repo, t, tags)
}

type digester interface{ Digest() (v1.Hash, error) }

func (r *Registry) push(ctx context.Context, repo string, t remote.Taggable, tags []string) (v1.Hash, error) {
	rp, err := r.repo(repo)
	if err != nil {
		return v1.Hash{}, err
	}
	d, ok := t.(digester)
	if !ok {
		return v1.Hash{}, fmt.Errorf("registrytest: %T has no digest", t)
	}
	h, err := d.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	if ok, err := r.fastPush(ctx, rp, t, tags, h); ok {
		if err != nil {
			return v1.Hash{}, err
		}
		return h, nil
	}
	p, err := remote.NewPusher(r.remote(ctx)...)
	if err != nil {
		return v1.Hash{}, err
	}
	if len(tags) == 0 {
		return h, p.Push(ctx, rp.Digest(h.String()), t)
	}
	if err := p.Push(ctx, rp.Tag(tags[0]), t); err != nil {
		return v1.Hash{}, fmt.Errorf("registrytest: push %s:%s: %w", repo, tags[0], err)
	}
	for _, tag := range tags[1:] {
		if err := p.Put(ctx, rp.Tag(tag), t); err != nil {
			return v1.Hash{}, fmt.Errorf("registrytest: tag %s:%s: %w", repo, tag, err)
		}
	}
	return h, nil
}

// Child is one entry of an index for PushIndex. Set exactly one of Spec,
// Image, Index, Digest or Children.
type Child struct {
	// Spec builds a new random image. Its media type follows the index
	// (Docker schema 2 in a Docker list, OCI in an OCI index) unless
	// Spec.MediaType says otherwise.
	Spec *ImageSpec
	// Image is an image built or pushed before (e.g. the image PushImage
	// returned, to share a child between indexes or with a tag). It is
	// written if the repository lacks it.
	Image v1.Image
	// Index is a nested index built or pushed before (e.g. returned by
	// PushIndex).
	Index v1.ImageIndex
	// Digest references a manifest (image or index) already in the
	// repository.
	Digest v1.Hash
	// Children builds a nested index of these children; MediaType is its
	// type (default: the parent's) and Annotations also become its
	// manifest annotations.
	Children []Child
	// MediaType: for Children, the nested index's type.
	MediaType types.MediaType

	// Platform of the descriptor. Default: Spec.Platform, or else the
	// child's config platform for images; for images without any, a
	// platform from linux/amd64, linux/arm64, linux/arm/v7, linux/ppc64le,
	// linux/s390x by position. Indexes get no platform by default.
	Platform *v1.Platform
	// Annotations of the descriptor.
	Annotations map[string]string
}

var defaultPlatforms = []v1.Platform{
	{OS: "linux", Architecture: "amd64"},
	{OS: "linux", Architecture: "arm64"},
	{OS: "linux", Architecture: "arm", Variant: "v7"},
	{OS: "linux", Architecture: "ppc64le"},
	{OS: "linux", Architecture: "s390x"},
}

// BuildIndex builds an index of children without pushing it. repo is only
// used to resolve Child.Digest.
func (r *Registry) BuildIndex(ctx context.Context, repo string, mt types.MediaType, children []Child, annotations map[string]string) (v1.ImageIndex, error) {
	switch mt {
	case types.OCIImageIndex, types.DockerManifestList:
	case "":
		mt = types.OCIImageIndex
	default:
		return nil, fmt.Errorf("registrytest: unsupported index media type %q", mt)
	}
	childMT := types.OCIManifestSchema1
	if mt == types.DockerManifestList {
		childMT = types.DockerManifestSchema2
	}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, mt)
	adds := make([]mutate.IndexAddendum, 0, len(children))
	for i, c := range children {
		add, err := r.buildChild(ctx, repo, mt, childMT, i, c)
		if err != nil {
			return nil, fmt.Errorf("registrytest: index child %d: %w", i, err)
		}
		adds = append(adds, add)
	}
	idx = mutate.AppendManifests(idx, adds...)
	if len(annotations) > 0 {
		idx = mutate.Annotations(idx, annotations).(v1.ImageIndex)
	}
	return idx, nil
}

func (r *Registry) buildChild(ctx context.Context, repo string, parentMT, childMT types.MediaType, i int, c Child) (mutate.IndexAddendum, error) {
	set := 0
	for _, b := range []bool{c.Spec != nil, c.Image != nil, c.Index != nil, c.Digest != (v1.Hash{}), c.Children != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return mutate.IndexAddendum{}, errors.New("set exactly one of Spec, Image, Index, Digest, Children")
	}
	add := mutate.IndexAddendum{Descriptor: v1.Descriptor{Platform: c.Platform, Annotations: c.Annotations}}
	var img v1.Image
	switch {
	case c.Spec != nil:
		spec := *c.Spec
		if spec.Platform == nil {
			if c.Platform != nil {
				spec.Platform = c.Platform
			} else {
				p := defaultPlatforms[i%len(defaultPlatforms)]
				spec.Platform = &p
			}
		}
		var err error
		img, err = BuildImage(spec, cmpOr(spec.MediaType, childMT))
		if err != nil {
			return add, err
		}
	case c.Image != nil:
		img = c.Image
	case c.Index != nil:
		add.Add = c.Index
	case c.Children != nil:
		idx, err := r.BuildIndex(ctx, repo, cmpOr(c.MediaType, parentMT), c.Children, c.Annotations)
		if err != nil {
			return add, err
		}
		add.Add = idx
	default: // Digest
		rp, err := r.repo(repo)
		if err != nil {
			return add, err
		}
		desc, err := remote.Get(rp.Digest(c.Digest.String()), r.remote(ctx)...)
		if err != nil {
			return add, err
		}
		if desc.MediaType.IsIndex() {
			idx, err := desc.ImageIndex()
			if err != nil {
				return add, err
			}
			add.Add = idx
		} else {
			img, err = desc.Image()
			if err != nil {
				return add, err
			}
		}
	}
	if img != nil {
		add.Add = img
		if add.Platform == nil {
			cf, err := img.ConfigFile()
			if err == nil && cf.OS != "" && cf.Architecture != "" {
				add.Platform = cf.Platform()
			} else {
				p := defaultPlatforms[i%len(defaultPlatforms)]
				add.Platform = &p
			}
		}
	}
	return add, nil
}

func cmpOr(a, b types.MediaType) types.MediaType {
	if a != "" {
		return a
	}
	return b
}

// PushIndex builds an index (types.OCIImageIndex or
// types.DockerManifestList) of children and pushes it, its children first,
// with the same tag rules as PushImage.
func (r *Registry) PushIndex(ctx context.Context, repo string, mt types.MediaType, children []Child, annotations map[string]string, tags ...string) (v1.ImageIndex, v1.Hash, error) {
	idx, err := r.BuildIndex(ctx, repo, mt, children, annotations)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	h, err := r.push(ctx, repo, idx, tags)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	return idx, h, nil
}

// SignatureTag is cosign's tag for an artifact of subject: "sha256-<hex>.<suffix>".
func SignatureTag(subject v1.Hash, suffix string) string {
	return fmt.Sprintf("%s-%s.%s", subject.Algorithm, subject.Hex, suffix)
}

// FallbackTag is the OCI referrers fallback tag of subject: "sha256-<hex>".
func FallbackTag(subject v1.Hash) string {
	return fmt.Sprintf("%s-%s", subject.Algorithm, subject.Hex)
}

// Sign pushes a cosign-style artifact for subject: a small OCI manifest
// tagged sha256-<hex>.<suffix> ("sig", "att", "sbom"; others allowed) whose
// layer is a simple-signing payload (sig), a DSSE envelope (att) or an SPDX
// document (sbom). Like cosign, a second Sign with the same suffix appends a
// layer to the existing manifest, which moves the tag. It returns the
// digest the tag points at.
func (r *Registry) Sign(ctx context.Context, repo string, subject v1.Hash, suffix string) (v1.Hash, error) {
	if suffix == "" {
		return v1.Hash{}, errors.New("registrytest: empty signature suffix")
	}
	rp, err := r.repo(repo)
	if err != nil {
		return v1.Hash{}, err
	}
	tag := rp.Tag(SignatureTag(subject, suffix))

	payload, _ := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": rp.String()},
			"image":    map[string]string{"docker-manifest-digest": subject.String()},
			"type":     "cosign container image signature",
		},
		"optional": map[string]string{"nonce": randomHex(8)},
	})
	var mt types.MediaType
	ann := map[string]string{}
	switch suffix {
	case "sig":
		mt = "application/vnd.dev.cosign.simplesigning.v1+json"
		sum := sha256.Sum256(payload)
		ann["dev.cosignproject.cosign/signature"] = base64.StdEncoding.EncodeToString(sum[:])
	case "att":
		mt = "application/vnd.dsse.envelope.v1+json"
		env, _ := json.Marshal(map[string]any{
			"payloadType": "application/vnd.in-toto+json",
			"payload":     base64.StdEncoding.EncodeToString(payload),
			"signatures":  []map[string]string{{"sig": randomHex(16)}},
		})
		payload = env
		ann["predicateType"] = "https://slsa.dev/provenance/v0.2"
	case "sbom":
		mt = "text/spdx+json"
		payload, _ = json.Marshal(map[string]any{
			"spdxVersion":       "SPDX-2.3",
			"name":              subject.String(),
			"documentNamespace": "https://registrytest.invalid/" + randomHex(8),
		})
	default:
		mt = "application/octet-stream"
	}
	layer := static.NewLayer(payload, mt)

	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	exists := true
	if r.adminPass == "" {
		// Without auth, a HEAD alone tells a first signature (most
		// are) from one to append to.
		_, err := anonHead(ctx, rp, tag.TagStr())
		switch {
		case isNotFound(err):
			exists = false
		case err != nil:
			return v1.Hash{}, err
		}
	}
	if exists {
		if desc, err := remote.Get(tag, r.remote(ctx)...); err == nil {
			if old, err := desc.Image(); err == nil {
				base = old
			}
		} else if !isNotFound(err) {
			return v1.Hash{}, err
		}
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, Annotations: ann})
	if err != nil {
		return v1.Hash{}, err
	}
	return r.push(ctx, repo, img, []string{tag.TagStr()})
}

// rawManifest is a remote.Taggable for a hand-written manifest.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// emptyJSON is the OCI empty descriptor's content.
var emptyJSON = []byte("{}")

// AttachReferrer pushes an OCI 1.1 artifact manifest (artifactType set,
// empty config, one small JSON layer) whose subject is subject, by digest
// only. distribution v3 has no referrers API, so ggcr's remote writer adds
// it to the referrers fallback index tagged sha256-<hex> of the subject
// (FallbackTag). A subject without MediaType or Size is resolved with a
// HEAD. It returns the artifact's digest.
func (r *Registry) AttachReferrer(ctx context.Context, repo string, subject v1.Descriptor, artifactType string) (v1.Hash, error) {
	rp, err := r.repo(repo)
	if err != nil {
		return v1.Hash{}, err
	}
	if subject.MediaType == "" || subject.Size == 0 {
		var d *v1.Descriptor
		if r.adminPass == "" {
			d, err = anonHead(ctx, rp, subject.Digest.String())
		} else {
			d, err = remote.Head(rp.Digest(subject.Digest.String()), r.remote(ctx)...)
		}
		if err != nil {
			return v1.Hash{}, fmt.Errorf("registrytest: resolve subject: %w", err)
		}
		subject = v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	}
	if artifactType == "" {
		artifactType = "application/vnd.registrytest.artifact.v1+json"
	}
	payload, _ := json.Marshal(map[string]string{"subject": subject.Digest.String(), "nonce": randomHex(8)})
	cfgLayer := static.NewLayer(emptyJSON, "application/vnd.oci.empty.v1+json")
	dataLayer := static.NewLayer(payload, types.MediaType(artifactType))
	// The blobs go up as the other seeding helpers' do (see push.go);
	// the manifest through ggcr, which maintains the fallback tag.
	fp, err := r.newFastPusher(ctx, rp)
	if err != nil {
		return v1.Hash{}, err
	}
	for _, l := range []v1.Layer{cfgLayer, dataLayer} {
		h, err := l.Digest()
		if err != nil {
			return v1.Hash{}, err
		}
		if err := fp.blob(ctx, h, l.Compressed); err != nil {
			return v1.Hash{}, err
		}
	}
	p, err := remote.NewPusher(r.remote(ctx)...)
	if err != nil {
		return v1.Hash{}, err
	}
	cfgDigest, _ := cfgLayer.Digest()
	dataDigest, _ := dataLayer.Digest()
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config: v1.Descriptor{
			MediaType: "application/vnd.oci.empty.v1+json",
			Digest:    cfgDigest,
			Size:      int64(len(emptyJSON)),
			Data:      emptyJSON,
		},
		Layers: []v1.Descriptor{{
			MediaType: types.MediaType(artifactType),
			Digest:    dataDigest,
			Size:      int64(len(payload)),
		}},
		Subject:     &subject,
		Annotations: map[string]string{LabelCreated: time.Now().UTC().Format(time.RFC3339)},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return v1.Hash{}, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, err
	}
	if err := p.Put(ctx, rp.Digest(h.String()), rawManifest{raw: raw, mt: types.OCIManifestSchema1}); err != nil {
		return v1.Hash{}, err
	}
	return h, nil
}

// SeedCI pushes builds images to repo like a CI pipeline: build i
// (i = 1..builds) is tagged strconv.Itoa(1000+i) (a job id) and created at
// start+i*step (config "created" and label LabelCreated); the last build is
// also tagged "latest". It returns the digests in build order. Builds are
// pushed 4 at a time (the registry records no push time), "latest" last.
func (r *Registry) SeedCI(ctx context.Context, repo string, builds int, start time.Time, step time.Duration) ([]v1.Hash, error) {
	out := make([]v1.Hash, builds)
	imgs := make([]v1.Image, builds)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := 1; i <= builds; i++ {
		g.Go(func() error {
			created := start.Add(time.Duration(i) * step).UTC()
			img, h, err := r.PushImage(gctx, repo, ImageSpec{
				Created: created,
				Labels:  map[string]string{LabelCreated: created.Format(time.RFC3339)},
			}, strconv.Itoa(1000+i))
			if err != nil {
				return fmt.Errorf("registrytest: SeedCI build %d: %w", i, err)
			}
			out[i-1], imgs[i-1] = h, img
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if builds > 0 {
		if _, err := r.push(ctx, repo, imgs[builds-1], []string{"latest"}); err != nil {
			return nil, fmt.Errorf("registrytest: SeedCI tag latest: %w", err)
		}
	}
	return out, nil
}
