// Package graph is the repository model shared by inventory (which builds it),
// policy (which decides over it) and plan (which closes and renders it).
//
// It uses the standard library only and does no I/O.
package graph

import (
	"regexp"
	"sort"
	"strings"
	"time"
)

// Blob is a content-addressed blob referenced by an image manifest
// (its config or a layer).
type Blob struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Manifest is one manifest or index stored in a repository, by digest.
type Manifest struct {
	Digest       string
	MediaType    string
	Size         int64 // bytes of the manifest itself
	ArtifactType string

	// Children are the digests an index or manifest list names, in order.
	// Empty for an image manifest.
	Children []string
	// Blobs are the config and layers of an image manifest.
	Blobs []Blob
	// Subject is the OCI subject digest of a referrer, "" otherwise.
	Subject string

	// Build time from each source, zero when that source is absent or
	// pinned to the epoch by a reproducible build (see Known).
	CreatedConfig     time.Time // config "created"
	CreatedLabel      time.Time // config label org.opencontainers.image.created
	CreatedAnnotation time.Time // manifest annotation org.opencontainers.image.created
	// Pushed is when the registry says the manifest was pushed (a vendor
	// API's listing: GitHub's created_at, Docker Hub's tag_last_pushed,
	// GitLab's createdAt);
	// the last resort of an age, after the build times.
	Pushed time.Time

	// Labels and Annotations hold the expiry keys a policy asks for
	// (policy.Delete.ExpiredLabels; inventory.Options.LabelKeys): their
	// values among the image config's labels and the manifest's own
	// annotations. nil when none was asked for or present.
	Labels, Annotations map[string]string
	// Attestations are the children that an index's entries mark as
	// attestation manifests (buildx's vnd.docker.reference.type), which
	// are not platform images.
	Attestations []string
}

// IsIndex reports whether m is an index: its media type is an index
// type (IsIndexType), or it lists children whatever its media type says
// (an unknown type with a manifests array is treated as an index).
func (m *Manifest) IsIndex() bool {
	return IsIndexType(m.MediaType) || len(m.Children) > 0
}

// Repository is everything regprune knows about one repository.
type Repository struct {
	Name string // host[:port]/path
	// Tags maps every tag to the digest it names.
	Tags map[string]string
	// Manifests holds every manifest reachable from a tag, by digest:
	// tagged ones, index children (recursively) and referrers.
	Manifests map[string]*Manifest
	// Referrers maps a subject digest to the digests of its referrers, from
	// the referrers API or its fallback tag, and from subject fields.
	Referrers map[string][]string
	// FallbackRejected maps each referrers fallback tag (sha256-<hex>)
	// whose manifest is not a referrers index of its subject
	// (FallbackProblem) to why. Nothing is decided from such a tag: it
	// links no referrer to its subject, and makes nothing an orphan.
	FallbackRejected map[string]string
	// ReferrersAPI says whether the registry answered the OCI referrers
	// API (true) or regprune read the sha256-<hex> fallback tags (false);
	// ReferrersProbed is false when there was nothing to ask about.
	ReferrersAPI, ReferrersProbed bool
	// VerifiedTags maps each tag that a GET of the tag resolved in this
	// run to the digest of the body it served (hashed, not taken from a
	// header or a cache): apply need not GET those again before deleting.
	// nil when none was.
	VerifiedTags map[string]string
}

// NewRepository returns an empty repository named name.
func NewRepository(name string) *Repository {
	return &Repository{Name: name, Tags: map[string]string{}, Manifests: map[string]*Manifest{}, Referrers: map[string][]string{}, FallbackRejected: map[string]string{}}
}

// AddReferrer records ref as a referrer of subject, once.
func (r *Repository) AddReferrer(subject, ref string) {
	for _, d := range r.Referrers[subject] {
		if d == ref {
			return
		}
	}
	r.Referrers[subject] = append(r.Referrers[subject], ref)
}

// TagsOf returns the sorted tags naming digest.
func (r *Repository) TagsOf(digest string) []string {
	var out []string
	for t, d := range r.Tags {
		if d == digest {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// TagsByDigest inverts Tags, each list sorted.
func (r *Repository) TagsByDigest() map[string][]string {
	out := map[string][]string{}
	for t, d := range r.Tags {
		out[d] = append(out[d], t)
	}
	for _, ts := range out {
		sort.Strings(ts)
	}
	return out
}

var artifactTag = regexp.MustCompile(`^(sha256|sha512)-([0-9a-f]{64}|[0-9a-f]{128})(\.(sig|att|sbom))?$`)

// ArtifactTag reports whether tag is a tag that clients maintain for another
// manifest rather than a name for an image: the referrers fallback tag
// "sha256-<hex>" or a cosign tag "sha256-<hex>.sig|.att|.sbom". It returns
// the subject digest ("sha256:<hex>") and the suffix ("", "sig", "att", "sbom").
func ArtifactTag(tag string) (subject, suffix string, ok bool) {
	m := artifactTag.FindStringSubmatch(tag)
	if m == nil {
		return "", "", false
	}
	return m[1] + ":" + m[2], m[4], true
}

// FallbackTag returns the referrers fallback tag of digest.
func FallbackTag(digest string) string { return strings.Replace(digest, ":", "-", 1) }

// FallbackProblem says why the manifest digest, of media type mediaType
// and listing entries, which the referrers fallback tag of subject names,
// is not a referrers index of subject; "" if it is one. The OCI
// distribution spec (v1.1, "Referrers Tag Schema") makes that tag name
// an OCI image index whose entries are the descriptors of the manifests
// whose subject is subject. So it must be an OCI image index, not subject
// itself (GitLab's registry resolves the tag sha256-<hex> to the manifest
// sha256:<hex>, so a lookup of the tag serves the subject, whose own
// children would pass for its referrers: oras-project/oras-go#1396), and
// every entry the registry has must carry subject in its own subject
// field (subjectOf gives an entry's subject, and false for an entry the
// registry does not have: a stale entry names nothing to keep or delete).
func FallbackProblem(subject, digest, mediaType string, entries []string, subjectOf func(string) (string, bool)) string {
	switch {
	case digest == subject:
		return "it resolves to " + subject + " itself, not to an index of its referrers (GitLab's registry does this)"
	case mediaType != MediaOCIIndex:
		return "it names " + digest + ", a " + orNone(mediaType) + ", not an OCI image index"
	}
	for _, e := range entries {
		s, ok := subjectOf(e)
		if ok && s != subject {
			return "its index " + digest + " lists " + e + ", whose subject is " + orNone(s) + ", not " + subject
		}
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Image is what a tag names: a manifest or an index that at least one
// non-artifact tag points at. Policy counts and ages images only.
type Image struct {
	Digest string
	Tags   []string // its non-artifact tags, sorted
}

// Images returns the repository's images, sorted by digest.
func (r *Repository) Images() []Image {
	by := map[string][]string{}
	for t, d := range r.Tags {
		if _, _, ok := ArtifactTag(t); ok {
			continue
		}
		by[d] = append(by[d], t)
	}
	out := make([]Image, 0, len(by))
	for d, ts := range by {
		sort.Strings(ts)
		out = append(out, Image{Digest: d, Tags: ts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out
}

// AgeSource names where an age came from.
type AgeSource string

// Age sources, in the plan's words.
const (
	AgeFromConfig     AgeSource = "config"
	AgeFromLabel      AgeSource = "label"
	AgeFromAnnotation AgeSource = "annotation"
	AgeFromChildren   AgeSource = "children"
	AgeFromPushed     AgeSource = "pushed"
	AgeUnknown        AgeSource = ""
)

// Known reports whether t is a usable build time: set, and not pinned to
// 1970 by a reproducible build.
func Known(t time.Time) bool { return !t.IsZero() && t.Year() > 1970 }

// Created returns the build time of the manifest digest and its source.
// order lists the sources to try; nil means config, then label, then
// annotation. An index without a time of its own takes the newest time of
// its children. The zero time with AgeUnknown means the age cannot be known.
func (r *Repository) Created(digest string, order []AgeSource) (time.Time, AgeSource) {
	return r.created(digest, order, 0)
}

func (r *Repository) created(digest string, order []AgeSource, depth int) (time.Time, AgeSource) {
	m := r.Manifests[digest]
	if m == nil || depth > 8 {
		return time.Time{}, AgeUnknown
	}
	pushed := order == nil // the default order falls back to the push time
	if order == nil {
		order = []AgeSource{AgeFromConfig, AgeFromLabel, AgeFromAnnotation}
	}
	for _, src := range order {
		var t time.Time
		switch src {
		case AgeFromConfig:
			t = m.CreatedConfig
		case AgeFromLabel:
			t = m.CreatedLabel
		case AgeFromAnnotation:
			t = m.CreatedAnnotation
		}
		if Known(t) {
			return t, src
		}
	}

	var newest time.Time
	for _, c := range m.Children {
		if t, src := r.created(c, order, depth+1); src != AgeUnknown && src != AgeFromPushed && t.After(newest) {
			newest = t
		}
	}
	if Known(newest) {
		return newest, AgeFromChildren
	}
	if pushed && Known(m.Pushed) {
		// No build time (a reproducible build pins it to 1970): the
		// push time a vendor API gave.
		return m.Pushed, AgeFromPushed
	}
	return time.Time{}, AgeUnknown
}
