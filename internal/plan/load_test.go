package plan

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/policy"
)

// samplePlan is a small plan of one repository: a kept image with a tag
// to remove and a deleted one.
func samplePlan() *Plan {
	r := RepoPlan{Name: "reg.example/app", Items: []Item{
		{Digest: "sha256:" + strings.Repeat("a", 64), Kind: KindImage, Tags: []string{"1", "latest"}, Action: ActionKeep, Untag: []string{"1"}, Reasons: FromPolicy([]policy.Reason{{Rule: policy.RuleTag, Tag: "latest", Text: "kept: tag latest"}})},
		{Digest: "sha256:" + strings.Repeat("b", 64), Kind: KindImage, Tags: []string{"0|x"}, Action: ActionDelete, Reasons: FromPolicy([]policy.Reason{{Rule: policy.RuleCandidate, Text: "delete: old"}}), Size: 2048},
	}}
	r.Summary = Summary{Images: 2, Keep: 1, Delete: 1, Untag: 1, ReclaimableBytes: 2048}
	return New(ModePlan, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), []RepoPlan{r})
}

func TestLoadRoundTripAndRefusals(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, samplePlan()); err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(b.String(), `"0|x"`, `"old"`, 1) // "0|x" exercises Markdown escaping, not a valid tag
	p, err := Load(strings.NewReader(good), "plan.json")
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if p.Summary.Delete != 1 || p.Repositories[0].Items[0].Untag[0] != "1" {
		t.Fatalf("loaded %+v", p.Summary)
	}
	for name, tc := range map[string]struct{ in, want string }{
		"trailing data": {good + "{}", "data after"},
		"foreign":       {`{"schemaVersion":2}`, `kind ""`},
		"version":       {strings.Replace(good, `"version": 2`, `"version": 9`, 1), "version 9"},
		"bad digest":    {strings.Replace(good, "sha256:"+strings.Repeat("b", 64), "sha256:zz", 1), `"sha256:zz"`},
		"bad action":    {strings.Replace(good, `"action": "delete"`, `"action": "nuke"`, 1), `"nuke"`},
		"syntax":        {"{\n  \"kind\": ,\n}", "line 2, column 11"},
	} {
		_, err := Load(strings.NewReader(tc.in), "plan.json")
		if !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want ErrBadPlan mentioning %q", name, err, tc.want)
		}
	}
}

// contradictionPlan is a plan as regprune writes it: latest (an index of
// a kept child, signed) kept, an old image and its signature deleted.
func contradictionPlan() *Plan {
	d := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	r := RepoPlan{Name: "reg.example/ci/app",
		Tags: map[string]string{"latest": d("a"), "old": d("c"), "sha256-" + strings.Repeat("c", 64) + ".sig": d("d")},
		Items: []Item{
			{Digest: d("a"), Kind: KindImage, Tags: []string{"latest"}, Action: ActionKeep},
			{Digest: d("c"), Kind: KindImage, Tags: []string{"old"}, Action: ActionDelete},
			{Digest: d("d"), Kind: KindSignature, Tags: []string{"sha256-" + strings.Repeat("c", 64) + ".sig"}, Action: ActionDelete, Subject: d("c")},
			{Digest: d("b"), Kind: KindChild, Action: ActionKeep, Parent: d("a")},
		}}
	return New(ModePlan, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), []RepoPlan{r})
}

// Issue 19: a plan file that contradicts itself is refused before
// anything is sent, naming the file, the repository and the digest or
// tag: a kept image listed again for deletion (the edit that made apply
// delete latest), a repository listed twice, a tag on two items or on
// another digest than the file's tags say, and the deletion of a child or
// a signature whose index or subject the file keeps.
func TestLoadRefusesContradictions(t *testing.T) {
	d := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	render := func(p *Plan) string {
		var b bytes.Buffer
		if err := WriteJSON(&b, p); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if _, err := Load(strings.NewReader(render(contradictionPlan())), "plan.json"); err != nil {
		t.Fatalf("the consistent plan: %v", err)
	}
	for name, tc := range map[string]struct {
		edit func(r *RepoPlan, p *Plan)
		want string
	}{
		"kept image listed again to delete": {func(r *RepoPlan, _ *Plan) {
			again := r.Items[0]
			again.Action = ActionDelete
			r.Items = append(r.Items, again)
		}, "plan.json: reg.example/ci/app: digest " + d("a") + " listed twice (images[0] and images[4])"},
		"repository listed twice": {func(_ *RepoPlan, p *Plan) {
			p.Repositories = append(p.Repositories, p.Repositories[0])
			p.Repositories[1].Items = []Item{p.Repositories[0].Items[1]}
		}, "plan.json: repository reg.example/ci/app listed twice (repositories[0] and [1])"},
		"tag on two items": {func(r *RepoPlan, _ *Plan) {
			r.Items[1].Tags = []string{"old", "latest"}
		}, `plan.json: reg.example/ci/app: tag "latest" on two manifests, images[0] (` + d("a") + `) and images[1] (` + d("c") + `)`},
		"tag twice on one item": {func(r *RepoPlan, _ *Plan) {
			r.Items[1].Tags = []string{"old", "old"}
		}, `images[1] (` + d("c") + `): tag "old" listed twice`},
		"tag on another digest than the tags say": {func(r *RepoPlan, _ *Plan) {
			r.Items[0].Tags = nil
			r.Items[1].Tags = []string{"latest"}
		}, `reg.example/ci/app: images[1]: tag "latest" on ` + d("c") + `, but the repository's tags have it on ` + d("a")},
		"child of a kept index deleted": {func(r *RepoPlan, _ *Plan) {
			r.Items[3].Action = ActionDelete
		}, "images[3] deletes " + d("b") + ", but its parent " + d("a") + " is kept (images[0])"},
		"signature of a kept image deleted": {func(r *RepoPlan, _ *Plan) {
			r.Items[1].Action = ActionKeep
		}, "images[2] deletes " + d("d") + ", but its subject " + d("c") + " is kept (images[1])"},
	} {
		p := contradictionPlan()
		tc.edit(&p.Repositories[0], p)
		_, err := Load(strings.NewReader(render(p)), "plan.json")
		if !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v\nwant ErrBadPlan with %q", name, err, tc.want)
		}
	}
}
