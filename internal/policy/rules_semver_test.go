package policy

import (
	"math/rand"
	"sort"
	"testing"
	"time"
)

func TestParseSemver(t *testing.T) {
	cases := []struct {
		tag  string
		ok   bool
		want string // major.minor.patch[-pre]
	}{
		{"1.2.3", true, "1.2.3"},
		{"v1.2.3", true, "1.2.3"},
		{"0.0.0", true, "0.0.0"},
		{"1.2.3-rc.1", true, "1.2.3-rc.1"},
		{"v1.2.3-alpha.beta-2.0", true, "1.2.3-alpha.beta-2.0"},
		{"1.2.3+build.5", true, "1.2.3"},
		{"1.2.3-rc.1+build-5", true, "1.2.3-rc.1"},
		{"1.2.3_build.5", true, "1.2.3"}, // Helm's spelling of +build in OCI tags
		{"10.20.30", true, "10.20.30"},
		{"1.2.18446744073709551615", true, "1.2.18446744073709551615"},
		// Beyond uint64, Masterminds/semver's bound, is not a version.
		{"1.2.18446744073709551616", false, ""},
		{"1.2", false, ""},      // partial versions are aliases, not versions
		{"1", false, ""},        // same
		{"v1", false, ""},       // same
		{"1.2.3.4", false, ""},  // four parts
		{"01.2.3", false, ""},   // leading zero
		{"1.02.3", false, ""},   // leading zero
		{"1.2.03", false, ""},   // leading zero
		{"1.2.3-01", false, ""}, // numeric pre-release with a leading zero
		{"1.2.3-0a", true, "1.2.3-0a"},
		{"1.2.3-", false, ""},      // empty pre-release
		{"1.2.3-rc..1", false, ""}, // empty identifier
		{"1.2.3+", false, ""},      // empty build
		{"1.2.3_", false, ""},      // empty build
		{"1.2.3+a_b", false, ""},   // '_' inside build metadata
		{"V1.2.3", false, ""},      // only a lower-case v
		{"vv1.2.3", false, ""},
		{"latest", false, ""},
		{"main-1.2.3", false, ""},
		{"1.2.x", false, ""},
		{"", false, ""},
		{"-1.2.3", false, ""},
		{"1.-2.3", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.tag, func(t *testing.T) {
			v, ok := parseSemver(tc.tag)
			if ok != tc.ok {
				t.Fatalf("parseSemver(%q) ok = %v, want %v", tc.tag, ok, tc.ok)
			}
			if !ok {
				return
			}
			got := v.String()
			if got != tc.want {
				t.Errorf("parseSemver(%q) = %s, want %s", tc.tag, got, tc.want)
			}
		})
	}
}

func TestSemverPrecedence(t *testing.T) {
	// Ascending, per semver.org section 11, plus numeric and length cases.
	ordered := []string{
		"0.9.9",
		"1.0.0-0",
		"1.0.0-1",
		"1.0.0-2",
		"1.0.0-10",
		"1.0.0-alpha",
		"1.0.0-alpha.1",
		"1.0.0-alpha.beta",
		"1.0.0-beta",
		"1.0.0-beta.2",
		"1.0.0-beta.11",
		"1.0.0-rc.1",
		"1.0.0",
		"1.0.1",
		"1.0.10",
		"1.2.0",
		"1.10.0",
		"2.0.0",
		"10.0.0",
		"18446744073709551615.0.0",
	}
	vs := make([]semver, len(ordered))
	for i, s := range ordered {
		v, ok := parseSemver(s)
		if !ok {
			t.Fatalf("parse %s", s)
		}
		vs[i] = v
	}
	for i := range vs {
		for j := range vs {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := compareSemver(vs[i], vs[j]); got != want {
				t.Errorf("compare(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	// Sorting a shuffle gives the order back.
	shuffled := append([]semver(nil), vs...)
	rand.New(rand.NewSource(1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	sort.Slice(shuffled, func(i, j int) bool { return compareSemver(shuffled[i], shuffled[j]) < 0 })
	for i := range vs {
		if compareSemver(shuffled[i], vs[i]) != 0 {
			t.Fatalf("sorted position %d differs", i)
		}
	}
	// Build metadata and the v prefix do not change precedence.
	a, _ := parseSemver("v1.2.3+build.1")
	b, _ := parseSemver("1.2.3_build.2")
	if compareSemver(a, b) != 0 {
		t.Errorf("1.2.3 with different build metadata should be equal")
	}
}

func TestSemverRule(t *testing.T) {
	cases := []struct {
		name  string
		ims   []im
		rule  Semver
		wants map[string]want
	}{
		{
			name: "per minor: two newest patches of each line",
			ims: []im{
				{"a", 50, []string{"1.4.0"}},
				{"b", 40, []string{"1.4.1"}},
				{"c", 30, []string{"1.4.2"}},
				{"d", 20, []string{"1.5.0"}},
				{"e", 10, []string{"1.5.1"}},
				{"f", 5, []string{"2.0.0"}},
			},
			rule: Semver{Newest: 2, Per: "minor"},
			wants: map[string]want{
				"a": del("delete: no delete filter limits candidates; no keep rule holds it"),
				"b": keep("kept: semver 1.4.1 among 2 newest of 1.4"),
				"c": keep("kept: semver 1.4.2 among 2 newest of 1.4"),
				"d": keep("kept: semver 1.5.0 among 2 newest of 1.5"),
				"e": keep("kept: semver 1.5.1 among 2 newest of 1.5"),
				"f": keep("kept: semver 2.0.0 among 2 newest of 2.0"),
			},
		},
		{
			name: "per minor ranks by version, not by age",
			ims: []im{
				{"a", 1, []string{"1.4.0"}}, // rebuilt yesterday, still the oldest version
				{"b", 40, []string{"1.4.1"}},
				{"c", 30, []string{"1.4.2"}},
			},
			rule: Semver{Newest: 2, Per: "minor"},
			wants: map[string]want{
				"a": del(),
				"b": keep("kept: semver 1.4.1 among 2 newest of 1.4"),
				"c": keep("kept: semver 1.4.2"),
			},
		},
		{
			name: "per major",
			ims: []im{
				{"a", 50, []string{"1.4.0"}},
				{"b", 40, []string{"1.9.3"}},
				{"c", 30, []string{"1.10.0"}},
				{"d", 20, []string{"2.0.0"}},
				{"e", 10, []string{"3.0.0-beta.1"}},
			},
			rule: Semver{Newest: 1, Per: "major"},
			wants: map[string]want{
				"a": del(), "b": del(),
				"c": keep("kept: semver 1.10.0 among 1 newest of 1.x"),
				"d": keep("kept: semver 2.0.0 among 1 newest of 2.x"),
				"e": keep("kept: semver 3.0.0-beta.1 among 1 newest of 3.x"),
			},
		},
		{
			name: "overall",
			ims: []im{
				{"a", 50, []string{"1.4.0"}},
				{"b", 40, []string{"2.0.0"}},
				{"c", 30, []string{"1.10.0"}},
				{"d", 20, []string{"0.1.0"}},
			},
			rule: Semver{Newest: 2},
			wants: map[string]want{
				"a": del(),
				"b": keep("kept: semver 2.0.0 among 2 newest of all versions"),
				"c": keep("kept: semver 1.10.0 among 2 newest of all versions"),
				"d": del(),
			},
		},
		{
			name: "pre-releases rank below their release",
			ims: []im{
				{"a", 50, []string{"1.4.0-rc.1"}},
				{"b", 40, []string{"1.4.0-rc.2"}},
				{"c", 30, []string{"1.4.0"}},
				{"d", 20, []string{"1.5.0-rc.1"}},
				{"e", 10, []string{"1.5.0-rc.10"}},
				{"f", 9, []string{"1.5.0-rc.2"}},
			},
			rule: Semver{Newest: 2, Per: "minor"},
			wants: map[string]want{
				"a": del(),
				"b": keep("kept: semver 1.4.0-rc.2 among 2 newest of 1.4"),
				"c": keep("kept: semver 1.4.0 among 2 newest of 1.4"),
				"d": del(), // rc.1 < rc.2 < rc.10
				"e": keep("kept: semver 1.5.0-rc.10 among 2 newest of 1.5"),
				"f": keep("kept: semver 1.5.0-rc.2"),
			},
		},
		{
			name: "a newer pre-release takes a place from an older release",
			ims: []im{
				{"a", 50, []string{"1.4.0"}},
				{"b", 40, []string{"1.4.1"}},
				{"c", 30, []string{"1.4.2-rc.1"}},
			},
			rule: Semver{Newest: 2, Per: "minor"},
			wants: map[string]want{
				"a": del(),
				"b": keep("kept: semver 1.4.1"),
				"c": keep("kept: semver 1.4.2-rc.1"),
			},
		},
		{
			name: "v prefixes and plain versions compete together",
			ims: []im{
				{"a", 50, []string{"v1.2.3"}},
				{"b", 40, []string{"1.2.4"}},
				{"c", 30, []string{"v1.2.5"}},
			},
			rule: Semver{Newest: 2, Per: "minor"},
			wants: map[string]want{
				"a": del(),
				"b": keep("kept: semver 1.2.4 among 2 newest of 1.2"),
				"c": keep("kept: semver v1.2.5 among 2 newest of 1.2"),
			},
		},
		{
			name: "build metadata: equal versions share a place and are all kept",
			ims: []im{
				{"a", 50, []string{"1.2.2"}},
				{"b", 40, []string{"1.2.3+build.1"}},
				{"c", 30, []string{"1.2.3_build.2"}},
				{"d", 20, []string{"1.2.3"}},
			},
			rule: Semver{Newest: 1},
			wants: map[string]want{
				"a": del(),
				"b": keep("kept: semver 1.2.3+build.1 among 1 newest"),
				"c": keep("kept: semver 1.2.3_build.2 among 1 newest"),
				"d": keep("kept: semver 1.2.3 among 1 newest"),
			},
		},
		{
			name: "ties: the same version on two digests",
			ims: []im{
				{"a", 50, []string{"1.0.0"}},
				{"b", 40, []string{"v2.0.0"}},
				{"c", 30, []string{"2.0.0"}},
				{"d", 20, []string{"1.9.0"}},
			},
			rule: Semver{Newest: 2},
			wants: map[string]want{
				"a": del(),
				"b": keep("kept: semver v2.0.0"),
				"c": keep("kept: semver 2.0.0"),
				"d": keep("kept: semver 1.9.0"),
			},
		},
		{
			name: "non-semver tags are ignored",
			ims: []im{
				{"a", 1, []string{"latest"}},
				{"b", 2, []string{"1.2"}},
				{"c", 3, []string{"01.2.3"}},
				{"d", 4, []string{"main-1.2.3"}},
				{"e", 90, []string{"0.0.1", "stable"}},
			},
			rule: Semver{Newest: 5},
			wants: map[string]want{
				"a": del(), "b": del(), "c": del(), "d": del(),
				"e": keep("kept: semver 0.0.1 among 5 newest of all versions"),
			},
		},
		{
			name: "an image counts at its highest version only",
			ims: []im{
				{"a", 50, []string{"1.4.2", "1.5.0", "1.5"}}, // counts as 1.5.0, not in 1.4
				{"b", 40, []string{"1.5.1"}},
				{"c", 30, []string{"1.4.1"}},
			},
			rule: Semver{Newest: 1, Per: "minor"},
			wants: map[string]want{
				"a": del(),
				"b": keep("kept: semver 1.5.1 among 1 newest of 1.5"),
				"c": keep("kept: semver 1.4.1 among 1 newest of 1.4"),
			},
		},
		{
			name: "unknown ages do not matter to version ranking",
			ims: []im{
				{"a", unknown, []string{"3.0.0"}},
				{"b", 1, []string{"2.0.0"}},
			},
			rule: Semver{Newest: 1},
			wants: map[string]want{
				"a": keep("kept: semver 3.0.0 among 1 newest"),
				"b": del(),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rule := tc.rule
			ds := Evaluate(mkRepo(tc.ims...), Policy{Keep: Keep{Semver: &rule}}, now)
			check(t, ds, tc.wants)
		})
	}
}

func TestSemverHoldsExactReasons(t *testing.T) {
	ds := []Decision{
		{Digest: "a", Tags: []string{"1.4.2", "latest"}},
		{Digest: "b", Tags: []string{"v1.4.1"}},
		{Digest: "c", Tags: []string{"1.4.0"}},
	}
	got := semverHolds(ds, &Semver{Newest: 2, Per: "minor"})
	want := map[int]Reason{
		0: {Rule: RuleSemver, Tag: "1.4.2", Text: "kept: semver 1.4.2 among 2 newest of 1.4"},
		1: {Rule: RuleSemver, Tag: "v1.4.1", Text: "kept: semver v1.4.1 among 2 newest of 1.4"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %v, want %v", got, want)
	}
	if semverHolds(ds, nil) != nil {
		t.Fatal("nil rule holds something")
	}
}

func TestSemverCombinations(t *testing.T) {
	r := mkRepo(
		im{"a", 1, []string{"latest", "main-77"}},
		im{"b", 10, []string{"1.5.0"}},
		im{"c", 20, []string{"1.4.3"}},
		im{"d", 60, []string{"1.4.2"}},
		im{"e", 70, []string{"1.4.1"}},
		im{"f", 80, []string{"1.3.9"}},
		im{"g", 90, []string{"main-12"}},
		im{"h", unknown, []string{"1.0.0"}},
	)
	p := Policy{
		Keep: Keep{
			Tags:   []string{"latest"},
			Newest: 2,
			Semver: &Semver{Newest: 2, Per: "minor"},
		},
		Delete: Delete{OlderThan: 30 * 24 * time.Hour},
	}
	check(t, Evaluate(r, p, now), map[string]want{
		"a": keep("kept: newest 2 (rank 1", "kept: tag latest"),
		"b": keep("kept: newest 2 (rank 2", "kept: semver 1.5.0 among 2 newest of 1.5"),
		"c": keep("kept: semver 1.4.3 among 2 newest of 1.4"),
		"d": keep("kept: semver 1.4.2 among 2 newest of 1.4"),
		"e": del("delete: older than 30d"),
		"f": keep("kept: semver 1.3.9 among 2 newest of 1.3"),
		"g": del("delete: older than 30d"),
		"h": keep("kept: age unknown", "kept: semver 1.0.0 among 2 newest of 1.0"),
	})
}
