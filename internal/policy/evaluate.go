package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/regprune/regprune/internal/graph"
)

// Decision is the verdict on one image (a tagged digest).
type Decision struct {
	Digest    string
	Tags      []string        // the image's non-artifact tags
	Created   time.Time       // zero when unknown
	AgeSource graph.AgeSource // where Created came from
	Keep      bool
	Reasons   []Reason
	// StaleTags are tags of a kept image that no rule holds and that the
	// delete filters select: the image stays, these names may go. Only
	// with Policy.UntagUnkept; without it a kept image keeps every tag.
	StaleTags []string
}

// Evaluate decides over every image of repo at time now, with nothing in
// use; see EvaluateInUse.
func Evaluate(repo *graph.Repository, p Policy, now time.Time) []Decision {
	return EvaluateInUse(repo, p, InUse{}, now)
}

// EvaluateInUse decides over every image of repo at time now. An image
// that in names (its digest, a tag, or a child's digest) is kept whatever
// the other rules say (RuleInUse, the first reason). The result is sorted
// by creation time, newest first, unknown ages last, then by digest.
func EvaluateInUse(repo *graph.Repository, p Policy, in InUse, now time.Time) []Decision {
	ds := sortedDecisions(repo, p.AgeFrom)
	whole := imageHolds(repo, ds, p, in, now)
	expired := expiries(repo, ds, p, now)
	for i := range ds {
		d := &ds[i]
		cand, candWhy := candidate(d, p.Delete, now)
		if expired != nil {
			cand, candWhy = expired[i].candidate(cand, candWhy, p.Delete)
		}
		decide(d, whole[i], p, cand, candWhy)
		if expired != nil {
			expired[i].mark(d)
		}
	}
	return ds
}

// sortedDecisions returns a Decision for each image of repo, with its age
// and nothing decided yet, sorted by creation time, newest first, unknown
// ages last, then by digest.
func sortedDecisions(repo *graph.Repository, from []graph.AgeSource) []Decision {
	imgs := repo.Images()
	ds := make([]Decision, len(imgs))
	for i, im := range imgs {
		t, src := repo.Created(im.Digest, from)
		ds[i] = Decision{Digest: im.Digest, Tags: im.Tags, Created: t, AgeSource: src}
	}
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if ka, kb := a.AgeSource != graph.AgeUnknown, b.AgeSource != graph.AgeUnknown; ka != kb {
			return ka
		}
		if !a.Created.Equal(b.Created) {
			return a.Created.After(b.Created)
		}
		return a.Digest < b.Digest
	})
	return ds
}

// imageHolds returns, for each decision of ds, the image-level holds:
// rules that keep the whole image with all its tags (in use first, then
// age, newest, newer than, semver, group).
func imageHolds(repo *graph.Repository, ds []Decision, p Policy, in InUse, now time.Time) [][]Reason {
	whole := make([][]Reason, len(ds))
	hold := func(i int, why Reason) { whole[i] = append(whole[i], why) }
	for i, d := range ds {
		if why := inUseHold(repo, d.Digest, d.Tags, in); why.Rule != "" {
			hold(i, why)
		}
	}
	ageRules := p.Keep.Newest > 0 || p.Keep.NewerThan > 0
	rank := 0
	for i, d := range ds {
		known := d.AgeSource != graph.AgeUnknown
		if !known {
			if ageRules {
				hold(i, Reason{Rule: RuleAgeUnknown, Text: "kept: age unknown (no usable created time), so no age rule can rank it"})
			}
			continue
		}
		rank++
		if p.Keep.Newest > 0 && rank <= p.Keep.Newest {
			hold(i, Reason{Rule: RuleNewest, Text: fmt.Sprintf("kept: newest %d (rank %d, %s)", p.Keep.Newest, rank, describeAge(d))})
		}
		if p.Keep.NewerThan > 0 && now.Sub(d.Created) < p.Keep.NewerThan {
			hold(i, Reason{Rule: RuleNewerThan, Text: fmt.Sprintf("kept: newer than %s (%s)", FormatDuration(p.Keep.NewerThan), describeAge(d))})
		}
	}
	for i, why := range semverHolds(ds, p.Keep.Semver) {
		hold(i, why)
	}
	for i, why := range groupHolds(ds, p.Keep.Group) {
		hold(i, why)
	}
	return whole
}

// decide sets d's verdict and reasons: kept by the image-level holds
// whole, by tag rules, or as no delete candidate (cand false, candWhy
// says why), else deleted.
func decide(d *Decision, whole []Reason, p Policy, cand bool, candWhy string) {
	tagHeld := map[string]Reason{}
	for _, t := range d.Tags {
		if why := tagHold(t, p.Keep); why.Rule != "" {
			tagHeld[t] = why
		}
	}
	switch {
	case len(whole) > 0:
		d.Keep, d.Reasons = true, whole
		for _, t := range d.Tags {
			if why, ok := tagHeld[t]; ok {
				d.Reasons = append(d.Reasons, why)
			}
		}
	case len(tagHeld) > 0:
		d.Keep = true
		for _, t := range d.Tags {
			if why, ok := tagHeld[t]; ok {
				d.Reasons = append(d.Reasons, why)
			}
		}
		// The image is the unit: it keeps every tag. Only with the
		// untag_unkept opt-in does a candidate that only tag rules hold
		// lose its other tags, as the image would have gone without
		// them. An image that is no candidate keeps every tag.
		for _, t := range d.Tags {
			if _, ok := tagHeld[t]; !ok && cand && p.UntagUnkept {
				d.StaleTags = append(d.StaleTags, t)
			}
		}
		if len(d.StaleTags) > 0 {
			d.Reasons = append(d.Reasons, Reason{Rule: RuleUntagUnkept, Text: fmt.Sprintf("untag: %s held by no rule (untag_unkept); the digest stays for its kept tags", strings.Join(d.StaleTags, ", "))})
		}
	case !cand:
		d.Keep, d.Reasons = true, []Reason{{Rule: RuleNotCandidate, Text: "kept: not a delete candidate: " + candWhy}}
	default:
		d.Keep, d.Reasons = false, []Reason{{Rule: RuleCandidate, Text: "delete: " + candWhy + "; no keep rule holds it"}}
	}
}

func describeAge(d Decision) string {
	if d.AgeSource == graph.AgeUnknown {
		return "age unknown"
	}
	return fmt.Sprintf("created %s from %s", d.Created.UTC().Format(time.RFC3339), d.AgeSource)
}

func tagHold(tag string, k Keep) Reason {
	for _, t := range k.Tags {
		if t == tag {
			return Reason{Rule: RuleTag, Tag: tag, Text: "kept: tag " + tag}
		}
	}
	for _, re := range k.Regex {
		if re.MatchString(tag) {
			return Reason{Rule: RuleRegex, Tag: tag, Text: fmt.Sprintf("kept: tag %s matches keep regex %s", tag, unanchor(re.String()))}
		}
	}
	return Reason{}
}

// candidate reports whether the delete filters select the image, and why
// (or why not).
func candidate(d *Decision, f Delete, now time.Time) (bool, string) {
	var why []string
	if len(f.Regex) > 0 {
		for _, t := range d.Tags {
			if !matchesAny(t, f.Regex) {
				return false, fmt.Sprintf("tag %s matches no delete regex", t)
			}
		}
		why = append(why, "every tag matches a delete regex")
	}
	if f.OlderThan > 0 {
		if d.AgeSource == graph.AgeUnknown {
			return false, "age unknown, and older-than never deletes an image of unknown age"
		}
		if now.Sub(d.Created) <= f.OlderThan {
			return false, fmt.Sprintf("not older than %s (%s)", FormatDuration(f.OlderThan), describeAge(*d))
		}
		why = append(why, fmt.Sprintf("older than %s (%s)", FormatDuration(f.OlderThan), describeAge(*d)))
	}
	if len(why) == 0 {
		return true, "no delete filter limits candidates"
	}
	return true, strings.Join(why, ", ")
}

func matchesAny(s string, res []*regexp.Regexp) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// unanchor shows a regex as the user wrote it.
func unanchor(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(s, "^(?:"), ")$")
}
