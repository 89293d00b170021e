package report

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
)

// The graph builder of goldenPlan, as internal/plan's tests have it.

var now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

const (
	ociIndex    = "application/vnd.oci.image.index.v1+json"
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
)

func dig(name string) string {
	s := sha256.Sum256([]byte(name))
	return "sha256:" + hex.EncodeToString(s[:])
}

func day(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }

// builder makes graph.Repository values by name.
type builder struct{ r *graph.Repository }

func newBuilder() *builder { return &builder{r: graph.NewRepository("127.0.0.1:5000/app")} }

// image adds an image manifest with a config and one layer of its own
// (named after it).
func (b *builder) image(name string, created time.Time) string {
	d := dig(name)
	m := &graph.Manifest{Digest: d, MediaType: ociManifest, Size: 400 + int64(len(name)), CreatedConfig: created}
	m.Blobs = append(m.Blobs, graph.Blob{Digest: dig(name + "/config"), Size: 300}, graph.Blob{Digest: dig(name + "/layer"), Size: 10000})
	b.r.Manifests[d] = m
	return d
}

func (b *builder) index(name string, mt string, created time.Time, children ...string) string {
	d := dig(name)
	b.r.Manifests[d] = &graph.Manifest{Digest: d, MediaType: mt, Size: 200 + 100*int64(len(children)), Children: children, CreatedAnnotation: created}
	return d
}

func (b *builder) tag(d string, tags ...string) {
	for _, t := range tags {
		b.r.Tags[t] = d
	}
}

// sign adds a cosign artifact tagged sha256-<hex>.<suffix> for subject.
func (b *builder) sign(subject, suffix string) string {
	name := "sig " + suffix + " of " + subject
	d := dig(name)
	b.r.Manifests[d] = &graph.Manifest{
		Digest: d, MediaType: ociManifest, Size: 350, ArtifactType: "application/vnd.example+json",
		Blobs: []graph.Blob{{Digest: dig("empty config"), Size: 2}, {Digest: dig(name + "/payload"), Size: 120}},
	}
	b.r.Tags[graph.FallbackTag(subject)+"."+suffix] = d
	b.r.AddReferrer(subject, d)
	return d
}

func build(b *builder, p policy.Policy) plan.RepoPlan {
	return plan.Build(b.r, policy.Evaluate(b.r, p, now), p)
}
