package policy

import (
	"fmt"
	"sort"

	"github.com/regprune/regprune/internal/graph"
)

// Warnings lists the keep rules of p that hold nothing in repo: a keep tag
// that names no tag of the repository (a typo such as "lastest" would
// otherwise pass in silence) and a keep regex that matches no tag. A
// warning changes no decision. A keep tag close to an existing tag names
// it ("did you mean v1.2.3?"). It is pure, like Evaluate. Expiry labels
// that do not parse or that an index's children disagree on come first.
func Warnings(repo *graph.Repository, p Policy) []string {
	out := expiryWarnings(repo, p)
	for _, t := range p.Keep.Tags {
		if _, ok := repo.Tags[t]; !ok {
			w := fmt.Sprintf("keep tag %s names no tag in %s", t, repo.Name)
			if near := closestTag(t, repo.Tags); near != "" {
				w += "; did you mean " + near + "?"
			}
			out = append(out, w)
		}
	}
	if len(p.Keep.Regex) == 0 {
		return out
	}
	tags := make([]string, 0, len(repo.Tags))
	for t := range repo.Tags {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	for _, re := range p.Keep.Regex {
		matched := false
		for _, t := range tags {
			if re.MatchString(t) {
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, fmt.Sprintf("keep regex %s matches no tag in %s", unanchor(re.String()), repo.Name))
		}
	}
	return out
}
