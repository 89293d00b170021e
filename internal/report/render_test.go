package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
)

func samplePlan() *plan.Plan {
	r := plan.RepoPlan{Name: "reg.example/app", Items: []plan.Item{
		{Digest: "sha256:" + strings.Repeat("a", 64), Kind: plan.KindImage, Tags: []string{"1", "latest"}, Action: plan.ActionKeep, Untag: []string{"1"}, Reasons: plan.FromPolicy([]policy.Reason{{Rule: policy.RuleTag, Tag: "latest", Text: "kept: tag latest"}})},
		{Digest: "sha256:" + strings.Repeat("b", 64), Kind: plan.KindImage, Tags: []string{"0|x"}, Action: plan.ActionDelete, Reasons: plan.FromPolicy([]policy.Reason{{Rule: policy.RuleCandidate, Text: "delete: old"}}), Size: 2048},
	}}
	r.Summary = plan.Summary{Images: 2, Keep: 1, Delete: 1, Untag: 1, ReclaimableBytes: 2048}
	return plan.New(plan.ModePlan, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), []plan.RepoPlan{r})
}

func TestRenderFormats(t *testing.T) {
	for _, f := range Formats {
		var b bytes.Buffer
		if err := Render(&b, samplePlan(), f); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out := b.String()
		switch f {
		case "json":
			var back plan.Plan
			if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.ReclaimableBytes != 2048 {
				t.Fatalf("json round trip: %v %+v", err, back)
			}
		case "table":
			if !strings.Contains(out, "keep+untag") || !strings.Contains(out, "frees 2.0 KiB") {
				t.Fatalf("table:\n%s", out)
			}
		case "markdown":
			if !strings.Contains(out, "| untag | image |") || !strings.Contains(out, `0\|x`) {
				t.Fatalf("markdown:\n%s", out)
			}
		}
	}
	if err := Render(&bytes.Buffer{}, samplePlan(), "yaml"); err == nil {
		t.Fatal("yaml accepted")
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// An apply report names its run and the restore command in Markdown, HTML
// and the table.
func TestRunLine(t *testing.T) {
	p := &plan.Plan{Mode: plan.ModeApply, RunID: "20261201T150700Z-3fa9c1"}
	for _, format := range []string{"markdown", "html", "table"} {
		var b bytes.Buffer
		if err := Render(&b, p, format); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "run id: 20261201T150700Z-3fa9c1") || !strings.Contains(b.String(), "regprune restore 20261201T150700Z-3fa9c1") {
			t.Errorf("%s report without the run id and restore command:\n%s", format, b.String())
		}
	}
}

// With no ages read, images sort so that builds group: each family of
// tags (52029 and 52031; multi-52030 and multi-52031; v1.2.3 and v1.10.0)
// together, highest first, words last.
func TestRowsGroupBuildsWithoutAges(t *testing.T) {
	var r plan.RepoPlan
	for i, tag := range []string{"v1.2.3", "multi-52031", "latest", "52029", "52031", "multi-52030", "v1.10.0"} {
		r.Items = append(r.Items, plan.Item{Digest: "sha256:" + strings.Repeat(string(rune('a'+i)), 64), Kind: plan.KindImage, Action: plan.ActionDelete, Tags: []string{tag}})
	}
	var got []string
	for _, row := range orderRows(&r) {
		got = append(got, row.Item.Tags[0])
	}
	want := "52031 52029 multi-52031 multi-52030 v1.10.0 v1.2.3 latest"
	if strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}

// After apply, the table claims freed bytes only for deletions done: all
// of them when every planned deletion succeeded, nothing when none did,
// "at least" the deleted manifests' own bytes for a partial apply
// (plan's TestFreedBytes checks the figures).
func TestFreedText(t *testing.T) {
	mk := func(results ...plan.Result) *plan.Plan {
		r := plan.RepoPlan{Name: "reg.example.com/app", Summary: plan.Summary{DeleteManifests: len(results), ReclaimableBytes: 1000}}
		for _, res := range results {
			r.Items = append(r.Items, plan.Item{Digest: "sha256:x", Kind: plan.KindImage, Action: plan.ActionDelete, Size: 100, Result: res})
		}
		r.Capabilities = &plan.Capabilities{Deletes: plan.CapRefused, Notes: []string{"n"}}
		return plan.New(plan.ModeApply, time.Unix(0, 0), []plan.RepoPlan{r})
	}
	for _, c := range []struct {
		results []plan.Result
		text    string
	}{
		{[]plan.Result{plan.ResultFailed, plan.ResultSkipped}, "nothing freed"},
		{[]plan.Result{plan.ResultDeleted, plan.ResultDeleted}, "1000 B for the registry's garbage collector to free"},
		{[]plan.Result{plan.ResultDeleted, plan.ResultFailed}, "at least 100 B"},
	} {
		p := mk(c.results...)
		var b strings.Builder
		if err := Render(&b, p, "table"); err != nil || !strings.Contains(b.String(), c.text) {
			t.Errorf("%v: table lacks %q:\n%s", c.results, c.text, b.String())
		}
	}
}
