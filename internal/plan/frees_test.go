package plan_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
)

// goldenPlan (the plan of internal/report's golden files) is a plan of
// three repositories: CI builds with an image that carries 300 job tags
// and "latest", a multi-arch release with signatures and a shared child,
// and one that could not be read.
func goldenPlan(t *testing.T) *plan.Plan {
	t.Helper()
	keep, err := policy.CompileRegex("release-.*")
	if err != nil {
		t.Fatal(err)
	}
	p := policy.Policy{Keep: policy.Keep{Tags: []string{"latest"}, Regex: []*regexp.Regexp{keep}, Newest: 2}, UntagUnkept: true}

	b := newBuilder()
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
	rel := b.index("release 1", ociIndex, day(20), amd, arm)
	b.tag(rel, "release-1", "900")
	b.sign(rel, "sig")
	oldAmd := b.image("old amd64", day(30))
	old := b.index("old", ociIndex, day(30), oldAmd, arm)
	b.tag(old, "800")
	b.sign(old, "sig")
	ci := build(b, p)
	ci.Rule = "--keep-tag latest --keep-regex 'release-.*' --keep-newest 2 --untag-unkept"
	ci.AgesRead = true

	b2 := &builder{r: graph.NewRepository("127.0.0.1:5000/tools")}
	for i := 1; i <= 3; i++ {
		d := b2.image(fmt.Sprintf("tool %d", i), day(5-i))
		b2.tag(d, fmt.Sprintf("v0.%d.0", i))
	}
	tools := plan.Build(b2.r, policy.Evaluate(b2.r, policy.Policy{Keep: policy.Keep{Tags: []string{"v0.3.0"}}}, now), policy.Policy{})
	tools.Rule = "policy.yaml:3:5"

	broken := plan.Failed("127.0.0.1:5000/secret", fmt.Errorf("GET /v2/secret/tags/list: 401 Unauthorized: UNAUTHORIZED (credentials: anonymous)"))
	broken.Rule = "policy.yaml:3:5"

	out := plan.New(plan.ModePlan, now, []plan.RepoPlan{ci, tools, broken})
	out.Generator = "regprune v1.2.3 (revision 0123456789ab)"
	return out
}

// applied marks the plan's work done, but one deletion skipped and one
// failed.
func applied(p *plan.Plan) *plan.Plan {
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

// The items' Frees add up to each repository's reclaimable bytes, and
// after a partial apply FreedBytes leaves out what was skipped or failed.
func TestFreesAddUp(t *testing.T) {
	p := goldenPlan(t)
	for _, r := range p.Repositories {
		var sum int64
		for _, it := range r.Items {
			sum += it.Frees
		}
		if sum != r.Summary.ReclaimableBytes {
			t.Errorf("%s: frees add up to %d, reclaimable %d", r.Name, sum, r.Summary.ReclaimableBytes)
		}
	}
	a := applied(goldenPlan(t))
	var lost int64
	for _, r := range a.Repositories {
		for _, it := range r.Items {
			if it.Result == plan.ResultSkipped || it.Result == plan.ResultFailed {
				lost += it.Frees
			}
		}
	}
	// A partial apply frees at most what was not lost, and claims something.
	if freed := a.FreedBytes(); lost == 0 || freed <= 0 || freed > a.Summary.ReclaimableBytes-lost {
		t.Errorf("freed %d, reclaimable %d, lost %d", freed, a.Summary.ReclaimableBytes, lost)
	}
}
