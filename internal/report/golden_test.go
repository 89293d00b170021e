package report

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
)

// Golden files of the outputs people read: the table and Markdown, for a
// plan and for an apply with skipped and failed items. Regenerate with
//
//	go test ./internal/report -run TestGolden -update
//
// and review the diff.
var update = flag.Bool("update", false, "rewrite the golden files of TestGolden")

// goldenPlan is a plan of three repositories: CI builds with an image
// that carries 300 job tags and "latest", a multi-arch release with
// signatures and a shared child, and one that could not be read.
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

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name, format string
		apply        bool
	}{
		{"table", "table", false},
		{"table_apply", "table", true},
		{"markdown", "markdown", false},
		{"markdown_apply", "markdown", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := goldenPlan(t)
			if tc.apply {
				p = applied(p)
			}
			var b bytes.Buffer
			if err := Render(&b, p, tc.format); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s differs from %s (run with -update and review the diff):\n%s", tc.name, path, b.String())
			}
		})
	}
}

// The tag a keep rule named comes first, whatever its order.
func TestOrderedTagsKeepingTagFirst(t *testing.T) {
	it := plan.Item{Action: plan.ActionKeep, Tags: []string{"1004", "zz-1", "alpha", "1003"}, Untag: []string{"1003"},
		Reasons: plan.FromPolicy([]policy.Reason{{Rule: policy.RuleRegex, Tag: "alpha", Text: "kept: tag alpha matches keep regex a.*"}})}
	got := strings.Join(orderedTags(&it), " ")
	if want := "alpha zz-1 1004 1003"; got != want {
		t.Errorf("OrderedTags = %q, want %q", got, want)
	}
	if got, want := tagSummary(&it, 3), "alpha, zz-1, 1004; untag: 1003"; got != want {
		t.Errorf("TagSummary = %q, want %q", got, want)
	}
	many := plan.Item{Action: plan.ActionDelete}
	for i := 1001; i <= 1300; i++ {
		many.Tags = append(many.Tags, fmt.Sprint(i))
	}
	if got, want := tagSummary(&many, 3), "1300, 1299, 1298, … (+297 more)"; got != want {
		t.Errorf("TagSummary = %q, want %q", got, want)
	}
}
