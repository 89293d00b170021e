package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	mver "github.com/Masterminds/semver/v3"

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
func semverHolds(ds []Decision, s *Semver) map[int]Reason {
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
	out := map[int]Reason{}
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
			out[e.i] = Reason{Rule: RuleSemver, Tag: e.tag, Text: fmt.Sprintf("kept: semver %s among %d newest of %s", e.tag, s.Newest, describeLine(k, s.Per))}
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
func groupHolds(ds []Decision, g *Group) map[int]Reason {
	if g == nil || g.Regex == nil || g.Newest < 1 || g.Regex.NumSubexp() < 1 {
		return nil
	}
	out := map[int]Reason{}
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
			out[i] = Reason{Rule: RuleGroup, Text: fmt.Sprintf("kept: group %s: age unknown (no usable created time), so the group's newest rule cannot rank it", shown)}
			continue
		}
		rank[name]++
		if r := rank[name]; r <= g.Newest {
			out[i] = Reason{Rule: RuleGroup, Text: fmt.Sprintf("kept: group %s: newest %d (rank %d, %s)", shown, g.Newest, r, describeAge(d))}
		}
	}
	return out
}

// semver is a parsed semantic version (github.com/Masterminds/semver, the
// library Helm uses), without build metadata.
type semver struct{ *mver.Version }

func (v semver) line(per string) string {
	switch per {
	case "major":
		return strconv.FormatUint(v.Major(), 10)
	case "minor":
		return strconv.FormatUint(v.Major(), 10) + "." + strconv.FormatUint(v.Minor(), 10)
	}
	return ""
}

// parseSemver parses a semantic version 2.0.0 with an optional "v" prefix:
// "1.2.3", "v1.2.3", "1.2.3-rc.1", "1.2.3+build.5". Since OCI tags cannot
// hold "+", Helm's spelling of build metadata with "_" ("1.2.3_build.5") is
// accepted too. Partial versions ("1.2", "1") are not versions: they are
// usually moving aliases of the newest release of a line (hence
// StrictNewVersion, which refuses them, and not NewVersion). Numeric parts
// beyond 2^64-1 are not versions either (the library's bound).
func parseSemver(tag string) (semver, bool) {
	s := strings.TrimPrefix(tag, "v")
	if i := strings.IndexAny(s, "+_"); i >= 0 && s[i] == '_' {
		s = s[:i] + "+" + s[i+1:]
	}
	v, err := mver.StrictNewVersion(s)
	if err != nil {
		return semver{}, false
	}
	if v.Metadata() != "" {
		// Build metadata never ranks; drop it so that String is the
		// version that counts.
		w, err := v.SetMetadata("")
		if err != nil {
			return semver{}, false
		}
		v = &w
	}
	return semver{v}, true
}

// compareSemver orders versions by semver.org precedence.
func compareSemver(a, b semver) int { return a.Compare(b.Version) }
