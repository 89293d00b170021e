package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/regprune/regprune/internal/cli"
)

// A saved plan whose row a reviewer turned from delete to keep shows that
// row as kept with a keep reason, not "delete: ...", and keeps it.
func TestHandEditedPlanRow(t *testing.T) {
	reg := seededRegistry(t)
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	if err := cli.Run(ctx, []string{"plan", reg.Host + "/ci/app", "--keep-tag", "latest", "--no-cache", "-o", "json"},
		cli.Env{Stdout: &stdout, Stderr: &stderr}); err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr.String())
	}
	var p map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	edited := ""
	for _, it := range p["repositories"].([]any)[0].(map[string]any)["images"].([]any) {
		item := it.(map[string]any)
		if item["action"] == "delete" && edited == "" {
			item["action"] = "keep"
			edited = item["digest"].(string)
		}
	}
	if edited == "" {
		t.Fatal("no delete row to edit")
	}
	b, _ := json.Marshal(p)
	file := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if err := cli.Run(ctx, []string{"apply", "--plan", file, "--no-journal"}, cli.Env{Stdout: &stdout, Stderr: &stderr}); err != nil {
		t.Fatalf("apply --plan: %v\n%s", err, stderr.String())
	}
	row := regexp.MustCompile(`(?m)^  keep +image +` + regexp.QuoteMeta(edited[:len("sha256:")+12]) + `.*$`).FindString(stdout.String())
	if row == "" || !regexp.MustCompile(`kept: the plan file says keep`).MatchString(row) || regexp.MustCompile(` delete: `).MatchString(row) {
		t.Errorf("edited row %q:\n%s", row, stdout.String())
	}
}
