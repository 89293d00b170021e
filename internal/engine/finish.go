package engine

import (
	"context"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/plan"
)

// finishInterrupted uses the journal to finish what an interrupted run
// left half-done: the signatures and referrers of subjects that a
// recorded run deleted stay behind as orphans. plan.FinishLeftBehind
// decides, from what the journal records deleted in this repository,
// which of them to delete; the deletion then goes through the normal
// apply path: re-check, safe order, final guard.
func finishInterrupted(ctx context.Context, g *graph.Repository, r *plan.RepoPlan, o Options) {
	if o.Journal == nil || r.Refused || r.Err != nil || len(plan.GoneSubjects(g)) == 0 {
		return
	}
	deleted, err := o.Journal.Deleted(ctx, g.Name)
	if err != nil {
		o.Logger.Warn("journal: not reading what earlier runs deleted", "repository", g.Name, "err", err)
		return
	}
	for _, it := range plan.FinishLeftBehind(g, r, deleted) {
		o.Logger.Info("journal: finishing an interrupted run", "repository", g.Name, "digest", it.Digest, "run", it.Reasons[0].Run)
	}
}
