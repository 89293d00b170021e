package plan

import (
	"sort"

	"github.com/regprune/regprune/internal/graph"
)

// orphan is a signature or referrer whose subject is in no image of the
// repository (it lives in another repository, or something else removed
// it), or a referrer or child of such an orphan.
type orphan struct {
	subject, parent string // the absent subject, or the orphan it hangs on
	root            string // the absent subject the chain starts at
}

// orphansOf finds the orphans among rest (manifests no image reaches and
// nothing kept reaches): a manifest whose every subject (its subject
// field, and the subject its artifact tags name) is absent from the
// repository, and, recursively, what only such orphans reach.
func orphansOf(repo *graph.Repository, rest []string, kept map[string]Reason, tagsOf map[string][]string) map[string]orphan {
	out := map[string]orphan{}
	candidate := map[string]bool{}
	for _, d := range rest {
		if _, ok := kept[d]; !ok {
			candidate[d] = true
		}
	}
	var queue []string
	for _, d := range rest {
		if !candidate[d] {
			continue
		}
		var subjects []string
		if m := repo.Manifests[d]; m != nil && m.Subject != "" {
			subjects = append(subjects, m.Subject)
		}
		for _, t := range tagsOf[d] {
			if _, bad := repo.FallbackRejected[t]; bad {
				continue // decides nothing (graph.FallbackProblem)
			}
			if s, _, ok := graph.ArtifactTag(t); ok {
				subjects = append(subjects, s)
			}
		}
		if len(subjects) == 0 {
			continue
		}
		absent := true
		for _, s := range subjects {
			if _, ok := repo.Manifests[s]; ok || len(tagsOf[s]) > 0 {
				absent = false
			}
		}
		if absent {
			sort.Strings(subjects)
			out[d] = orphan{subject: subjects[0], root: subjects[0]}
			queue = append(queue, d)
		}
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, n := range neighbours(repo, d) {
			if _, done := out[n.digest]; done || !candidate[n.digest] {
				continue
			}
			o := orphan{root: out[d].root}
			if n.kind == KindChild {
				o.parent = d
			} else {
				o.subject = d
			}
			out[n.digest] = o
			queue = append(queue, n.digest)
		}
	}
	return out
}

// orphanItem fills it for an orphan: listed as one, deleted only when the
// policy opts in.
func orphanItem(it *Item, o orphan, del bool) {
	it.Parent, it.Subject = o.parent, o.subject
	if del {
		it.Action = ActionDelete
		it.Reasons = []Reason{OrphanDeleted(o.root)}
		return
	}
	it.Action = ActionKeep
	it.Reasons = []Reason{Orphan(o.root)}
}
