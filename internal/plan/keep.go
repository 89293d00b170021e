package plan

import (
	"sort"

	"github.com/regprune/regprune/internal/graph"
)

// sortedKeys lists the keys of m in order.
func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// isImage reports whether tags, the tags of a digest, include one that
// is not an artifact tag.
func isImage(tags []string) bool {
	for _, t := range tags {
		if _, _, ok := graph.ArtifactTag(t); !ok {
			return true
		}
	}
	return false
}

// keepClosure keeps what the policy keeps and, recursively, every child
// and referrer of a kept manifest, each with the reason it is kept: the
// relation and the kept manifest that reaches it (named by the tag through
// which it is reached).
func (b *builder) keepClosure() {
	b.keep, b.keepWhy = map[string]bool{}, map[string]Reason{}
	via := map[string]string{} // the tag through which a dependant is reached
	var queue []string
	for _, d := range b.ds {
		if d.Keep {
			b.keep[d.Digest] = true
			via[d.Digest] = heldTag(d, b.p)
			queue = append(queue, d.Digest)
		}
	}
	// A referrers fallback tag that names no referrers index of its
	// subject (graph.FallbackProblem) decides nothing about the subject;
	// what it names, if no image tag names it, stays with what it lists
	// (the tag stays, and the final guard would keep them anyway).
	for _, t := range sortedKeys(b.repo.FallbackRejected) {
		d := b.repo.Tags[t]
		subject, _, _ := graph.ArtifactTag(t)
		if d == subject || b.keep[d] || isImage(b.tagsOf[d]) {
			continue
		}
		b.keep[d] = true
		b.keepWhy[d] = FallbackRejected(t, subject)
		via[d] = t
		queue = append(queue, d)
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, n := range neighbours(b.repo, d) {
			if !b.keep[n.digest] {
				b.keep[n.digest] = true
				b.keepWhy[n.digest] = b.reached(KeptReached, n, d, via)
				via[n.digest] = viaTag(d, b.tagsOf, via)
				queue = append(queue, n.digest)
			}
		}
	}
}

// reached is the reason of n, reached from d: its relation to d, and d
// with the tag through which d is reached; why is KeptReached or
// DeleteReached.
func (b *builder) reached(why func(relation, of, digest, tag string) Reason, n edge, d string, via map[string]string) Reason {
	return why(relation(n, b.tagsOf), describe(b.repo, d, b.tagsOf), d, viaTag(d, b.tagsOf, via))
}
