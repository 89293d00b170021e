package plan_test

import (
	"testing"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/plan/plantest"
)

// The items' Frees add up to each repository's reclaimable bytes, and
// after a partial apply FreedBytes leaves out what was skipped or failed.
func TestFreesAddUp(t *testing.T) {
	p := plantest.Golden(t)
	for _, r := range p.Repositories {
		var sum int64
		for _, it := range r.Items {
			sum += it.Frees
		}
		if sum != r.Summary.ReclaimableBytes {
			t.Errorf("%s: frees add up to %d, reclaimable %d", r.Name, sum, r.Summary.ReclaimableBytes)
		}
	}
	a := plantest.Applied(plantest.Golden(t))
	var lost int64
	for _, r := range a.Repositories {
		for _, it := range r.Items {
			if it.Result == plan.ResultSkipped || it.Result == plan.ResultFailed {
				lost += it.Frees
			}
		}
	}
	// A partial apply frees at most what was not lost, and claims something.
	if freed := a.FreedBytes(); lost == 0 || freed <= 0 || freed > a.Summary.ReclaimableBytes-lost {
		t.Errorf("freed %d, reclaimable %d, lost %d", freed, a.Summary.ReclaimableBytes, lost)
	}
}
