package plan

// What a manifest reaches (children, referrers) and how reasons name it.

import (
	"slices"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/policy"
)

type edge struct {
	digest, kind, rel string
}

// neighbours lists what d reaches: its children and its referrers.
func neighbours(repo *graph.Repository, d string) []edge {
	var out []edge
	if m := repo.Manifests[d]; m != nil {
		for _, c := range m.Children {
			if _, ok := repo.Manifests[c]; ok {
				out = append(out, edge{c, KindChild, "child"})
			}
		}
	}
	for _, r := range repo.Referrers[d] {
		out = append(out, edge{r, KindReferrer, "referrer"})
	}
	return out
}

// relation names what n is to the manifest that reaches it: a child, a
// signature (cosign .sig/.att/.sbom tag) or a referrer.
func relation(n edge, tagsOf map[string][]string) string {
	if n.kind == KindChild {
		return "child"
	}
	if isSignature(tagsOf[n.digest]) {
		return "signature"
	}
	return "referrer"
}

// describe says what d is, for a reason: an image, index, signature or
// referrer.
func describe(repo *graph.Repository, d string, tagsOf map[string][]string) string {
	switch m := repo.Manifests[d]; {
	case isSignature(tagsOf[d]):
		return "signature"
	case m != nil && m.Subject != "":
		return "referrer"
	case m != nil && m.IsIndex():
		return "index"
	}
	return "image"
}

// viaTag is d's first tag that is not a signature or fallback tag, or else
// the tag through which d was reached.
func viaTag(d string, tagsOf map[string][]string, via map[string]string) string {
	if t := via[d]; t != "" {
		return t
	}
	for _, t := range tagsOf[d] {
		if _, _, ok := graph.ArtifactTag(t); !ok {
			return t
		}
	}
	return via[d]
}

// heldTag is the tag of a kept image that a tag rule holds, if any.
func heldTag(d policy.Decision, p policy.Policy) string {
	for _, t := range d.Tags {
		if slices.Contains(p.Keep.Tags, t) {
			return t
		}
		for _, re := range p.Keep.Regex {
			if re.MatchString(t) {
				return t
			}
		}
	}
	return ""
}

func isSignature(tags []string) bool {
	for _, t := range tags {
		if _, suffix, ok := graph.ArtifactTag(t); ok && suffix != "" {
			return true
		}
	}
	return false
}

func kindOf(repo *graph.Repository, d string, tags []string, parents map[string]string) string {
	if isSignature(tags) {
		return KindSignature
	}
	for _, t := range tags {
		if _, bad := repo.FallbackRejected[t]; bad {
			continue // decides nothing (graph.FallbackProblem)
		}
		if _, _, ok := graph.ArtifactTag(t); ok {
			return KindReferrer
		}
	}
	if m := repo.Manifests[d]; m != nil && m.Subject != "" {
		return KindReferrer
	}
	if _, ok := parents[d]; ok {
		return KindChild
	}
	return KindImage
}

// relations maps each child to a parent and each referrer to a subject,
// preferring kept ones.
func relations(repo *graph.Repository, keep map[string]bool) (parents, subjects map[string]string) {
	parents, subjects = map[string]string{}, map[string]string{}
	for p, m := range repo.Manifests {
		for _, c := range m.Children {
			if cur, ok := parents[c]; !ok || (!keep[cur] && keep[p]) || (keep[cur] == keep[p] && p < cur) {
				parents[c] = p
			}
		}
	}
	for s, refs := range repo.Referrers {
		for _, r := range refs {
			if cur, ok := subjects[r]; !ok || (!keep[cur] && keep[s]) || (keep[cur] == keep[s] && s < cur) {
				subjects[r] = s
			}
		}
	}
	return parents, subjects
}

func fill(it *Item, m *graph.Manifest) {
	if m == nil {
		return
	}
	it.MediaType, it.Size = m.MediaType, m.Size
}
