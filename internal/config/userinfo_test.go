package config

import (
	"strings"
	"testing"
)

// A password written into a policy file's repository pattern is refused
// and never repeated in the error (issue 19 point 18).
func TestPatternCredentialsNotRepeated(t *testing.T) {
	const pw = "S3cr3t-Pw-77"
	_, err := Parse("policy.yaml", []byte("version: 1\nrules:\n  - repositories: ['bot:"+pw+"@reg.example.com:5000/app']\n    keep: {newest: 1}\n"))
	if err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), `repositories "***@reg.example.com:5000/app": credentials in a repository pattern`) {
		t.Fatalf("Parse: %v", err)
	}
}
