package plan

import "github.com/regprune/regprune/internal/policy"

// refuse refuses a plan that would delete every image of a repository,
// unless the policy allows it: every delete becomes a keep, with the
// refusal as its first reason, and the repository fails with
// ErrRefusedEmpty.
func refuse(repo string, items []Item, p policy.Policy) (bool, error) {
	images, kept := 0, 0
	for _, it := range items {
		if it.Kind == KindImage {
			images++
			if it.Action == ActionKeep {
				kept++
			}
		}
	}
	if images == 0 || kept > 0 || p.AllowEmpty {
		return false, nil
	}
	for i := range items {
		if items[i].Action == ActionDelete {
			items[i].Action = ActionKeep
			items[i].Reasons = append([]Reason{{Code: ReasonPlanRefused}}, items[i].Reasons...)
		}
	}
	return true, refusedEmpty(repo, images)
}
