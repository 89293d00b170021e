package plan

import (
	"fmt"

	"github.com/regprune/regprune/internal/policy"
)

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
			items[i].Reasons = append([]Reason{PlanRefused()}, items[i].Reasons...)
		}
	}
	return true, refusedEmpty(repo, images)
}

// RefuseEmpty runs the refusal of a plan that would delete every image on
// a plan read from a file, as Build runs it on the plans it makes: each
// repository whose images the file all deletes is refused, unless allow
// (--allow-empty on the command line; a plan file cannot say it). allow
// also goes to apply, which checks the same again on the registry as it
// is then (RefusedEmptyNow): a file that lists only deletions and leaves
// its kept images out must not empty a repository either.
func (p *Plan) RefuseEmpty(allow bool) {
	for i := range p.Repositories {
		r := &p.Repositories[i]
		r.AllowEmpty = allow
		if r.Err != nil {
			continue
		}
		if refused, err := refuse(r.Name, r.Items, policy.Policy{AllowEmpty: allow}); refused {
			r.Refused, r.Err = true, err
			r.recount()
		}
	}
	p.Recount()
}

// RefusedEmptyNow is apply's refusal of a plan that would leave repo
// without an image, found on the registry just before deleting: every one
// of its tags (tags of them now) would go, and no image the plan keeps is
// there.
func RefusedEmptyNow(repo string, tags int) error {
	return Fail(ErrorRefusedEmpty, fmt.Errorf("%w of %s: the plan removes all %d tags it has now and keeps no image it still holds; pass --allow-empty if that is what you want", ErrRefusedEmpty, repo, tags))
}
