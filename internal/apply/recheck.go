package apply

// The re-check: right before deleting, list the repository again, resolve
// every tag, and skip each planned item whose tags changed since the plan.

import (
	"context"
	"fmt"
	"sort"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/plan"
)

// resolve lists the tags and HEADs each one, through inventory's Reader.
// A tag that vanishes between list and HEAD is left out; one still listed
// that does not resolve fails the re-check (see inventory.Unresolved).
func (a *run) resolve() (map[string]string, error) {
	return a.read.Tags(a.req)
}

// verify skips items whose tags changed since the plan. It fails only when
// the manifest of a tag that changed since the plan cannot be read.
func (a *run) verify(items []*plan.Item, now map[string]string) error {
	reached, err := a.reachedByChangedTags(now)
	if err != nil {
		return err
	}
	on := map[string][]string{}
	for t, d := range now {
		on[d] = append(on[d], t)
	}
	// A signature, attestation or referrers tag of a digest, pushed or
	// moved since the plan: someone just signed or annotated it.
	artifacts := map[string][]string{}
	planned := a.plannedTags()
	for t, d := range now {
		if subject, _, ok := graph.ArtifactTag(t); ok && planned[t] != d {
			artifacts[subject] = append(artifacts[subject], t)
		}
	}
	for _, it := range items {
		if it.Result != "" {
			continue
		}
		planned := map[string]bool{}
		for _, t := range it.Tags {
			planned[t] = true
			if d, ok := now[t]; ok && d != it.Digest {
				set(it, plan.ResultSkipped, plan.TagMoved(t, d))
				break
			}
		}
		if it.Result != "" {
			continue
		}
		if it.Action == plan.ActionDelete {
			var appeared []string
			for _, t := range on[it.Digest] {
				if !planned[t] {
					appeared = append(appeared, t)
				}
			}
			if len(appeared) > 0 {
				sort.Strings(appeared)
				set(it, plan.ResultSkipped, plan.TagAppeared(appeared))
			} else if t, ok := reached[it.Digest]; ok {
				set(it, plan.ResultSkipped, plan.ReachedByNewTag(t))
			} else if ts := artifacts[it.Digest]; len(ts) > 0 {
				sort.Strings(ts)
				set(it, plan.ResultSkipped, plan.ArtifactTagMoved(ts))
			}
			continue
		}
		// An untag: each stale tag must still name the kept digest.
		var keepTags []string
		for _, t := range it.Untag {
			if d, ok := now[t]; ok && d == it.Digest {
				keepTags = append(keepTags, t)
			}
		}
		if len(keepTags) == 0 {
			set(it, plan.ResultSkipped, plan.StaleTagsGone())
		}
		it.Untag = keepTags
	}
	return nil
}

// plannedTags is every tag the plan saw, with its digest then.
func (a *run) plannedTags() map[string]string {
	out := make(map[string]string, len(a.r.Tags))
	for t, d := range a.r.Tags {
		out[t] = d
	}
	for i := range a.r.Items {
		for _, t := range a.r.Items[i].Tags {
			out[t] = a.r.Items[i].Digest
		}
	}
	return out
}

// reachedByChangedTags finds the planned deletions that a tag not in the
// plan reaches through index children: a tag pushed or moved since the
// plan may name an index that references a digest the plan meant to
// delete (a child, or an image re-used as a child). It reads the manifest
// of each such tag and walks its children, and maps each planned deletion
// it reaches to the tag. A tag that names a planned deletion itself is
// caught by verify's own checks.
func (a *run) reachedByChangedTags(now map[string]string) (map[string]string, error) {
	reached := map[string]string{}
	del := map[string]bool{}
	for i := range a.r.Items {
		if a.r.Items[i].Action == plan.ActionDelete {
			del[a.r.Items[i].Digest] = true
		}
	}
	if len(del) == 0 {
		return reached, nil
	}
	planned := a.plannedTags()
	var changed []string
	for t, d := range now {
		if planned[t] != d {
			changed = append(changed, t)
		}
	}
	sort.Strings(changed)
	if len(changed) > 0 {
		a.o.Logger.Info("tags changed since the plan; reading what they reach before deleting", "repository", a.t.Name(), "tags", len(changed))
	}
	via := map[string]string{} // digest -> the changed tag that reaches it
	var roots []string
	for _, t := range changed {
		if d := now[t]; via[d] == "" {
			via[d] = t
			roots = append(roots, d)
		}
	}
	err := a.read.Walk(a.req, roots, inventory.Walk{What: "indexes", MaxDepth: 16,
		Next: func(ctx context.Context, d string) ([]string, error) {
			c, err := a.read.Children(ctx, d)
			if err != nil {
				return nil, fmt.Errorf("tag %s: %w", via[d], err)
			}
			return c, nil
		},
		Found: func(d, c string) {
			if _, ok := reached[c]; !ok && del[c] {
				reached[c] = via[d]
			}
			if via[c] == "" {
				via[c] = via[d]
			}
		}})
	if err != nil {
		return nil, err
	}
	return reached, nil
}
