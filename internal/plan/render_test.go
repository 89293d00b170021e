package plan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/policy"
)

func samplePlan() *Plan {
	r := Repository{Repository: "reg.example/app", Items: []Item{
		{Digest: "sha256:" + strings.Repeat("a", 64), Kind: KindImage, Tags: []string{"1", "latest"}, Action: ActionKeep, Untag: []string{"1"}, Reasons: FromPolicy([]policy.Reason{{Rule: policy.RuleTag, Tag: "latest", Text: "kept: tag latest"}})},
		{Digest: "sha256:" + strings.Repeat("b", 64), Kind: KindImage, Tags: []string{"0|x"}, Action: ActionDelete, Reasons: FromPolicy([]policy.Reason{{Rule: policy.RuleCandidate, Text: "delete: old"}}), Size: 2048},
	}}
	r.Summary = Summary{Images: 2, Keep: 1, Delete: 1, Untag: 1, ReclaimableBytes: 2048}
	return New(ModePlan, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), []Repository{r})
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
			var back Plan
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
