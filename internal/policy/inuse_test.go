package policy

import (
	"strings"
	"testing"
	"time"
)

// In use wins over every delete rule: by digest, by tag, and through a
// child of an index; it is the first reason, keeps every tag (even with
// untag_unkept) and names its users.
func TestEvaluateInUse(t *testing.T) {
	r := mkRepo(im{"sha256:a", 40, []string{"1001"}}, im{"sha256:b", 30, []string{"1002", "main"}},
		im{"sha256:c", 20, []string{"1003"}}, im{"sha256:d", 10, []string{"1004"}}, im{"sha256:e", 1, []string{"latest"}})
	r.Manifests["sha256:c"].Children = []string{"sha256:c1", "sha256:c2"}
	r.Manifests["sha256:c"].MediaType = "application/vnd.oci.image.index.v1+json"
	p := Policy{Keep: Keep{Tags: []string{"latest"}}, Delete: Delete{OlderThan: 2 * 24 * time.Hour}, UntagUnkept: true}
	in := InUse{
		Digests: map[string][]string{"sha256:a": {"Pod prod/web-1 (context prod)"}, "sha256:c2": {"Pod prod/arm (context prod)"}},
		Tags:    map[string][]string{"1002": {"Deployment prod/web (context prod)", "CronJob prod/nightly (context prod)"}},
	}
	got := map[string]Decision{}
	for _, d := range EvaluateInUse(r, p, in, now) {
		got[d.Digest] = d
	}
	for dg, text := range map[string]string{
		"sha256:a": "kept: in use by Pod prod/web-1 (context prod)",
		"sha256:b": "kept: in use by CronJob prod/nightly (context prod), Deployment prod/web (context prod) (tag 1002)",
		"sha256:c": "kept: in use by Pod prod/arm (context prod) (child sha256:c2)",
	} {
		d := got[dg]
		if !d.Keep || len(d.Reasons) == 0 || d.Reasons[0].Rule != RuleInUse || d.Reasons[0].Text != text {
			t.Errorf("%s: keep %v reasons %v; want kept, first %q", dg, d.Keep, d.Reasons, text)
		}
		if len(d.StaleTags) > 0 {
			t.Errorf("%s: stale tags %v; an image in use keeps every tag", dg, d.StaleTags)
		}
	}
	if d := got["sha256:d"]; d.Keep {
		t.Errorf("sha256:d kept: %v", d.Reasons)
	}
	if d := got["sha256:e"]; !d.Keep || d.Reasons[0].Rule != RuleTag {
		t.Errorf("latest: %v", d.Reasons)
	}
	// Without the in-use set the same policy deletes a, b and c.
	for _, d := range Evaluate(r, p, now) {
		if d.Keep != (d.Digest == "sha256:e") {
			t.Errorf("without in use: %s keep %v", d.Digest, d.Keep)
		}
	}
	many := InUse{Tags: map[string][]string{"1004": {"Pod a/1", "Pod a/2", "Pod a/3", "Pod a/4", "Pod a/5"}}}
	for _, d := range EvaluateInUse(r, p, many, now) {
		if d.Digest == "sha256:d" && !strings.HasSuffix(d.Reasons[0].Text, "and 2 more (tag 1004)") {
			t.Errorf("many users: %q", d.Reasons[0].Text)
		}
	}
}
