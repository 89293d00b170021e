package registry

import (
	"encoding/json"
	"fmt"
)

// Manifest is regprune's one model of a manifest body: an image
// manifest, an index or manifest list, an OCI artifact, or a referrers
// list (an index). inventory, apply's re-check and restore read bodies
// into it; ParseManifest checks what the rest of regprune relies on.
type Manifest struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *Descriptor       `json:"config"`
	Layers       []Descriptor      `json:"layers"`
	Manifests    []Descriptor      `json:"manifests"`
	Subject      *Descriptor       `json:"subject"`
	Annotations  map[string]string `json:"annotations"`

	// Digest and Size are those of the body: set by whoever read it, not
	// part of the JSON.
	Digest string `json:"-"`
	Size   int64  `json:"-"`
}

// ParseManifest reads body (what names it in errors: "manifest
// sha256:…", "referrers of sha256:…") into a Manifest, and checks it:
// at most MaxIndexChildren entries, each a valid digest, and a valid
// subject digest. Every error wraps ErrBadResponse.
func ParseManifest(what string, body []byte) (*Manifest, error) {
	m := &Manifest{Size: int64(len(body))}
	if err := json.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadResponse, what, err)
	}
	if len(m.Manifests) > MaxIndexChildren {
		return nil, fmt.Errorf("%w: %s lists %d manifests, more than the bound of %d", ErrBadResponse, what, len(m.Manifests), MaxIndexChildren)
	}
	for _, d := range m.Manifests {
		if err := checkDigest("entry of "+what, d.Digest); err != nil {
			return nil, err
		}
	}
	if m.Subject != nil {
		if err := checkDigest("subject of "+what, m.Subject.Digest); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Children returns the digests m lists (an index's entries, a referrers
// list's referrers), in order; none for an image.
func (m *Manifest) Children() []string {
	if len(m.Manifests) == 0 {
		return nil
	}
	out := make([]string, len(m.Manifests))
	for i, d := range m.Manifests {
		out[i] = d.Digest
	}
	return out
}

// MediaTypeOf returns the mediaType field of body, "" when it has none
// or is not JSON.
func MediaTypeOf(body []byte) string {
	var m Manifest
	_ = json.Unmarshal(body, &m)
	return m.MediaType
}
