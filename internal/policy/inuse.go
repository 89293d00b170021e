package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/regprune/regprune/internal/graph"
)

// RuleInUse keeps an image that a running workload or an in-use list
// names, by its digest, a child's digest or one of its tags. It wins over
// every delete rule, as a kept tag does, and keeps every tag of the image
// (untag_unkept never removes one).
const RuleInUse Rule = "keep_in_use"

// InUse is what names images of one repository as in use: digests and
// tags, each with who uses it ("Deployment prod/web (context prod)").
// The zero value names nothing. It is an input of Evaluate like the
// policy: collected before any repository is planned, never read here.
type InUse struct {
	Digests map[string][]string
	Tags    map[string][]string
}

// Empty reports whether in names nothing.
func (in InUse) Empty() bool { return len(in.Digests) == 0 && len(in.Tags) == 0 }

// maxUsersShown bounds the users a reason names.
const maxUsersShown = 3

// inUseHold is why the image digest with tags is in use, or the zero
// Reason: its digest, a tag of it, or a manifest it reaches through
// children (a child a pod runs by digest keeps its index) is named.
func inUseHold(repo *graph.Repository, digest string, tags []string, in InUse) Reason {
	if in.Empty() {
		return Reason{}
	}
	var users []string
	var what []string
	if u := in.Digests[digest]; len(u) > 0 {
		users = append(users, u...)
	}
	for _, t := range tags {
		if u := in.Tags[t]; len(u) > 0 {
			users = append(users, u...)
			what = append(what, "tag "+t)
		}
	}
	for _, c := range descendants(repo, digest) {
		if u := in.Digests[c]; len(u) > 0 {
			users = append(users, u...)
			what = append(what, "child "+shortDigest(c))
		}
	}
	if len(users) == 0 {
		return Reason{}
	}
	text := "kept: in use by " + listUsers(users)
	if len(what) > 0 {
		text += " (" + strings.Join(what, ", ") + ")"
	}
	return Reason{Rule: RuleInUse, Text: text}
}

// descendants lists the manifests digest reaches through children, at any
// depth, each once.
func descendants(repo *graph.Repository, digest string) []string {
	if repo == nil {
		return nil
	}
	seen := map[string]bool{digest: true}
	var out []string
	queue := []string{digest}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		m := repo.Manifests[d]
		if m == nil {
			continue
		}
		for _, c := range m.Children {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out
}

// listUsers names the distinct users, sorted, at most maxUsersShown.
func listUsers(users []string) string {
	seen := map[string]bool{}
	var u []string
	for _, s := range users {
		if !seen[s] {
			seen[s] = true
			u = append(u, s)
		}
	}
	sort.Strings(u)
	if len(u) > maxUsersShown {
		return strings.Join(u[:maxUsersShown], ", ") + fmt.Sprintf(" and %d more", len(u)-maxUsersShown)
	}
	return strings.Join(u, ", ")
}
