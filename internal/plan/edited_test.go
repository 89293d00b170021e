package plan

import (
	"strings"
	"testing"
)

// A row of a saved plan turned from delete to keep by hand shows a keep
// reason, not "delete: ..." (internal/report's TestRunLine checks the
// run line of an apply report).
func TestEditedRow(t *testing.T) {
	it := Item{Action: ActionKeep, Reasons: []Reason{{loaded: "delete: older than 30d; no keep rule holds it"}}}
	followAction(&it)
	if got := strings.Join(Texts(it.Reasons), "; "); !strings.HasPrefix(got, "kept: the plan file says keep") {
		t.Errorf("reason %q for a row edited to keep", got)
	}
	it = Item{Action: ActionDelete, Reasons: []Reason{{loaded: "kept: tag latest"}}}
	followAction(&it)
	if got := strings.Join(Texts(it.Reasons), "; "); !strings.HasPrefix(got, "delete: the plan file says delete") {
		t.Errorf("reason %q for a row edited to delete", got)
	}
	it = Item{Action: ActionKeep, Reasons: []Reason{{loaded: "kept: tag latest"}}}
	followAction(&it)
	if got := strings.Join(Texts(it.Reasons), "; "); got != "kept: tag latest" {
		t.Errorf("an unedited row's reason changed: %q", got)
	}
}
