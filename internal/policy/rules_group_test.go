package policy

import (
	"regexp"
	"testing"
	"time"
)

func TestGroupRule(t *testing.T) {
	branches := []im{
		{"m1", 1, []string{"main-104"}},
		{"m2", 2, []string{"main-103"}},
		{"m3", 3, []string{"main-102"}},
		{"m4", 4, []string{"main-101"}},
		{"d1", 5, []string{"dev-13"}},
		{"d2", 6, []string{"dev-12"}},
		{"f1", 50, []string{"feature-login-3"}},
		{"x", 7, []string{"latest"}},
	}
	cases := []struct {
		name  string
		ims   []im
		regex string
		n     int
		wants map[string]want
	}{
		{
			name:  "several branches",
			ims:   branches,
			regex: `(.+)-[0-9]+`,
			n:     2,
			wants: map[string]want{
				"m1": keep("kept: group main: newest 2 (rank 1, created 2024-05-31T12:00:00Z from config)"),
				"m2": keep("kept: group main: newest 2 (rank 2, created 2024-05-30T12:00:00Z from config)"),
				"m3": del("delete: no delete filter limits candidates; no keep rule holds it"),
				"m4": del(),
				"d1": keep("kept: group dev: newest 2 (rank 1"),
				"d2": keep("kept: group dev: newest 2 (rank 2"),
				"f1": keep("kept: group feature-login: newest 2 (rank 1"), // greedy (.+)
				"x":  del(),                                               // in no group
			},
		},
		{
			name:  "unknown ages in a group are held",
			ims:   []im{{"a", 1, []string{"main-3"}}, {"b", 2, []string{"main-2"}}, {"u", unknown, []string{"main-1"}}, {"v", unknown, []string{"other"}}},
			regex: `(main|dev)-[0-9]+`,
			n:     1,
			wants: map[string]want{
				"a": keep("kept: group main: newest 1 (rank 1"),
				"b": del(),
				"u": keep("kept: group main: age unknown (no usable created time), so the group's newest rule cannot rank it"),
				"v": del(), // unknown age but in no group: no age rule holds it
			},
		},
		{
			name: "the first matching tag in sorted order names the group",
			ims: []im{
				{"a", 1, []string{"main-9", "dev-5"}}, // dev-5 sorts first
				{"b", 2, []string{"dev-4"}},
				{"c", 3, []string{"main-8"}},
			},
			regex: `(main|dev)-[0-9]+`,
			n:     1,
			wants: map[string]want{
				"a": keep("kept: group dev: newest 1 (rank 1"),
				"b": del(),
				"c": keep("kept: group main: newest 1 (rank 1"),
			},
		},
		{
			name: "ties in age rank by digest",
			ims: []im{
				{"b", 3, []string{"main-2"}},
				{"a", 3, []string{"main-1"}},
			},
			regex: `(main)-[0-9]+`,
			n:     1,
			wants: map[string]want{"a": keep("kept: group main: newest 1 (rank 1"), "b": del()},
		},
		{
			name: "an empty capture is a group of its own",
			ims: []im{
				{"a", 1, []string{"-1"}},
				{"b", 2, []string{"-2"}},
				{"c", 3, []string{"x-3"}},
			},
			regex: `([a-z]*)-[0-9]+`,
			n:     1,
			wants: map[string]want{
				"a": keep(`kept: group "": newest 1 (rank 1`),
				"b": del(),
				"c": keep("kept: group x: newest 1 (rank 1"),
			},
		},
		{
			name: "a named capture works too",
			ims: []im{
				{"a", 1, []string{"pr-12-abc"}},
				{"b", 2, []string{"pr-12-def"}},
				{"c", 3, []string{"pr-7-abc"}},
			},
			regex: `pr-(?P<pr>[0-9]+)-[a-z]+`,
			n:     1,
			wants: map[string]want{
				"a": keep("kept: group 12: newest 1"),
				"b": del(),
				"c": keep("kept: group 7: newest 1"),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := &Group{Regex: rx(t, tc.regex)[0], Newest: tc.n}
			check(t, Evaluate(mkRepo(tc.ims...), Policy{Keep: Keep{Group: g}}, now), tc.wants)
		})
	}
}

func TestGroupHoldsDegenerate(t *testing.T) {
	ds := []Decision{{Digest: "a", Tags: []string{"x-1"}, AgeSource: "config", Created: now}}
	for name, g := range map[string]*Group{
		"nil":        nil,
		"no regex":   {Newest: 1},
		"no capture": {Regex: regexp.MustCompile(`^x-1$`), Newest: 1},
		"zero":       {Regex: regexp.MustCompile(`^(x)-1$`), Newest: 0},
	} {
		if got := groupHolds(ds, g); len(got) != 0 {
			t.Errorf("%s: holds %v", name, got)
		}
	}
}

func TestGroupCombinations(t *testing.T) {
	r := mkRepo(
		im{"m1", 1, []string{"main-9", "latest"}},
		im{"m2", 40, []string{"main-8"}},
		im{"m3", 50, []string{"main-7"}},
		im{"p1", 45, []string{"pr-3-1"}},
		im{"p2", 60, []string{"pr-3-0"}},
		im{"r1", 100, []string{"v1.0.0"}},
		im{"u", unknown, []string{"main-1"}},
	)
	p := Policy{
		Keep: Keep{
			Regex: rx(t, `v[0-9]+\.[0-9]+\.[0-9]+`),
			Group: &Group{Regex: rx(t, `(main|pr-[0-9]+)-[0-9]+`)[0], Newest: 2},
		},
		Delete: Delete{OlderThan: 30 * 24 * time.Hour, Regex: rx(t, `(main|pr-[0-9]+)-[0-9]+`)},
	}
	check(t, Evaluate(r, p, now), map[string]want{
		"m1": keep("kept: group main: newest 2 (rank 1"),
		"m2": keep("kept: group main: newest 2 (rank 2"),
		"m3": del("delete: every tag matches a delete regex, older than 30d"),
		"p1": keep("kept: group pr-3: newest 2 (rank 1"),
		"p2": keep("kept: group pr-3: newest 2 (rank 2"),
		"r1": keep("kept: tag v1.0.0 matches keep regex"),
		"u":  keep("kept: group main: age unknown"),
	})
}
