package policy

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/graph"
)

var now = time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)

// unknown marks an image without a usable created time.
const unknown = -1

// daysAgo returns the time n days before now.
func daysAgo(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }

// im is an image for mkRepo: a digest, an age in days from its config
// (unknown for none) and its tags.
type im struct {
	digest string
	age    int
	tags   []string
}

func mkRepo(ims ...im) *graph.Repository {
	r := graph.NewRepository("registry.example.com/team/app")
	for _, x := range ims {
		m := &graph.Manifest{Digest: x.digest, MediaType: "application/vnd.oci.image.manifest.v1+json"}
		if x.age != unknown {
			m.CreatedConfig = daysAgo(x.age)
		}
		r.Manifests[x.digest] = m
		for _, t := range x.tags {
			r.Tags[t] = x.digest
		}
	}
	return r
}

func rx(t *testing.T, exprs ...string) []*regexp.Regexp {
	t.Helper()
	var out []*regexp.Regexp
	for _, e := range exprs {
		re, err := CompileRegex(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, re)
	}
	return out
}

// want is the expected verdict on one image: kept or not, substrings of
// its reasons (in order, each in some reason), and its stale tags.
type want struct {
	keep    bool
	reasons []string
	stale   []string
}

func keep(reasons ...string) want { return want{keep: true, reasons: reasons} }
func del(reasons ...string) want  { return want{keep: false, reasons: reasons} }

func check(t *testing.T, ds []Decision, wants map[string]want) {
	t.Helper()
	if len(ds) != len(wants) {
		t.Errorf("got %d decisions, want %d", len(ds), len(wants))
	}
	for _, d := range ds {
		w, ok := wants[d.Digest]
		if !ok {
			t.Errorf("%s: unexpected decision %+v", d.Digest, d)
			continue
		}
		if d.Keep != w.keep {
			t.Errorf("%s %v: keep = %v, want %v; reasons %q", d.Digest, d.Tags, d.Keep, w.keep, d.Reasons)
		}
		all := strings.Join(Texts(d.Reasons), "\n")
		for _, r := range w.reasons {
			if !strings.Contains(all, r) {
				t.Errorf("%s %v: reasons %q lack %q", d.Digest, d.Tags, d.Reasons, r)
			}
		}
		if !reflect.DeepEqual(d.StaleTags, w.stale) {
			t.Errorf("%s %v: stale tags %q, want %q", d.Digest, d.Tags, d.StaleTags, w.stale)
		}
	}
}

func digests(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Digest)
	}
	return out
}

func TestEvaluate(t *testing.T) {
	five := []im{
		{"a", 1, []string{"latest", "v1.3.0"}},
		{"b", 10, []string{"v1.2.0"}},
		{"c", 20, []string{"feature-x"}},
		{"d", 40, []string{"1234"}},
		{"e", 90, []string{"1200", "old"}},
	}
	cases := []struct {
		name  string
		repo  *graph.Repository
		p     func(t *testing.T) Policy
		wants map[string]want
	}{
		{
			name: "keep tag, no delete filter deletes the rest",
			repo: mkRepo(five...),
			p:    func(t *testing.T) Policy { return Policy{Keep: Keep{Tags: []string{"latest"}}} },
			wants: map[string]want{
				"a": keep("kept: tag latest"), // and v1.3.0 stays: the image is the unit
				"b": del("delete: no delete filter limits candidates; no keep rule holds it"),
				"c": del(), "d": del(), "e": del(),
			},
		},
		{
			name: "keep regex matches whole tags only",
			repo: mkRepo(five...),
			p: func(t *testing.T) Policy {
				return Policy{Keep: Keep{Regex: rx(t, `v[0-9]+\.[0-9]+`)}} // not v1.2.0: whole-tag
			},
			wants: map[string]want{"a": {keep: false}, "b": del(), "c": del(), "d": del(), "e": del()},
		},
		{
			name: "keep regex",
			repo: mkRepo(five...),
			p:    func(t *testing.T) Policy { return Policy{Keep: Keep{Regex: rx(t, `v[0-9]+\.[0-9]+\.[0-9]+`)}} },
			wants: map[string]want{
				"a": keep(`kept: tag v1.3.0 matches keep regex v[0-9]+\.[0-9]+\.[0-9]+`),
				"b": keep(`kept: tag v1.2.0 matches keep regex`),
				"c": del(), "d": del(), "e": del(),
			},
		},
		{
			name: "newest",
			repo: mkRepo(five...),
			p:    func(t *testing.T) Policy { return Policy{Keep: Keep{Newest: 2}} },
			wants: map[string]want{
				"a": keep("kept: newest 2 (rank 1, created 2024-05-31T12:00:00Z from config)"),
				"b": keep("kept: newest 2 (rank 2, created 2024-05-22T12:00:00Z from config)"),
				"c": del(), "d": del(), "e": del(),
			},
		},
		{
			name: "newer than",
			repo: mkRepo(five...),
			p:    func(t *testing.T) Policy { return Policy{Keep: Keep{NewerThan: 14 * 24 * time.Hour}} },
			wants: map[string]want{
				"a": keep("kept: newer than 2w (created 2024-05-31T12:00:00Z from config)"),
				"b": keep("kept: newer than 2w"),
				"c": del(), "d": del(), "e": del(),
			},
		},
		{
			name: "delete regex: every tag must match",
			repo: mkRepo(five...),
			p:    func(t *testing.T) Policy { return Policy{Delete: Delete{Regex: rx(t, `[0-9]+`)}} },
			wants: map[string]want{
				"a": keep("kept: not a delete candidate: tag latest matches no delete regex"),
				"b": keep("kept: not a delete candidate: tag v1.2.0 matches no delete regex"),
				"c": keep("tag feature-x matches no delete regex"),
				"d": del("delete: every tag matches a delete regex; no keep rule holds it"),
				"e": keep("tag old matches no delete regex"),
			},
		},
		{
			name: "older than",
			repo: mkRepo(five...),
			p:    func(t *testing.T) Policy { return Policy{Delete: Delete{OlderThan: 30 * 24 * time.Hour}} },
			wants: map[string]want{
				"a": keep("kept: not a delete candidate: not older than 30d"),
				"b": keep(), "c": keep(),
				"d": del("delete: older than 30d (created 2024-04-22T12:00:00Z from config); no keep rule holds it"),
				"e": del(),
			},
		},
		{
			name:  "older than exactly the limit is not older",
			repo:  mkRepo(im{"a", 30, []string{"x"}}, im{"b", 31, []string{"y"}}),
			p:     func(t *testing.T) Policy { return Policy{Delete: Delete{OlderThan: 30 * 24 * time.Hour}} },
			wants: map[string]want{"a": keep("not older than 30d"), "b": del("older than 30d")},
		},
		{
			name: "keep rules override delete filters",
			repo: mkRepo(five...),
			p: func(t *testing.T) Policy {
				return Policy{Keep: Keep{Newest: 1, Tags: []string{"old"}}, Delete: Delete{OlderThan: 5 * 24 * time.Hour}, UntagUnkept: true}
			},
			wants: map[string]want{
				"a": keep("kept: newest 1 (rank 1"),
				"b": del("older than 5d"),
				"c": del(), "d": del(),
				"e": {keep: true, reasons: []string{"kept: tag old"}, stale: []string{"1200"}},
			},
		},
		{
			name: "stale tags only on candidates: an image the filters do not select keeps every tag",
			repo: mkRepo(
				im{"a", 1, []string{"latest", "abc1234", "def5678", "stable"}},
				im{"b", 2, []string{"abc0000", "stable-1"}},
			),
			p: func(t *testing.T) Policy {
				return Policy{Keep: Keep{Tags: []string{"latest"}}, Delete: Delete{Regex: rx(t, `[0-9a-f]{7}`)}, UntagUnkept: true}
			},
			wants: map[string]want{
				"a": keep("kept: tag latest"),
				"b": keep("kept: not a delete candidate: tag stable-1 matches no delete regex"),
			},
		},
		{
			name: "the image is the unit: a kept image keeps every tag without the untag_unkept opt-in",
			repo: mkRepo(im{"a", 1, []string{"1005", "latest", "x"}}, im{"b", 2, []string{"1004"}}),
			p: func(t *testing.T) Policy {
				return Policy{Keep: Keep{Tags: []string{"latest"}}}
			},
			wants: map[string]want{
				"a": keep("kept: tag latest"),
				"b": del("no delete filter limits candidates"),
			},
		},
		{
			name: "stale tags: with untag_unkept, a candidate held only by a tag rule loses its other tags",
			repo: mkRepo(im{"a", 1, []string{"1005", "latest", "x"}}, im{"b", 2, []string{"1004"}}),
			p: func(t *testing.T) Policy {
				return Policy{Keep: Keep{Tags: []string{"latest"}}, UntagUnkept: true}
			},
			wants: map[string]want{
				"a": {keep: true, reasons: []string{"kept: tag latest", "untag: 1005, x held by no rule (untag_unkept); the digest stays for its kept tags"}, stale: []string{"1005", "x"}},
				"b": del("no delete filter limits candidates"),
			},
		},
		{
			name: "no stale tags on an image held by an image rule",
			repo: mkRepo(im{"a", 1, []string{"latest", "abc1234"}}),
			p: func(t *testing.T) Policy {
				return Policy{Keep: Keep{Tags: []string{"latest"}, Newest: 1}, Delete: Delete{Regex: rx(t, `[0-9a-f]{7}`)}, UntagUnkept: true}
			},
			wants: map[string]want{"a": keep("kept: newest 1", "kept: tag latest")},
		},
		{
			name: "stale tags respect older than",
			repo: mkRepo(im{"a", 1, []string{"latest", "x"}}, im{"b", 60, []string{"stable", "y"}}),
			p: func(t *testing.T) Policy {
				return Policy{Keep: Keep{Tags: []string{"latest", "stable"}}, Delete: Delete{OlderThan: 30 * 24 * time.Hour}, UntagUnkept: true}
			},
			wants: map[string]want{
				"a": keep("kept: tag latest"),
				"b": {keep: true, reasons: []string{"kept: tag stable", "untag: y held by no rule"}, stale: []string{"y"}},
			},
		},
		{
			name: "unknown ages are held by age keep rules",
			repo: mkRepo(im{"a", 1, []string{"x"}}, im{"b", 2, []string{"y"}}, im{"u", unknown, []string{"z"}}),
			p:    func(t *testing.T) Policy { return Policy{Keep: Keep{Newest: 1}} },
			wants: map[string]want{
				"a": keep("kept: newest 1 (rank 1"),
				"b": del("no delete filter limits candidates"),
				"u": keep("kept: age unknown (no usable created time), so no age rule can rank it"),
			},
		},
		{
			name: "unknown ages are never older than anything",
			repo: mkRepo(im{"a", 100, []string{"x"}}, im{"u", unknown, []string{"z"}}),
			p:    func(t *testing.T) Policy { return Policy{Delete: Delete{OlderThan: 24 * time.Hour}} },
			wants: map[string]want{
				"a": del("older than 1d"),
				"u": keep("kept: not a delete candidate: age unknown, and older-than never deletes an image of unknown age"),
			},
		},
		{
			name:  "unknown ages fall to tag-only rules without an age rule",
			repo:  mkRepo(im{"u", unknown, []string{"z"}}),
			p:     func(t *testing.T) Policy { return Policy{Keep: Keep{Tags: []string{"latest"}}} },
			wants: map[string]want{"u": del("no delete filter limits candidates")},
		},
		{
			name: "artifact tags are not images",
			repo: func() *graph.Repository {
				r := mkRepo(im{"a", 1, []string{"v1"}}, im{"s", 1, []string{"sha256-" + strings.Repeat("a", 64) + ".sig"}})
				return r
			}(),
			p:     func(t *testing.T) Policy { return Policy{Keep: Keep{Newest: 5}} },
			wants: map[string]want{"a": keep("kept: newest 5 (rank 1")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := Evaluate(tc.repo, tc.p(t), now)
			check(t, ds, tc.wants)
		})
	}
}

func TestEvaluateOrder(t *testing.T) {
	r := mkRepo(
		im{"u2", unknown, []string{"p"}},
		im{"c", 5, []string{"q"}},
		im{"u1", unknown, []string{"r"}},
		im{"b", 1, []string{"s"}},
		im{"a", 5, []string{"t"}}, // same age as c: digest breaks the tie
	)
	ds := Evaluate(r, Policy{Keep: Keep{Newest: 2}}, now)
	if got, want := digests(ds), []string{"b", "a", "c", "u1", "u2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if !ds[1].Keep || ds[2].Keep {
		t.Errorf("newest 2 with a tie: a (rank 2) kept %v, c (rank 3) kept %v", ds[1].Keep, ds[2].Keep)
	}
}

func TestEvaluateAgeSources(t *testing.T) {
	epoch := time.Unix(0, 0).UTC()
	r := graph.NewRepository("registry.example.com/app")
	add := func(m *graph.Manifest, tags ...string) {
		r.Manifests[m.Digest] = m
		for _, t := range tags {
			r.Tags[t] = m.Digest
		}
	}
	// Reproducible build: config pinned to 1970, label has the real time.
	add(&graph.Manifest{Digest: "repro", CreatedConfig: epoch, CreatedLabel: daysAgo(3)}, "repro")
	// Everything pinned to 1970 (or some time in 1970): unknown.
	add(&graph.Manifest{Digest: "epoch", CreatedConfig: epoch, CreatedAnnotation: epoch.Add(48 * time.Hour)}, "epoch")
	// Annotation only.
	add(&graph.Manifest{Digest: "annot", CreatedAnnotation: daysAgo(50)}, "annot")
	// An index without a time of its own takes its newest child's.
	add(&graph.Manifest{Digest: "c1", CreatedConfig: daysAgo(70)})
	add(&graph.Manifest{Digest: "c2", CreatedConfig: daysAgo(60)})
	add(&graph.Manifest{Digest: "idx", MediaType: "application/vnd.oci.image.index.v1+json", Children: []string{"c1", "c2"}}, "multi")

	p := Policy{Delete: Delete{OlderThan: 30 * 24 * time.Hour}}
	ds := Evaluate(r, p, now)
	byDigest := map[string]Decision{}
	for _, d := range ds {
		byDigest[d.Digest] = d
	}
	for _, tc := range []struct {
		digest string
		src    graph.AgeSource
		keep   bool
	}{
		{"repro", graph.AgeFromLabel, true},
		{"epoch", graph.AgeUnknown, true},
		{"annot", graph.AgeFromAnnotation, false},
		{"idx", graph.AgeFromChildren, false},
	} {
		d := byDigest[tc.digest]
		if d.AgeSource != tc.src || d.Keep != tc.keep {
			t.Errorf("%s: source %q keep %v, want %q %v (%q)", tc.digest, d.AgeSource, d.Keep, tc.src, tc.keep, d.Reasons)
		}
	}
	if got := byDigest["epoch"].Reasons; len(got) != 1 || got[0].Rule != RuleNotCandidate {
		t.Errorf("epoch reasons %q", got)
	}
	// The age and where it came from, in the reason's words.
	if got, want := byDigest["idx"].Reasons[0], (Reason{Rule: RuleCandidate, Text: "delete: older than 30d (created 2024-04-02T12:00:00Z from children); no keep rule holds it"}); got != want {
		t.Errorf("idx reason %q, want %q", got, want)
	}

	// Label only: the reproducible image keeps its label age, the
	// annotation-only image has no usable age.
	p.AgeFrom = []graph.AgeSource{graph.AgeFromLabel}
	for _, d := range Evaluate(r, p, now) {
		if d.Digest == "annot" && (d.AgeSource != graph.AgeUnknown || !d.Keep) {
			t.Errorf("label only: annot source %q keep %v", d.AgeSource, d.Keep)
		}
		if d.Digest == "repro" && d.AgeSource != graph.AgeFromLabel {
			t.Errorf("label only: repro source %q", d.AgeSource)
		}
	}
}

func TestEvaluateDoesNotMutateRepository(t *testing.T) {
	r := mkRepo(im{"a", 1, []string{"b", "a"}})
	before := len(r.Tags)
	ds := Evaluate(r, Policy{Keep: Keep{Newest: 1}}, now)
	if len(r.Tags) != before || !reflect.DeepEqual(ds[0].Tags, []string{"a", "b"}) {
		t.Fatalf("tags %v, decision tags %v", r.Tags, ds[0].Tags)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"36h", 36 * time.Hour, ""},
		{"30d", 30 * 24 * time.Hour, ""},
		{"2w", 14 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1.5d", 36 * time.Hour, ""},
		{" 3d ", 72 * time.Hour, ""},
		{"36500d", MaxDuration, ""},
		{"36501d", 0, "longer than 100 years"},
		{"999999999d", 0, "longer than 100 years"},
		{"0d", 0, "must be positive"},
		{"-5d", 0, "want a number and a unit"},
		{"30", 0, "want a number and a unit"},
		{"", 0, "is empty"},
		{"3y", 0, `unknown unit "y"`},
		{"1..5d", 0, `bad number "1..5"`},
		{"1.2.3h", 0, `duration "1.2.3h" does not parse: bad number "1.2.3"; want a number and a unit`},
		{"1..5m", 0, `does not parse: bad number "1..5"`},
		{"9999999999999h", 0, "longer than 100 years"},
	} {
		got, err := ParseDuration(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseDuration(%q) error %v, want %q", tc.in, err, tc.err)
		}
	}
	for d, want := range map[time.Duration]string{14 * 24 * time.Hour: "2w", 30 * 24 * time.Hour: "30d", 36 * time.Hour: "36h0m0s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestCompileRegexWholeTag(t *testing.T) {
	re := rx(t, `[0-9]+`, `v1|v2`)
	for _, tc := range []struct {
		re   *regexp.Regexp
		tag  string
		want bool
	}{
		{re[0], "1234", true},
		{re[0], "v1234", false},
		{re[0], "1234a", false},
		{re[1], "v1", true},
		{re[1], "v2", true},
		{re[1], "v12", false}, // alternation stays inside the anchors
		{re[1], "xv1", false},
	} {
		if got := tc.re.MatchString(tc.tag); got != tc.want {
			t.Errorf("%s matches %q = %v, want %v", tc.re, tc.tag, got, tc.want)
		}
	}
	if _, err := CompileRegex("a("); err == nil {
		t.Error("CompileRegex accepted a(")
	}
}

// A keep rule that holds nothing is reported: a keep tag naming no tag
// (a typo) and a keep regex matching none; rules that hold something are
// not.
func TestWarnings(t *testing.T) {
	repo := mkRepo(im{"a", 1, []string{"latest", "1001"}}, im{"b", 2, []string{"v1.0", "v1.2.3"}})
	p := Policy{Keep: Keep{Tags: []string{"lastest", "latest", "v1.2.4", "production"}, Regex: rx(t, `v[0-9]+\.[0-9]+`, `release-.*`)}}
	got := Warnings(repo, p)
	// The closest tag is suggested when it is close enough to be a typo.
	want := []string{
		"keep tag lastest names no tag in " + repo.Name + "; did you mean latest?",
		"keep tag v1.2.4 names no tag in " + repo.Name + "; did you mean v1.2.3?",
		"keep tag production names no tag in " + repo.Name,
		"keep regex release-.* matches no tag in " + repo.Name,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("warnings %q, want %q", got, want)
	}
	if w := Warnings(repo, Policy{Keep: Keep{Newest: 1}}); len(w) != 0 {
		t.Fatalf("warnings %q for a policy without tag rules", w)
	}
}

// Each verdict names its rules, and a tag rule its tag: the codes a
// script reads in the plan's reason_codes.
func TestReasonRules(t *testing.T) {
	r := mkRepo(
		im{"a", 1, []string{"latest", "main-7"}},
		im{"b", 2, []string{"1.2.0"}},
		im{"c", 3, []string{"release-1", "x"}},
		im{"d", 40, []string{"main-3"}},
		im{"e", 50, []string{"old"}},
		im{"f", unknown, []string{"pinned"}},
		im{"g", 60, []string{"release-2", "y"}},
		im{"h", 10, []string{"recent"}},
	)
	p := Policy{
		Keep: Keep{Tags: []string{"latest"}, Regex: rx(t, "release-.*"), Newest: 1, NewerThan: 36 * time.Hour,
			Semver: &Semver{Newest: 1}, Group: &Group{Regex: rx(t, `main-(.*)`)[0], Newest: 1}},
		Delete:      Delete{OlderThan: 30 * 24 * time.Hour},
		UntagUnkept: true,
	}
	type rt struct {
		rule Rule
		tag  string
	}
	want := map[string][]rt{
		"a": {{RuleNewest, ""}, {RuleNewerThan, ""}, {RuleGroup, ""}, {RuleTag, "latest"}},
		"b": {{RuleSemver, "1.2.0"}},
		"c": {{RuleRegex, "release-1"}},
		"d": {{RuleGroup, ""}},
		"e": {{RuleCandidate, ""}},
		"f": {{RuleAgeUnknown, ""}},
		"g": {{RuleRegex, "release-2"}, {RuleUntagUnkept, ""}},
		"h": {{RuleNotCandidate, ""}},
	}
	for _, d := range Evaluate(r, p, now) {
		var got []rt
		for _, why := range d.Reasons {
			got = append(got, rt{why.Rule, why.Tag})
		}
		if !reflect.DeepEqual(got, want[d.Digest]) {
			t.Errorf("%s: rules %v, want %v (%q)", d.Digest, got, want[d.Digest], Texts(d.Reasons))
		}
	}
}
