package config

import (
	"testing"
)

func TestPatternMatch(t *testing.T) {
	cases := []struct {
		pattern string
		repo    string
		want    bool
	}{
		// Literal names.
		{"reg.example.com/app", "reg.example.com/app", true},
		{"reg.example.com/app", "reg.example.com/app2", false},
		{"reg.example.com/app", "reg.example.com/team/app", false},
		{"reg.example.com/team/app", "reg.example.com/team/app", true},
		// '*' is exactly one segment.
		{"reg.example.com/*", "reg.example.com/app", true},
		{"reg.example.com/*", "reg.example.com/team/app", false},
		{"reg.example.com/team/*", "reg.example.com/team/app", true},
		{"reg.example.com/team/*", "reg.example.com/team", false},
		{"reg.example.com/team/*", "reg.example.com/team/app/sub", false},
		{"reg.example.com/*/app", "reg.example.com/team/app", true},
		{"reg.example.com/*/app", "reg.example.com/a/b/app", false},
		// '**' is zero or more segments.
		{"reg.example.com/**", "reg.example.com/app", true},
		{"reg.example.com/**", "reg.example.com/a/b/c/d", true},
		{"reg.example.com/team/**", "reg.example.com/team", true},
		{"reg.example.com/team/**", "reg.example.com/team/app", true},
		{"reg.example.com/team/**", "reg.example.com/team/a/b", true},
		{"reg.example.com/team/**", "reg.example.com/teams/app", false},
		{"reg.example.com/**/app", "reg.example.com/app", true},
		{"reg.example.com/**/app", "reg.example.com/a/b/app", true},
		{"reg.example.com/**/app", "reg.example.com/a/b/app/x", false},
		{"reg.example.com/**/*/cache", "reg.example.com/cache", false},
		{"reg.example.com/**/*/cache", "reg.example.com/a/cache", true},
		{"reg.example.com/**/x/**", "reg.example.com/a/x/b/c", true},
		{"reg.example.com/**/x/**", "reg.example.com/a/y/b/c", false},
		// '*' inside a segment.
		{"reg.example.com/team-*/app", "reg.example.com/team-a/app", true},
		{"reg.example.com/team-*/app", "reg.example.com/team/app", false},
		{"reg.example.com/team-*/app", "reg.example.com/other/app", false},
		{"reg.example.com/*-cache", "reg.example.com/build-cache", true},
		{"reg.example.com/*-cache", "reg.example.com/build-cache/x", false},
		{"reg.example.com/a*b*c", "reg.example.com/abc", true},
		{"reg.example.com/a*b*c", "reg.example.com/aXbYc", true},
		{"reg.example.com/a*b*c", "reg.example.com/acb", false},
		{"reg.example.com/a*a", "reg.example.com/a", false},
		// Hosts are literal; ports count; case does not.
		{"reg.example.com/**", "other.example.com/app", false},
		{"reg.example.com/**", "reg.example.com:5000/app", false},
		{"reg.example.com:5000/**", "reg.example.com:5000/app", true},
		{"reg.example.com:5000/**", "reg.example.com:5001/app", false},
		{"reg.example.com:5000/**", "reg.example.com/app", false},
		{"Reg.Example.com/app", "reg.example.COM/app", true},
		{"localhost/app", "localhost/app", true},
		{"localhost:5000/app", "localhost:5000/app", true},
		{"127.0.0.1:5000/**", "127.0.0.1:5000/x/y", true},
		{"[::1]:5000/app", "[::1]:5000/app", true},
		// Not repositories.
		{"reg.example.com/**", "reg.example.com", false},
		{"reg.example.com/app", "", false},
	}
	for _, tc := range cases {
		p, err := ParsePattern(tc.pattern)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", tc.pattern, err)
			continue
		}
		if got := p.Match(tc.repo); got != tc.want {
			t.Errorf("%q.Match(%q) = %v, want %v", tc.pattern, tc.repo, got, tc.want)
		}
	}
}

func TestPatternAccessors(t *testing.T) {
	for _, tc := range []struct {
		pattern, str, registry string
		literal                bool
	}{
		{"reg.example.com/app", "reg.example.com/app", "reg.example.com", true},
		{"Reg.Example.com:443/a/b", "reg.example.com:443/a/b", "reg.example.com:443", true},
		{"localhost:5000/**", "localhost:5000/**", "localhost:5000", false},
		{"reg.example.com/team-*/app", "reg.example.com/team-*/app", "reg.example.com", false},
	} {
		p := MustParsePattern(tc.pattern)
		if p.String() != tc.str || p.Registry() != tc.registry || p.Literal() != tc.literal {
			t.Errorf("%q: String %q Registry %q Literal %v", tc.pattern, p.String(), p.Registry(), p.Literal())
		}
	}
	var zero Pattern
	if zero.Match("reg.example.com/app") || zero.Literal() {
		t.Error("the zero Pattern matches")
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty repository pattern"},
		{"app", `"app" is not a registry host: a pattern starts with the registry, e.g. registry.example.com/app`},
		{"library/alpine", `"library" is not a registry host: a pattern starts with the registry, e.g. registry.example.com/library/alpine`},
		{"https://reg.example.com/app", "no scheme allowed: write reg.example.com/app, not https://reg.example.com/app"},
		{"oci://reg.example.com/app", "no scheme allowed: write reg.example.com/app, not oci://reg.example.com/app"},
		{"**/app", `the registry host "**" must be literal; wildcards match path segments only`},
		{"reg.*.com/app", `the registry host "reg.*.com" must be literal; wildcards match path segments only`},
		{"reg.example.com", "no repository path after the registry host; write reg.example.com/** for every repository of reg.example.com"},
		{"reg.example.com/", "no repository path after the registry host; write reg.example.com/** for every repository of reg.example.com"},
		{"reg.example.com//app", `empty path segment (a doubled or trailing "/")`},
		{"reg.example.com/app/", `empty path segment (a doubled or trailing "/")`},
		{"reg.example.com/Team/app", `segment "Team": repository names are lowercase`},
		{"reg.example.com/a b", `segment "a b": want lowercase letters, digits, '.', '_', '-' and the wildcard '*'`},
		{"reg.example.com/app:latest", `segment "app:latest": want lowercase letters, digits, '.', '_', '-' and the wildcard '*'`},
		{"reg.example.com/app@sha256", `segment "app@sha256": want lowercase letters, digits, '.', '_', '-' and the wildcard '*'`},
		{"reg.example.com/***", `segment "***": "**" must be a whole path segment`},
		{"reg.example.com/x**", `segment "x**": "**" must be a whole path segment`},
		{"reg_example.com/app", `"reg_example.com" is not a registry host: a pattern starts with the registry, e.g. registry.example.com/reg_example.com/app`},
		{"reg.example.com:port/app", `"reg.example.com:port" is not a registry host: a pattern starts with the registry, e.g. registry.example.com/reg.example.com:port/app`},
		{" reg.example.com/app", `" reg.example.com" is not a registry host: a pattern starts with the registry, e.g. registry.example.com/ reg.example.com/app`},
		{"reg.example.com:0/app", `port "0": want a number from 1 to 65535`},
		{"localhost:99999/app", `port "99999": want a number from 1 to 65535`},
		{"bot:Pw0rd@reg.example.com/app", "credentials in a repository pattern (user:password@host) are not supported, and were not used; write reg.example.com/app and give them through a credential source: REGPRUNE_USERNAME and REGPRUNE_PASSWORD, docker login (the Docker config) or a credential helper"},
	} {
		_, err := ParsePattern(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParsePattern(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParsePattern did not panic")
		}
	}()
	MustParsePattern("app")
}

func TestRuleFor(t *testing.T) {
	y := `version: 1
rules:
  - repositories: [reg.example.com/team/special]
    keep: {newest: 100}
  - repositories: ["reg.example.com/team/*"]
    keep: {newest: 10}
  - repositories: ["reg.example.com/**", "localhost:5000/**"]
    keep: {newest: 5}
  - repositories: ["reg.example.com:5000/**"]
    keep: {newest: 3}
  - repositories: ["reg.example.com/team/never"]
    keep: {newest: 1}
`
	c, err := Parse("policy.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		repo   string
		newest int // 0: no rule
		source string
	}{
		{"reg.example.com/team/special", 100, "policy.yaml:3:5"},
		{"reg.example.com/team/app", 10, "policy.yaml:5:5"},
		{"reg.example.com/team/never", 10, "policy.yaml:5:5"}, // the earlier glob wins
		{"reg.example.com/team/app/sub", 5, "policy.yaml:7:5"},
		{"reg.example.com/team", 5, "policy.yaml:7:5"},
		{"reg.example.com/other", 5, "policy.yaml:7:5"},
		{"localhost:5000/x/y", 5, "policy.yaml:7:5"},
		{"reg.example.com:5000/team/app", 3, "policy.yaml:9:5"},
		{"other.example.com/team/app", 0, ""},
		{"localhost/app", 0, ""},
	} {
		r, ok := c.RuleFor(tc.repo)
		if tc.newest == 0 {
			if ok || r != nil {
				t.Errorf("%s: got rule %s", tc.repo, r.Source)
			}
			continue
		}
		if !ok || r.Policy.Keep.Newest != tc.newest || r.Source != tc.source {
			t.Errorf("%s: got %v %+v, want newest %d from %s", tc.repo, ok, r, tc.newest, tc.source)
		}
	}
	var nilConfig *Config
	if _, ok := nilConfig.RuleFor("reg.example.com/app"); ok {
		t.Error("nil config has a rule")
	}
	// RuleFor returns the config's own rule, not a copy.
	r, _ := c.RuleFor("reg.example.com/team/special")
	if r != &c.Rules[0] {
		t.Error("RuleFor returned a copy")
	}
}
