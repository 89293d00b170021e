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

	b := newBuilder("127.0.0.1:5000/app")
	for i := 1; i <= 6; i++ {
		d := b.image(fmt.Sprintf("build %d", i), day(10-i))
		b.tag(d, fmt.Sprint(1000+i))
	}
	last := b.image("build 7", day(15))
	b.tag(last, "latest")
	for i := 0; i < 300; i++ {
		b.tag(last, fmt.Sprint(1100+i))
	}
	amd := b.image("rel amd64", day(20))
	arm := b.image("rel arm64", day(20))
	rel := b.index("release 1", day(20), amd, arm)
	b.tag(rel, "release-1", "900")
	b.sign(rel, "sig")
	oldAmd := b.image("old amd64", day(30))
	old := b.index("old", day(30), oldAmd, arm)
	b.tag(old, "800")
	b.sign(old, "sig")
	ci := plan.Build(b.r, policy.Evaluate(b.r, p, Now), p)
	ci.Rule = "--keep-tag latest --keep-regex 'release-.*' --keep-newest 2 --untag-unkept"
	ci.AgesRead = true

	b2 := newBuilder("127.0.0.1:5000/tools")
	for i := 1; i <= 3; i++ {
		d := b2.image(fmt.Sprintf("tool %d", i), day(5-i))
		b2.tag(d, fmt.Sprintf("v0.%d.0", i))
	}
	tools := plan.Build(b2.r, policy.Evaluate(b2.r, policy.Policy{Keep: policy.Keep{Tags: []string{"v0.3.0"}}}, Now), policy.Policy{})
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

func dig(name string) string {
	s := sha256.Sum256([]byte(name))
	return "sha256:" + hex.EncodeToString(s[:])
}

func day(n int) time.Time { return Now.Add(-time.Duration(n) * 24 * time.Hour) }

// builder makes a graph.Repository by name, as internal/plan's tests'
// builder does.
type builder struct{ r *graph.Repository }

func newBuilder(name string) *builder { return &builder{r: graph.NewRepository(name)} }

// image adds an image manifest with a config and one layer of its own
// (named after it).
func (b *builder) image(name string, created time.Time) string {
	d := dig(name)
	m := &graph.Manifest{Digest: d, MediaType: ociManifest, Size: 400 + int64(len(name)), CreatedConfig: created}
	m.Blobs = append(m.Blobs, graph.Blob{Digest: dig(name + "/config"), Size: 300}, graph.Blob{Digest: dig(name + "/layer"), Size: 10000})
	b.r.Manifests[d] = m
	return d
}

// index adds an OCI index of children.
func (b *builder) index(name string, created time.Time, children ...string) string {
	d := dig(name)
	b.r.Manifests[d] = &graph.Manifest{Digest: d, MediaType: ociIndex, Size: 200 + 100*int64(len(children)), Children: children, CreatedAnnotation: created}
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
