package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/regprune/regprune/internal/graph"
)

// This file holds the keep rules that rank images by something other than
// their age alone: semver (by version precedence within a version line) and
// group (by age within the value of a capture group).

// semverHolds returns, by index into ds (sorted newest first), the reason
// each image is held by the semver rule.
//
// Every tag of an image is parsed as a semantic version (semver.org 2.0.0)
// with an optional "v" prefix; tags that are not versions are ignored, and an
// image without any version tag is not held by this rule. An image counts at
// its highest version. Within each line (major.minor for Per "minor", major
// for Per "major", everything for Per "") the s.Newest highest distinct
// versions are kept, and with them every image at one of those versions:
// versions that differ only in build metadata have the same precedence, so
// they share one place and all their images are held. Pre-releases are
// versions too and rank by precedence: 1.4.0-rc.1 < 1.4.0 < 1.4.1-rc.1.
func semverHolds(ds []Decision, s *Semver) map[int]string {
	if s == nil || s.Newest < 1 {
		return nil
	}
	type entry struct {
		i   int
		tag string
		v   semver
	}
	lines := map[string][]entry{}
	var keys []string
	for i, d := range ds {
		var best *entry
		for _, t := range d.Tags {
			v, ok := parseSemver(t)
			if !ok {
				continue
			}
			if best == nil || compareSemver(v, best.v) > 0 {
				best = &entry{i: i, tag: t, v: v}
			}
		}
		if best == nil {
			continue
		}
		k := best.v.line(s.Per)
		if _, ok := lines[k]; !ok {
			keys = append(keys, k)
		}
		lines[k] = append(lines[k], *best)
	}
	out := map[int]string{}
	for _, k := range keys {
		es := lines[k]
		// Highest version first; equal versions keep ds order (newest first).
		sort.SliceStable(es, func(a, b int) bool { return compareSemver(es[a].v, es[b].v) > 0 })
		distinct := 0
		for j, e := range es {
			if j == 0 || compareSemver(e.v, es[j-1].v) != 0 {
				distinct++
			}
			if distinct > s.Newest {
				break
			}
			out[e.i] = fmt.Sprintf("kept: semver %s among %d newest of %s", e.tag, s.Newest, describeLine(k, s.Per))
		}
	}
	return out
}

func describeLine(key, per string) string {
	switch per {
	case "major":
		return key + ".x"
	case "minor":
		return key
	}
	return "all versions"
}

// groupHolds returns, by index into ds (sorted newest first), the reason
// each image is held by the group rule.
//
// An image belongs to the group named by the first capture of g.Regex in the
// first of its (sorted) tags that the regex matches; an image with no
// matching tag belongs to no group and is not held by this rule. The
// g.Newest newest images of each group are held. An image of unknown age in
// a group is always held: an age-ranked rule cannot rank it, and an image of
// unknown age is never deleted by an age rule.
func groupHolds(ds []Decision, g *Group) map[int]string {
	if g == nil || g.Regex == nil || g.Newest < 1 || g.Regex.NumSubexp() < 1 {
		return nil
	}
	out := map[int]string{}
	rank := map[string]int{}
	for i, d := range ds {
		name, ok := "", false
		for _, t := range d.Tags {
			if m := g.Regex.FindStringSubmatch(t); m != nil {
				name, ok = m[1], true
				break
			}
		}
		if !ok {
			continue
		}
		shown := name
		if shown == "" {
			shown = `""`
		}
		if d.AgeSource == graph.AgeUnknown {
			out[i] = fmt.Sprintf("kept: group %s: age unknown (no usable created time), so the group's newest rule cannot rank it", shown)
			continue
		}
		rank[name]++
		if r := rank[name]; r <= g.Newest {
			out[i] = fmt.Sprintf("kept: group %s: newest %d (rank %d, %s)", shown, g.Newest, r, describeAge(d))
		}
	}
	return out
}

// semver is a parsed semantic version. Numeric parts are kept as decimal
// strings without leading zeros, so that any length compares correctly.
type semver struct {
	major, minor, patch string
	pre                 []string
}

func (v semver) line(per string) string {
	switch per {
	case "major":
		return v.major
	case "minor":
		return v.major + "." + v.minor
	}
	return ""
}

// parseSemver parses a semantic version 2.0.0 with an optional "v" prefix:
// "1.2.3", "v1.2.3", "1.2.3-rc.1", "1.2.3+build.5". Since OCI tags cannot
// hold "+", Helm's spelling of build metadata with "_" ("1.2.3_build.5") is
// accepted too. Partial versions ("1.2", "1") are not versions: they are
// usually moving aliases of the newest release of a line.
func parseSemver(tag string) (semver, bool) {
	s := strings.TrimPrefix(tag, "v")
	if i := strings.IndexAny(s, "+_"); i >= 0 {
		if !validIdents(s[i+1:], false) {
			return semver{}, false
		}
		s = s[:i]
	}
	var v semver
	if i := strings.IndexByte(s, '-'); i >= 0 {
		pre := s[i+1:]
		if !validIdents(pre, true) {
			return semver{}, false
		}
		v.pre = strings.Split(pre, ".")
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return semver{}, false
	}
	for _, p := range parts {
		if !isNumeric(p) || (len(p) > 1 && p[0] == '0') {
			return semver{}, false
		}
	}
	v.major, v.minor, v.patch = parts[0], parts[1], parts[2]
	return v, true
}

// validIdents checks a dot-separated list of non-empty [0-9A-Za-z-]
// identifiers; for pre-release identifiers, numeric ones must not have
// leading zeros.
func validIdents(s string, pre bool) bool {
	if s == "" {
		return false
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return false
			}
		}
		if pre && isNumeric(id) && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// compareNumeric compares decimal strings without leading zeros.
func compareNumeric(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// compareSemver orders versions by semver.org precedence (build metadata is
// not part of a semver value here, so it never matters).
func compareSemver(a, b semver) int {
	if c := compareNumeric(a.major, b.major); c != 0 {
		return c
	}
	if c := compareNumeric(a.minor, b.minor); c != 0 {
		return c
	}
	if c := compareNumeric(a.patch, b.patch); c != 0 {
		return c
	}
	// A release ranks above its pre-releases.
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		x, y := a.pre[i], b.pre[i]
		xn, yn := isNumeric(x), isNumeric(y)
		var c int
		switch {
		case xn && yn:
			c = compareNumeric(x, y)
		case xn:
			c = -1 // numeric identifiers rank below alphanumeric ones
		case yn:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case len(a.pre) < len(b.pre):
		return -1
	case len(a.pre) > len(b.pre):
		return 1
	}
	return 0
}
