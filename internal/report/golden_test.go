package report

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/plan/plantest"
	"github.com/regprune/regprune/internal/policy"
)

// Golden files of the outputs people read: the table and Markdown, for a
// plan and for an apply with skipped and failed items. Regenerate with
//
//	go test ./internal/report -run TestGolden -update
//
// and review the diff.
var update = flag.Bool("update", false, "rewrite the golden files of TestGolden")

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
			p := plantest.Golden(t)
			if tc.apply {
				p = plantest.Applied(p)
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
