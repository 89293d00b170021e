// Package plantest holds the plan that internal/report's golden files
// render (Golden) and its partial apply (Applied), for the tests of
// internal/plan and internal/report; only tests import it.
package plantest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
)

// Now is the golden plan's clock.
var Now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

const (
	ociIndex    = "application/vnd.oci.image.index.v1+json"
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
)

// Golden is a plan of three repositories: CI builds with an image that
// carries 300 job tags and "latest", a multi-arch release with
// signatures and a shared child, and one that could not be read.
func Golden(t testing.TB) *plan.Plan {
	t.Helper()
	keep, err := policy.CompileRegex("release-.*")
	if err != nil {
		t.Fatal(err)
	}
	p := policy.Policy{Keep: policy.Keep{Tags: []string{"latest"}, Regex: []*regexp.Regexp{keep}, Newest: 2}, UntagUnkept: true}

	b := NewBuilder("127.0.0.1:5000/app")
	for i := 1; i <= 6; i++ {
		d := b.Image(fmt.Sprintf("build %d", i), day(10-i))
		b.Tag(d, fmt.Sprint(1000+i))
	}
	last := b.Image("build 7", day(15))
	b.Tag(last, "latest")
	for i := 0; i < 300; i++ {
		b.Tag(last, fmt.Sprint(1100+i))
	}
	amd := b.Image("rel amd64", day(20))
	arm := b.Image("rel arm64", day(20))
	rel := b.Index("release 1", ociIndex, day(20), amd, arm)
	b.Tag(rel, "release-1", "900")
	b.Sign(rel, "sig")
	oldAmd := b.Image("old amd64", day(30))
	old := b.Index("old", ociIndex, day(30), oldAmd, arm)
	b.Tag(old, "800")
	b.Sign(old, "sig")
	ci := plan.Build(b.R, policy.Evaluate(b.R, p, Now), p)
	ci.Rule = "--keep-tag latest --keep-regex 'release-.*' --keep-newest 2 --untag-unkept"
	ci.AgesRead = true

	b2 := NewBuilder("127.0.0.1:5000/tools")
	for i := 1; i <= 3; i++ {
		d := b2.Image(fmt.Sprintf("tool %d", i), day(5-i))
		b2.Tag(d, fmt.Sprintf("v0.%d.0", i))
	}
	tools := plan.Build(b2.R, policy.Evaluate(b2.R, policy.Policy{Keep: policy.Keep{Tags: []string{"v0.3.0"}}}, Now), policy.Policy{})
	tools.Rule = "policy.yaml:3:5"

	broken := plan.Failed("127.0.0.1:5000/secret", fmt.Errorf("GET /v2/secret/tags/list: 401 Unauthorized: UNAUTHORIZED (credentials: anonymous)"))
	broken.Rule = "policy.yaml:3:5"

	out := plan.New(plan.ModePlan, Now, []plan.RepoPlan{ci, tools, broken})
	out.Generator = "regprune v1.2.3 (revision 0123456789ab)"
	return out
}

// Applied marks p's work done, but one deletion skipped and one failed,
// and returns p.
func Applied(p *plan.Plan) *plan.Plan {
	p.Mode = plan.ModeApply
	n := 0
	for ri := range p.Repositories {
		r := &p.Repositories[ri]
		for i := range r.Items {
			it := &r.Items[i]
			switch {
			case it.Action == plan.ActionDelete && n == 1:
				it.Result, it.ResultReason = plan.ResultSkipped, plan.Reason{Code: plan.ReasonTagMoved, Tags: it.Tags[:1], Digest: "sha256:" + strings.Repeat("f", 64)}
				n++
			case it.Action == plan.ActionDelete && n == 2:
				it.Result, it.ResultReason = plan.ResultFailed, plan.Reason{Code: plan.ReasonDeleteFailed, Err: errors.New("DELETE: 500 Internal Server Error")}
				n++
			case it.Action == plan.ActionDelete:
				it.Result = plan.ResultDeleted
				n++
			case len(it.Untag) > 0:
				it.Result = plan.ResultUntagged
			}
		}
	}
	p.Recount()
	return p
}

// Dig is the sha256 digest of name's bytes: a manifest's or blob's
// digest by name.
func Dig(name string) string {
	s := sha256.Sum256([]byte(name))
	return "sha256:" + hex.EncodeToString(s[:])
}

func day(n int) time.Time { return Now.Add(-time.Duration(n) * 24 * time.Hour) }

// Builder makes a graph.Repository, R, by name. The graphs are shaped
// like the ones inventory builds: a referrer is listed under its subject
// in Referrers, and so is a cosign tag's manifest and a referrers
// fallback index together with every artifact it lists.
type Builder struct{ R *graph.Repository }

// NewBuilder starts an empty repository called repo.
func NewBuilder(repo string) *Builder { return &Builder{R: graph.NewRepository(repo)} }

// Image adds an image manifest with a config and one layer of its own
// (named after it) plus any shared blobs.
func (b *Builder) Image(name string, created time.Time, shared ...graph.Blob) string {
	d := Dig(name)
	m := &graph.Manifest{Digest: d, MediaType: ociManifest, Size: 400 + int64(len(name)), CreatedConfig: created}
	m.Blobs = append(m.Blobs, graph.Blob{Digest: Dig(name + "/config"), Size: 300}, graph.Blob{Digest: Dig(name + "/layer"), Size: 10000})
	m.Blobs = append(m.Blobs, shared...)
	b.R.Manifests[d] = m
	return d
}

// Index adds an index of media type mt listing children.
func (b *Builder) Index(name string, mt string, created time.Time, children ...string) string {
	d := Dig(name)
	b.R.Manifests[d] = &graph.Manifest{Digest: d, MediaType: mt, Size: 200 + 100*int64(len(children)), Children: children, CreatedAnnotation: created}
	return d
}

// Tag points tags at d.
func (b *Builder) Tag(d string, tags ...string) {
	for _, t := range tags {
		b.R.Tags[t] = d
	}
}

// Sign adds a cosign artifact tagged sha256-<hex>.<suffix> for subject.
func (b *Builder) Sign(subject, suffix string) string {
	d := b.Artifact("sig "+suffix+" of "+subject, "")
	b.R.Tags[graph.FallbackTag(subject)+"."+suffix] = d
	b.R.AddReferrer(subject, d)
	return d
}

// Refer adds an OCI 1.1 artifact with subject, listed in the subject's
// fallback index (tagged sha256-<hex>), which it creates or extends.
func (b *Builder) Refer(subject, name string) string {
	d := b.Artifact(name, subject)
	b.R.AddReferrer(subject, d)
	ft := graph.FallbackTag(subject)
	var children []string
	if old, ok := b.R.Tags[ft]; ok {
		children = b.R.Manifests[old].Children
		delete(b.R.Manifests, old)
	}
	children = append(slices.Clone(children), d)
	idx := Dig("fallback of " + subject + " " + strings.Join(children, ","))
	b.R.Manifests[idx] = &graph.Manifest{Digest: idx, MediaType: ociIndex, Size: 150 + 100*int64(len(children)), Children: children}
	b.R.Tags[ft] = idx
	// inventory: the fallback index and each artifact it lists.
	refs := b.R.Referrers[subject][:0]
	for _, r := range b.R.Referrers[subject] {
		if _, ok := b.R.Manifests[r]; ok {
			refs = append(refs, r)
		}
	}
	b.R.Referrers[subject] = refs
	b.R.AddReferrer(subject, idx)
	return d
}

// Artifact adds an artifact manifest (with subject, if not "").
func (b *Builder) Artifact(name, subject string) string {
	d := Dig(name)
	b.R.Manifests[d] = &graph.Manifest{
		Digest: d, MediaType: ociManifest, Size: 350, Subject: subject, ArtifactType: "application/vnd.example+json",
		Blobs: []graph.Blob{{Digest: Dig("empty config"), Size: 2}, {Digest: Dig(name + "/payload"), Size: 120}},
	}
	return d
}
