package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

var yamlBlockRE = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestDocsExamples parses every YAML example in docs/policy.md: whole files
// as they are, rule fragments inside a one-rule file.
func TestDocsExamples(t *testing.T) {
	b, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatalf("docs/policy.md is part of the repository: %v", err)
	}
	blocks := yamlBlockRE.FindAllStringSubmatch(string(b), -1)
	if len(blocks) < 10 {
		t.Fatalf("found %d YAML examples", len(blocks))
	}
	for i, m := range blocks {
		text := m[1]
		if !strings.Contains(text, "version: 1") {
			var body strings.Builder
			for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
				body.WriteString("    " + line + "\n")
			}
			text = "version: 1\nrules:\n  - repositories: [reg.example.com/app]\n" + body.String()
		}
		if _, err := Parse("example", []byte(text)); err != nil {
			t.Errorf("example %d:\n%s\n%v", i+1, m[1], err)
		}
	}
}
