package journal

import (
	"context"
	"fmt"
)

// Holders returns, for each manifest digest of repository that a run
// journaled as deleted, pending or failed (a DELETE that may have taken
// effect), the newest such run, preferring one that recorded it deleted:
// the run whose restore brings that manifest back.
func (j *Journal) Holders(ctx context.Context, repository string) (map[string]string, error) {
	rows, err := j.db.QueryContext(ctx, `SELECT digest, result = 'deleted', max(run_id) FROM entries
		WHERE repository = ? AND kind = 'manifest' AND result IN ('deleted', 'pending', 'failed')
		GROUP BY digest, result = 'deleted'`, repository)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	deleted := map[string]bool{}
	for rows.Next() {
		var d, run string
		var del bool
		if err := rows.Scan(&d, &del, &run); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		if del || !deleted[d] {
			if del || out[d] == "" {
				out[d] = run
			}
			deleted[d] = deleted[d] || del
		}
	}
	return out, rows.Err()
}
