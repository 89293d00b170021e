package config

import (
	"errors"
	"strings"
	"testing"
)

// Every mistake of a policy file is reported in one pass, in file order:
// several in one rule (values and keys alike), and in several rules.
func TestAllErrorsAtOnce(t *testing.T) {
	const file = `version: 1
rules:
  - repositories: [reg.example.com/app]
    keep: {regex: ["v[0-9"], newset: 3, tags: ["a*"]}
    delete: {older_than: 30}
    age_from: built
  - repositories: ["http://reg.example.com/x"]
    keep:
      newest: 0
      semver: {newest: 2, per: patch}
    delete:
      regex: ["("]
  - repositories: [reg.example.com/ok]
    keep: {newest: 2}
    untag_unkept: maybe
    delete: {older_than: 2x}
`
	_, err := Parse("policy.yaml", []byte(file))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v", err)
	}
	want := []string{
		`policy.yaml:4:20: keep.regex "v[0-9": missing closing ]`,
		`policy.yaml:4:30: keep.newset: unknown key`,
		`policy.yaml:4:48: keep.tags "a*": not a valid tag name`,
		`policy.yaml:5:26: delete.older_than "30": `,
		`policy.yaml:6:15: age_from "built": `,
		`policy.yaml:7:20: repositories "http://reg.example.com/x": `,
		`policy.yaml:9:15: keep.newest "0": must be at least 1`,
		`policy.yaml:10:32: keep.semver.per "patch": `,
		`policy.yaml:12:15: delete.regex "(": missing closing )`,
		`policy.yaml:15:19: untag_unkept: want true or false`,
		`policy.yaml:16:26: delete.older_than "2x": `,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d:\n got %s\nwant %s…", i+1, lines[i], w)
		}
	}
}
