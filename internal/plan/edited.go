package plan

import "strings"

// ReasonPlanEdited: a loaded item's action was edited by hand in the plan
// file; its reasons were for the other action.
const ReasonPlanEdited ReasonCode = "plan_edited"

// followAction makes a loaded item's reasons agree with its action: a
// plan file edited by hand (a row turned from delete to keep, or the
// reverse) keeps the reasons of the other action, which would show
// "keep" with "delete: ...". The reasons are then replaced by what the
// file says.
func followAction(it *Item) {
	says := func(prefix string) bool {
		for _, r := range it.Reasons {
			if strings.HasPrefix(r.String(), prefix) {
				return true
			}
		}
		return false
	}
	switch {
	case it.Action == ActionKeep && says("delete") && !says("kept"):
		it.Reasons = []Reason{{Code: ReasonPlanEdited, loaded: "kept: the plan file says keep (edited: its reason was for delete)"}}
	case it.Action == ActionDelete && says("kept") && !says("delete"):
		it.Reasons = []Reason{{Code: ReasonPlanEdited, loaded: "delete: the plan file says delete (edited: its reason was for keep)"}}
	}
}
