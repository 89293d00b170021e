package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/policy"
	"go.yaml.in/yaml/v3"
)

// rule1 wraps the body of one rule (indented by four spaces) in a valid
// file: the body starts on line 3, column 5.
func rule1(body string) string {
	return "version: 1\nrules:\n  - repositories: [reg.example.com/app]\n" + body
}

type errCase struct {
	name  string
	yaml  string
	want  string // the exact error text
	empty bool   // wraps policy.ErrEmptyPolicy too
}

var errCases = []errCase{
	// Regular expressions.
	{"keep regex unclosed", rule1("    keep: {regex: ['v[0-9]+', 'a(']}\n"),
		`policy.yaml:4:31: keep.regex "a(": missing closing )`, false},
	{"delete regex bad range", rule1("    delete:\n      regex:\n        - '[z-a]'\n"),
		`policy.yaml:6:11: delete.regex "[z-a]": invalid character class range: z-a`, false},
	{"regex escaping its anchors", rule1("    delete: {regex: ['a)|(b']}\n"),
		`policy.yaml:4:22: delete.regex "a)|(b": unexpected )`, false},
	{"empty regex", rule1("    keep: {regex: ['']}\n"),
		`policy.yaml:4:20: keep.regex: empty regular expression`, false},
	{"bad repeat", rule1("    keep: {regex: ['a{2000}']}\n"),
		`policy.yaml:4:20: keep.regex "a{2000}": invalid repeat count: {2000}`, false},
	{"group regex without capture", rule1("    keep:\n      group: {regex: 'main-[0-9]+', newest: 3}\n"),
		`policy.yaml:5:22: keep.group.regex "main-[0-9]+": has no capture group; its first capture names the group, e.g. (.+)-[0-9]+`, false},
	{"group regex non-capturing only", rule1("    keep:\n      group: {regex: '(?:main)-[0-9]+', newest: 3}\n"),
		`policy.yaml:5:22: keep.group.regex "(?:main)-[0-9]+": has no capture group; its first capture names the group, e.g. (.+)-[0-9]+`, false},
	{"group regex missing", rule1("    keep:\n      group: {newest: 3}\n"),
		`policy.yaml:5:14: keep.group.regex: missing or empty; give a regular expression whose first capture group names the group, e.g. (.+)-[0-9]+`, false},
	{"group regex bad", rule1("    keep:\n      group: {regex: '(+)', newest: 3}\n"),
		`policy.yaml:5:22: keep.group.regex "(+)": missing argument to repetition operator: +`, false},

	// Durations.
	{"bad duration unit", rule1("    keep: {newer_than: 14x}\n"),
		`policy.yaml:4:24: keep.newer_than "14x": unknown unit "x" (want ns, us, ms, s, m, h, d or w)`, false},
	{"duration without unit", rule1("    delete: {older_than: 30}\n"),
		`policy.yaml:4:26: delete.older_than "30": want a number and a unit (s, m, h, d, w), as in 36h, 30d or 2w`, false},
	{"zero duration", rule1("    delete: {older_than: 0d}\n"),
		`policy.yaml:4:26: delete.older_than "0d": must be positive`, false},
	{"negative duration", rule1("    delete: {older_than: -5d}\n"),
		`policy.yaml:4:26: delete.older_than "-5d": want a number and a unit (s, m, h, d, w), as in 36h, 30d or 2w`, false},
	{"duration over 100 years", rule1("    delete: {older_than: 999999d}\n"),
		`policy.yaml:4:26: delete.older_than "999999d": is longer than 100 years`, false},
	{"duration overflowing hours", rule1("    delete: {older_than: 99999999999h}\n"),
		`policy.yaml:4:26: delete.older_than "99999999999h": is longer than 100 years`, false},
	{"empty duration", rule1("    delete: {older_than: ''}\n"),
		`policy.yaml:4:26: delete.older_than: is empty`, false},
	{"null duration", rule1("    delete:\n      older_than:\n"),
		`policy.yaml:5:18: delete.older_than: want a duration such as 30d, got nothing (null)`, false},

	// Unknown keys.
	{"unknown top-level key", "version: 1\nrule:\n  - repositories: [reg.example.com/app]\n",
		`policy.yaml:2:1: rule: unknown key; valid keys at the top level: version, registries, rules, strict, in_use`, false},
	{"unknown rule key", rule1("    keeps: {newest: 3}\n"),
		`policy.yaml:4:5: keeps: unknown key; valid keys in a rule: repositories, keep, delete, allow_empty, age_from, untag_unkept, delete_orphan_artifacts`, false},
	{"unknown keep key", rule1("    keep:\n      newset: 3\n"),
		`policy.yaml:5:7: keep.newset: unknown key; valid keys in keep: tags, regex, newest, newer_than, semver, group`, false},
	{"unknown delete key", rule1("    delete: {older: 30d}\n"),
		`policy.yaml:4:14: delete.older: unknown key; valid keys in delete: regex, older_than, expired_labels, expiry_labels`, false},
	{"unknown semver key", rule1("    keep: {semver: {newest: 2, by: minor}}\n"),
		`policy.yaml:4:32: keep.semver.by: unknown key; valid keys in keep.semver: newest, per`, false},
	{"unknown group key", rule1("    keep: {group: {regex: '(.+)-1', keep: 2}}\n"),
		`policy.yaml:4:37: keep.group.keep: unknown key; valid keys in keep.group: regex, newest`, false},
	{"merge key", "version: 1\nbase: &b {newest: 1}\nrules:\n  - repositories: [reg.example.com/app]\n    keep: {<<: *b}\n",
		`policy.yaml:2:1: base: unknown key; valid keys at the top level: version, registries, rules, strict, in_use`, false},
	{"merge key in keep", rule1("    keep: {<<: {newest: 1}}\n"),
		`policy.yaml:4:12: keep.<<: merge keys are not supported; use an alias for a whole block (keep: *standard)`, false},

	// Types.
	{"newest not a number", rule1("    keep: {newest: five}\n"),
		`policy.yaml:4:20: keep.newest: want an integer, got the string "five"`, false},
	{"newest a quoted number", rule1("    keep: {newest: '5'}\n"),
		`policy.yaml:4:20: keep.newest: want an integer, got the string "5"`, false},
	{"newest a list", rule1("    keep: {newest: [5]}\n"),
		`policy.yaml:4:20: keep.newest: want an integer, got a list`, false},
	{"newest a float", rule1("    keep: {newest: 2.5}\n"),
		`policy.yaml:4:20: keep.newest: want an integer, got the number 2.5`, false},
	{"newest overflowing", rule1("    keep: {newest: 99999999999999999999999}\n"),
		`policy.yaml:4:20: keep.newest: want an integer, got the number 99999999999999999999999`, false},
	{"keep a list", rule1("    keep: [latest]\n"),
		`policy.yaml:4:11: keep: want a mapping of keep rules (keys: tags, regex, newest, newer_than, semver, group), got a list`, false},
	{"tags a string", rule1("    keep: {tags: latest}\n"),
		`policy.yaml:4:18: keep.tags: want a list of tag names, got the string "latest"`, false},
	{"tag a mapping", rule1("    keep: {tags: [{a: b}]}\n"),
		`policy.yaml:4:19: keep.tags: want tag names, got a mapping`, false},
	{"allow_empty a string", rule1("    keep: {newest: 1}\n    allow_empty: 'yes'\n"),
		`policy.yaml:5:18: allow_empty: want true or false, got the string "yes"`, false},
	{"untag_unkept a number", rule1("    keep: {tags: [latest]}\n    untag_unkept: 1\n"),
		`policy.yaml:5:19: untag_unkept: want true or false, got the integer 1`, false},
	{"repositories a string", "version: 1\nrules:\n  - repositories: reg.example.com/app\n    keep: {newest: 1}\n",
		`policy.yaml:3:19: repositories: want a list of repository patterns, got the string "reg.example.com/app"`, false},
	{"rules a mapping", "version: 1\nrules:\n  repositories: [reg.example.com/app]\n",
		`policy.yaml:3:3: rules: want a list of rules, got a mapping`, false},
	{"rule a string", "version: 1\nrules:\n  - reg.example.com/app\n",
		`policy.yaml:3:5: rules: want a rule (a mapping with keys: repositories, keep, delete, allow_empty, age_from, untag_unkept, delete_orphan_artifacts), got the string "reg.example.com/app"`, false},
	{"file a list", "- version: 1\n",
		`policy.yaml:1:1: want the policy file (keys: version, registries, rules, strict, in_use), got a list`, false},
	{"semver a number", rule1("    keep: {semver: 2}\n"),
		`policy.yaml:4:20: keep.semver: want a mapping (keys: newest, per), got the integer 2`, false},
	{"complex key", rule1("    keep: {[a]: 1}\n"),
		`policy.yaml:4:12: keep: a key must be a plain name, got a list`, false},

	// Counts.
	{"negative newest", rule1("    keep: {newest: -1}\n"),
		`policy.yaml:4:20: keep.newest "-1": must be at least 1 (leave the key out to keep no newest images)`, false},
	{"newest zero", rule1("    keep: {newest: 0}\n"),
		`policy.yaml:4:20: keep.newest "0": must be at least 1 (leave the key out to keep no newest images)`, false},
	{"semver newest zero", rule1("    keep: {semver: {newest: 0, per: minor}}\n"),
		`policy.yaml:4:29: keep.semver.newest "0": must be at least 1`, false},
	{"semver newest missing", rule1("    keep: {semver: {per: minor}}\n"),
		`policy.yaml:4:20: keep.semver: newest is missing; say how many versions of each line to keep, e.g. {newest: 2, per: minor}`, false},
	{"group newest negative", rule1("    keep: {group: {regex: '(.+)-1', newest: -3}}\n"),
		`policy.yaml:4:45: keep.group.newest "-3": must be at least 1`, false},
	{"group newest missing", rule1("    keep: {group: {regex: '(.+)-1'}}\n"),
		`policy.yaml:4:19: keep.group: newest is missing; say how many images of each group to keep, e.g. {regex: '(.+)-[0-9]+', newest: 3}`, false},

	// Version.
	{"version missing", "rules:\n  - repositories: [reg.example.com/app]\n    keep: {newest: 1}\n",
		`policy.yaml:1:1: version: missing; a policy file starts with "version: 1"`, false},
	{"version 2", "version: 2\nrules:\n  - repositories: [reg.example.com/app]\n    keep: {newest: 1}\n",
		`policy.yaml:1:10: version "2": unsupported version; this regprune reads version 1`, false},
	{"version a string", "version: '1'\nrules: []\n",
		`policy.yaml:1:10: version: want an integer, got the string "1"`, false},
	{"version 1.0", "version: 1.0\nrules: []\n",
		`policy.yaml:1:10: version: want an integer, got the number 1.0`, false},

	// Duplicates.
	{"duplicate top-level key", "version: 1\nversion: 1\nrules: []\n",
		`policy.yaml:2:1: version: duplicate key (first at line 1, column 1)`, false},
	{"duplicate keep key", rule1("    keep:\n      newest: 3\n      tags: [a]\n      newest: 4\n"),
		`policy.yaml:7:7: keep.newest: duplicate key (first at line 5, column 7)`, false},
	{"duplicate rule key", rule1("    keep: {newest: 1}\n    repositories: [reg.example.com/other]\n"),
		`policy.yaml:5:5: repositories: duplicate key (first at line 3, column 5)`, false},

	// Rules and repositories.
	{"rules missing", "version: 1\n",
		`policy.yaml:1:1: rules: missing; list at least one rule`, false},
	{"rules empty", "version: 1\nrules: []\n",
		`policy.yaml:2:8: rules: empty; list at least one rule`, false},
	{"repositories empty", "version: 1\nrules:\n  - repositories: []\n    keep: {newest: 1}\n",
		`policy.yaml:3:19: repositories: missing or empty; list the repository patterns this rule applies to, e.g. [registry.example.com/team/**]`, false},
	{"repositories missing", "version: 1\nrules:\n  - keep: {newest: 1}\n",
		`policy.yaml:3:5: repositories: missing or empty; list the repository patterns this rule applies to, e.g. [registry.example.com/team/**]`, false},
	{"pattern without host", "version: 1\nrules:\n  - repositories: [reg.example.com/a, team/app]\n    keep: {newest: 1}\n",
		`policy.yaml:3:39: repositories "team/app": "team" is not a registry host: a pattern starts with the registry, e.g. registry.example.com/team/app`, false},
	{"pattern with scheme", "version: 1\nrules:\n  - repositories: ['https://reg.example.com/app']\n    keep: {newest: 1}\n",
		`policy.yaml:3:20: repositories "https://reg.example.com/app": no scheme allowed: write reg.example.com/app, not https://reg.example.com/app`, false},
	{"pattern with wildcard host", "version: 1\nrules:\n  - repositories: ['*.example.com/app']\n    keep: {newest: 1}\n",
		`policy.yaml:3:20: repositories "*.example.com/app": the registry host "*.example.com" must be literal; wildcards match path segments only`, false},
	{"pattern host only", "version: 1\nrules:\n  - repositories: [reg.example.com]\n    keep: {newest: 1}\n",
		`policy.yaml:3:20: repositories "reg.example.com": no repository path after the registry host; write reg.example.com/** for every repository of reg.example.com`, false},
	{"pattern trailing slash", "version: 1\nrules:\n  - repositories: [reg.example.com/app/]\n    keep: {newest: 1}\n",
		`policy.yaml:3:20: repositories "reg.example.com/app/": empty path segment (a doubled or trailing "/")`, false},
	{"pattern upper case", "version: 1\nrules:\n  - repositories: [reg.example.com/App]\n    keep: {newest: 1}\n",
		`policy.yaml:3:20: repositories "reg.example.com/App": segment "App": repository names are lowercase`, false},
	{"pattern partial double star", "version: 1\nrules:\n  - repositories: ['reg.example.com/a**']\n    keep: {newest: 1}\n",
		`policy.yaml:3:20: repositories "reg.example.com/a**": segment "a**": "**" must be a whole path segment`, false},

	// Other values.
	{"bad age_from", rule1("    keep: {newest: 1}\n    age_from: pushed\n"),
		`policy.yaml:5:15: age_from "pushed": want created, label or annotation (or leave it out to try them in that order)`, false},
	{"semver per patch", rule1("    keep: {semver: {newest: 2, per: patch}}\n"),
		`policy.yaml:4:37: keep.semver.per "patch": want major or minor (or leave it out to rank all versions together)`, false},
	{"keep tag with a glob", rule1("    keep: {tags: [latest, 'v1.*']}\n"),
		`policy.yaml:4:27: keep.tags "v1.*": not a valid tag name (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-'); use keep.regex for patterns`, false},

	// Empty policies.
	{"rule with repositories only", rule1(""),
		`policy.yaml:3:5: rule keeps nothing and deletes nothing: no keep rule and no delete filter given: refusing to treat an empty policy as 'delete everything'`, true},
	{"rule with empty blocks", rule1("    keep: {}\n    delete:\n    allow_empty: true\n"),
		`policy.yaml:3:5: rule keeps nothing and deletes nothing: no keep rule and no delete filter given: refusing to treat an empty policy as 'delete everything'`, true},
	{"second rule empty", rule1("    keep: {newest: 1}\n  - repositories: [reg.example.com/b]\n    keep: {tags: []}\n"),
		`policy.yaml:5:5: rule keeps nothing and deletes nothing: no keep rule and no delete filter given: refusing to treat an empty policy as 'delete everything'`, true},

	// Documents.
	{"empty file", "",
		`policy.yaml:1:1: empty policy file; it starts with "version: 1" and lists "rules:"`, false},
	{"comments only", "# nothing yet\n",
		`policy.yaml:1:1: empty policy file; it starts with "version: 1" and lists "rules:"`, false},
	{"null document", "~\n",
		`policy.yaml:1:1: empty policy file; it starts with "version: 1" and lists "rules:"`, false},
	{"two documents", rule1("    keep: {newest: 1}\n---\nversion: 1\n"),
		`policy.yaml:5:1: a second YAML document; a policy file holds exactly one`, false},
	{"syntax error", "version: 1\nrules:\n  - repositories: [reg.example.com/app\n",
		`policy.yaml:3: YAML: did not find expected ',' or ']'`, false},
	{"tab indentation", "version: 1\nrules:\n\t- repositories: []\n",
		`policy.yaml:3: YAML: found character that cannot start any token`, false},
	{"sequence item in a mapping", "version: 1\nrules: []\n- x\n",
		`policy.yaml:3: YAML: did not find expected key`, false},
	{"unclosed flow sequence", "version: 1\nrules: [1, 2\nother: 3\n",
		`policy.yaml:2: YAML: did not find expected ',' or ']'`, false},
	{"mapping value in a scalar", "version: 1\nrules: a: b\n",
		`policy.yaml:2: YAML: mapping values are not allowed in this context`, false},
	{"unterminated quote", "version: 1\nrules: ['a\n",
		`policy.yaml:2: YAML: found unexpected end of stream`, false},
	{"undefined alias", "version: 1\nrules: *nope\n",
		`policy.yaml: YAML: unknown anchor 'nope' referenced`, false},

	// Expiry labels.
	{"expiry labels without expired_labels", rule1("    keep: {tags: [latest]}\n    delete: {expiry_labels: [com.example.ttl]}\n"),
		`policy.yaml:5:29: delete.expiry_labels: read only with expired_labels: true (--expire-by-label); add it, or leave the key out`, false},
	{"expiry label with a space", rule1("    delete:\n      expired_labels: true\n      expiry_labels: [ok, 'a b']\n"),
		`policy.yaml:6:27: delete.expiry_labels "a b": a key has no spaces or control characters`, false},
	{"expiry label empty", rule1("    delete: {expired_labels: true, expiry_labels: ['']}\n"),
		`policy.yaml:4:52: delete.expiry_labels: empty key`, false},
	{"expired_labels not a bool", rule1("    delete: {expired_labels: yes please}\n"),
		`policy.yaml:4:30: delete.expired_labels: want true or false, got the string "yes please"`, false},
	{"expired_labels false alone", rule1("    delete: {expired_labels: false}\n"),
		`policy.yaml:3:5: rule keeps nothing and deletes nothing: no keep rule and no delete filter given: refusing to treat an empty policy as 'delete everything'`, true},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("policy.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("no error; config %+v", c)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid")
			}
			if got := errors.Is(err, policy.ErrEmptyPolicy); got != tc.empty {
				t.Errorf("errors.Is(err, ErrEmptyPolicy) = %v, want %v", got, tc.empty)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("not a *FieldError: %T", err)
			}
		})
	}
}

const fullExample = `# A policy with every key.
version: 1
rules:
  - repositories: ["registry.example.com/libinput/libinput/**", "registry.example.com:5000/ci/*"]
    keep:
      tags: [latest, stable]
      regex: ['v[0-9]+\.[0-9]+\.[0-9]+']
      newest: 5
      newer_than: 14d
      semver: {newest: 2, per: minor}
      group: {regex: '(.+)-[0-9]+', newest: 3}
    delete:
      regex: ['[0-9]+', 'main-.*']
      older_than: 30d
    allow_empty: false
    age_from: created
  - repositories:
      - localhost:5000/app
    keep:
      newest: 1
    delete:
      older_than: 2w
    allow_empty: true
    age_from: label
    untag_unkept: true
`

func TestParseFullExample(t *testing.T) {
	c, err := Parse("policy.yaml", []byte(fullExample))
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != "policy.yaml" || len(c.Rules) != 2 {
		t.Fatalf("source %q, %d rules", c.Source, len(c.Rules))
	}
	r := c.Rules[0]
	if r.Source != "policy.yaml:4:5" {
		t.Errorf("rule source %q", r.Source)
	}
	var pats []string
	for _, p := range r.Patterns {
		pats = append(pats, p.String())
	}
	if !reflect.DeepEqual(pats, []string{"registry.example.com/libinput/libinput/**", "registry.example.com:5000/ci/*"}) {
		t.Errorf("patterns %q", pats)
	}
	p := r.Policy
	if !reflect.DeepEqual(p.Keep.Tags, []string{"latest", "stable"}) {
		t.Errorf("keep tags %q", p.Keep.Tags)
	}
	if len(p.Keep.Regex) != 1 || !p.Keep.Regex[0].MatchString("v1.2.3") || p.Keep.Regex[0].MatchString("v1.2.3-rc") {
		t.Errorf("keep regex %v", p.Keep.Regex)
	}
	if p.Keep.Newest != 5 || p.Keep.NewerThan != 14*24*time.Hour {
		t.Errorf("newest %d newer than %v", p.Keep.Newest, p.Keep.NewerThan)
	}
	if *p.Keep.Semver != (policy.Semver{Newest: 2, Per: "minor"}) {
		t.Errorf("semver %+v", p.Keep.Semver)
	}
	if g := p.Keep.Group; g.Newest != 3 || g.Regex.FindStringSubmatch("main-12")[1] != "main" {
		t.Errorf("group %+v", g)
	}
	if len(p.Delete.Regex) != 2 || !p.Delete.Regex[0].MatchString("123") || p.Delete.Regex[0].MatchString("a123") {
		t.Errorf("delete regex %v", p.Delete.Regex)
	}
	if p.Delete.OlderThan != 30*24*time.Hour || p.AllowEmpty || p.UntagUnkept {
		t.Errorf("older than %v allow empty %v", p.Delete.OlderThan, p.AllowEmpty)
	}
	if !reflect.DeepEqual(p.AgeFrom, []graph.AgeSource{graph.AgeFromConfig}) {
		t.Errorf("age from %v", p.AgeFrom)
	}
	if err := p.Validate(); err != nil {
		t.Error(err)
	}

	r2 := c.Rules[1]
	if r2.Source != "policy.yaml:17:5" || !r2.Policy.AllowEmpty || r2.Policy.Delete.OlderThan != 14*24*time.Hour ||
		!reflect.DeepEqual(r2.Policy.AgeFrom, []graph.AgeSource{graph.AgeFromLabel}) || r2.Policy.Keep.Newest != 1 || !r2.Policy.UntagUnkept {
		t.Errorf("second rule %+v", r2)
	}
}

func TestParseValidVariants(t *testing.T) {
	cases := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{"age_from annotation", rule1("    keep: {newest: 1}\n    age_from: annotation\n"), func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(c.Rules[0].Policy.AgeFrom, []graph.AgeSource{graph.AgeFromAnnotation}) {
				t.Errorf("age from %v", c.Rules[0].Policy.AgeFrom)
			}
		}},
		{"age_from absent is the default order", rule1("    keep: {newest: 1}\n"), func(t *testing.T, c *Config) {
			if c.Rules[0].Policy.AgeFrom != nil {
				t.Errorf("age from %v", c.Rules[0].Policy.AgeFrom)
			}
		}},
		{"tags keep their spelling", rule1("    keep: {tags: [1.10, 2.0, true, 007]}\n"), func(t *testing.T, c *Config) {
			if got := c.Rules[0].Policy.Keep.Tags; !reflect.DeepEqual(got, []string{"1.10", "2.0", "true", "007"}) {
				t.Errorf("tags %q", got)
			}
		}},
		{"delete only", rule1("    delete: {regex: ['pr-.*']}\n"), func(t *testing.T, c *Config) {
			if len(c.Rules[0].Policy.Delete.Regex) != 1 || c.Rules[0].Policy.Keep.Newest != 0 {
				t.Errorf("%+v", c.Rules[0].Policy)
			}
		}},
		{"semver overall", rule1("    keep: {semver: {newest: 3}}\n"), func(t *testing.T, c *Config) {
			if s := c.Rules[0].Policy.Keep.Semver; s.Newest != 3 || s.Per != "" {
				t.Errorf("semver %+v", s)
			}
		}},
		{"null keep block with a delete filter", rule1("    keep:\n    delete: {older_than: 1w}\n"), func(t *testing.T, c *Config) {
			if c.Rules[0].Policy.Delete.OlderThan != 7*24*time.Hour {
				t.Errorf("%+v", c.Rules[0].Policy)
			}
		}},
		{"aliases share blocks", "version: 1\nrules:\n  - repositories: [reg.example.com/a]\n    keep: &std {newest: 4, tags: [latest]}\n  - repositories: [reg.example.com/b]\n    keep: *std\n", func(t *testing.T, c *Config) {
			if c.Rules[1].Policy.Keep.Newest != 4 || c.Rules[1].Policy.Keep.Tags[0] != "latest" {
				t.Errorf("%+v", c.Rules[1].Policy)
			}
		}},
		{"hex and underscore integers", rule1("    keep: {newest: 0x10}\n"), func(t *testing.T, c *Config) {
			if c.Rules[0].Policy.Keep.Newest != 16 {
				t.Errorf("newest %d", c.Rules[0].Policy.Keep.Newest)
			}
		}},
		{"expired labels alone are a rule", rule1("    delete: {expired_labels: true, expiry_labels: [com.example.ttl]}\n"), func(t *testing.T, c *Config) {
			p := c.Rules[0].Policy
			if !p.Delete.ExpiredLabels || !reflect.DeepEqual(p.ExpiryKeys(), []string{policy.DefaultExpiryLabel, "com.example.ttl"}) {
				t.Errorf("%+v", p.Delete)
			}
		}},
		{"document marker", "---\n" + rule1("    keep: {newest: 1}\n"), func(t *testing.T, c *Config) {
			if c.Rules[0].Source != "policy.yaml:4:5" {
				t.Errorf("source %q", c.Rules[0].Source)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("policy.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestAliasErrorPointsAtTheAnchor(t *testing.T) {
	y := "version: 1\nrules:\n  - repositories: [reg.example.com/a]\n    keep: &std {newest: 0}\n  - repositories: [reg.example.com/b]\n    keep: *std\n"
	_, err := Parse("p.yaml", []byte(y))
	if err == nil || err.Error() != `p.yaml:4:25: keep.newest "0": must be at least 1 (leave the key out to keep no newest images)` {
		t.Fatalf("error %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(fullExample), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != path || c.Rules[0].Source != path+":4:5" {
		t.Errorf("sources %q %q", c.Source, c.Rules[0].Source)
	}
	if err := os.WriteFile(path, []byte("version: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.HasPrefix(err.Error(), path+":1:10: ") || !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v", err)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if err == nil || errors.Is(err, ErrInvalid) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestDecode(t *testing.T) {
	f, err := Decode("p.yaml", []byte(fullExample))
	if err != nil {
		t.Fatal(err)
	}
	want := RuleSpec{
		Repositories: []string{"localhost:5000/app"},
		Keep:         KeepSpec{Newest: intp(1)},
		Delete:       DeleteSpec{OlderThan: "2w"},
		AllowEmpty:   true,
		AgeFrom:      "label",
		UntagUnkept:  true,
	}
	got := f.Rules[1]
	got.pos = nil
	if f.Version != 1 || !reflect.DeepEqual(got, want) {
		t.Errorf("rule 2 %+v, want %+v", got, want)
	}
	if s := f.Rules[0].Keep; s.Semver.Per != "minor" || s.Group.Regex != "(.+)-[0-9]+" || s.NewerThan != "14d" {
		t.Errorf("rule 1 keep %+v", s)
	}
}

func intp(n int) *int { return &n }

func TestFromSpec(t *testing.T) {
	r, err := FromSpec("flags", RuleSpec{
		Repositories: []string{"reg.example.com/app"},
		Keep:         KeepSpec{Tags: []string{"latest"}, Newest: intp(3), Semver: &SemverSpec{Newest: 1, Per: "major"}},
		Delete:       DeleteSpec{OlderThan: "30d"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Source != "flags" || r.Policy.Keep.Newest != 3 || r.Policy.Delete.OlderThan != 30*24*time.Hour || r.Policy.Keep.Semver.Per != "major" {
		t.Errorf("rule %+v", r)
	}
	if !r.Matches("reg.example.com/app") || r.Matches("reg.example.com/other") {
		t.Errorf("patterns %v", r.Patterns)
	}

	flagName := map[string]string{
		"keep.regex": "--keep-regex", "keep.newest": "--keep-newest", "delete.older_than": "--older-than",
		"repositories": "--repo", "keep.semver.per": "--keep-semver-per", "keep.group.newest": "--keep-group-newest",
	}
	base := func() RuleSpec {
		return RuleSpec{Repositories: []string{"reg.example.com/app"}, Keep: KeepSpec{Tags: []string{"latest"}}}
	}
	cases := []struct {
		name  string
		mod   func(*RuleSpec)
		field string
		value string
		err   string // Error()
		named string // Named(flag)
		empty bool
	}{
		{"bad regex", func(s *RuleSpec) { s.Keep.Regex = []string{"ok", "a("} }, "keep.regex", "a(",
			`flags: keep.regex "a(": missing closing )`, `--keep-regex "a(": missing closing )`, false},
		{"zero newest", func(s *RuleSpec) { s.Keep.Newest = intp(0) }, "keep.newest", "0",
			`flags: keep.newest "0": must be at least 1 (leave the key out to keep no newest images)`, `--keep-newest "0": must be at least 1 (leave the key out to keep no newest images)`, false},
		{"bad duration", func(s *RuleSpec) { s.Delete.OlderThan = "30" }, "delete.older_than", "30",
			`flags: delete.older_than "30": want a number and a unit (s, m, h, d, w), as in 36h, 30d or 2w`, `--older-than "30": want a number and a unit (s, m, h, d, w), as in 36h, 30d or 2w`, false},
		{"bad pattern", func(s *RuleSpec) { s.Repositories = []string{"app"} }, "repositories", "app",
			`flags: repositories "app": "app" is not a registry host: a pattern starts with the registry, e.g. registry.example.com/app`, `--repo "app": "app" is not a registry host: a pattern starts with the registry, e.g. registry.example.com/app`, false},
		{"no repositories", func(s *RuleSpec) { s.Repositories = nil }, "repositories", "",
			`flags: repositories: missing or empty; list the repository patterns this rule applies to, e.g. [registry.example.com/team/**]`, `--repo: missing or empty; list the repository patterns this rule applies to, e.g. [registry.example.com/team/**]`, false},
		{"semver per", func(s *RuleSpec) { s.Keep.Semver = &SemverSpec{Newest: 1, Per: "patch"} }, "keep.semver.per", "patch",
			`flags: keep.semver.per "patch": want major or minor (or leave it out to rank all versions together)`, `--keep-semver-per "patch": want major or minor (or leave it out to rank all versions together)`, false},
		{"group newest", func(s *RuleSpec) { s.Keep.Group = &GroupSpec{Regex: "(.+)-1"} }, "keep.group.newest", "0",
			`flags: keep.group.newest "0": must be at least 1`, `--keep-group-newest "0": must be at least 1`, false},
		{"empty", func(s *RuleSpec) { s.Keep = KeepSpec{} }, "", "",
			`flags: rule keeps nothing and deletes nothing: no keep rule and no delete filter given: refusing to treat an empty policy as 'delete everything'`,
			`rule keeps nothing and deletes nothing: no keep rule and no delete filter given: refusing to treat an empty policy as 'delete everything'`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.mod(&s)
			_, err := FromSpec("flags", s)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T)", err, err)
			}
			if fe.Field != tc.field || fe.Value != tc.value || fe.Line != 0 {
				t.Errorf("field %q value %q line %d", fe.Field, fe.Value, fe.Line)
			}
			if err.Error() != tc.err {
				t.Errorf("Error()\n got: %s\nwant: %s", err, tc.err)
			}
			name := flagName[fe.Field]
			if got := fe.Named(name); got != tc.named {
				t.Errorf("Named()\n got: %s\nwant: %s", got, tc.named)
			}
			if !errors.Is(err, ErrInvalid) || errors.Is(err, policy.ErrEmptyPolicy) != tc.empty {
				t.Errorf("wrapping: invalid %v empty %v", errors.Is(err, ErrInvalid), errors.Is(err, policy.ErrEmptyPolicy))
			}
		})
	}
}

// FromSpec ignores positions a spec picked up from a file: its errors
// speak of the given source.
func TestFromSpecDropsFilePositions(t *testing.T) {
	f, err := Decode("p.yaml", []byte(rule1("    keep: {newest: 0}\n")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = FromSpec("flags", f.Rules[0])
	if err == nil || err.Error() != `flags: keep.newest "0": must be at least 1 (leave the key out to keep no newest images)` {
		t.Fatalf("error %v", err)
	}
}

// The spec types marshal back to an equivalent policy file.
func TestSpecRoundTrip(t *testing.T) {
	f, err := Decode("p.yaml", []byte(fullExample))
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Decode("again.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, x := range [][]RuleSpec{f.Rules, g.Rules} {
		for i := range x {
			x[i].pos = nil
		}
	}
	if !reflect.DeepEqual(f, g) {
		t.Errorf("round trip changed the spec:\n%s", out)
	}
	if _, err := Parse("again.yaml", out); err != nil {
		t.Error(err)
	}
}

// Issue 19 point 16: a file of about 300 KB whose anchor of 4,000
// repositories is aliased in 4,000 rules (16 million values once
// expanded) fails at the alias that passes MaxNodes, with its position,
// before anything is expanded; the same anchor aliased in 20 rules is
// read.
func TestAliasExpansionBounded(t *testing.T) {
	gen := func(rules int) []byte {
		var b strings.Builder
		b.WriteString("version: 1\nrules:\n  - repositories: &repos\n")
		for i := range 4000 {
			fmt.Fprintf(&b, "      - reg.example.com/group/app-%04d\n", i)
		}
		b.WriteString("    keep: {newest: 1}\n")
		for range rules {
			b.WriteString("  - repositories: *repos\n    keep: {newest: 1}\n")
		}
		return []byte(b.String())
	}
	big := gen(4000)
	if len(big) < 200<<10 {
		t.Fatalf("generated %d bytes", len(big))
	}
	_, err := Parse("p.yaml", big)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "more than 100000 values once its aliases are expanded") {
		t.Fatalf("error %v", err)
	}
	// The first rule holds about 4,000 values, and each alias counts 4,001
	// (the sequence and its repositories): the 24th passes 100,000. Rule
	// i starts at line 4005+2(i-1).
	if want := fmt.Sprintf("p.yaml:%d:19: ", 4005+2*23); !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v, want it at %s", err, want)
	}
	if c, err := Parse("p.yaml", gen(20)); err != nil || len(c.Rules) != 21 {
		t.Fatalf("20 aliases: %v", err)
	}
	// An anchor inside the block it names.
	if _, err := Parse("p.yaml", []byte("version: 1\nrules: &r\n  - repositories: [reg.example.com/a]\n    keep: {newest: 1}\n  - *r\n")); err == nil {
		t.Fatal("a recursive alias was accepted")
	}
}

func TestInUse(t *testing.T) {
	c, err := Parse("p.yaml", []byte("version: 1\nin_use:\n  kubernetes: [prod, staging]\n  files: [images.txt]\nrules:\n  - repositories: [r.io/a]\n    keep: {tags: [latest]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.InUse.Sources(); strings.Join(got, " ") != "kubernetes:prod kubernetes:staging file:images.txt" {
		t.Errorf("sources %v", got)
	}
	c, err = Parse("p.yaml", []byte("version: 1\nin_use: {kubernetes: true}\nrules:\n  - repositories: [r.io/a]\n    keep: {tags: [latest]}\n"))
	if err != nil || strings.Join(c.InUse.Sources(), " ") != "kubernetes" {
		t.Errorf("kubernetes: true: %v %v", err, c)
	}
	for in, want := range map[string]string{
		"in_use: {kubernets: [a]}":     `p.yaml:2:10: in_use.kubernets: unknown key; valid keys in in_use: kubernetes, files`,
		"in_use: {kubernetes: [\"\"]}": `p.yaml:2:23: in_use.kubernetes: empty context name`,
		"in_use: {files: [\"-\"]}":     `p.yaml:2:18: in_use.files "-": want a file path`,
		"in_use: {kubernetes: 3}":      `p.yaml:2:22: in_use.kubernetes: want a list of kubeconfig context names, or true`,
		"in_use: {}":                   `p.yaml:2:9: in_use: names no source`,
	} {
		_, err := Parse("p.yaml", []byte("version: 1\n"+in+"\nrules:\n  - repositories: [r.io/a]\n    keep: {tags: [latest]}\n"))
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %v, want %s", in, err, want)
		}
	}
}
