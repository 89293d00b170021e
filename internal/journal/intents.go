package journal

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Intents. Before its first DELETE in a repository, apply records what it
// sets out to delete there: each digest, the tags it had in the plan and
// what it hung from (its parent or subject). An interrupted run leaves
// some of that untagged and undeleted, where no tag leads a later plan to
// it; Unfinished finds it again, with the evidence that this tool, and
// not someone else, left it so. A later run decides from that evidence
// and the registry as it is (engine: finishUnfinished).

// Intent is one digest a run set out to delete.
type Intent struct {
	Digest string   `json:"-"`
	Tags   []string `json:"t,omitempty"` // its tags in the plan
	Via    string   `json:"v,omitempty"` // its parent or subject in the plan, if any
}

// RecordIntents records what run sets out to delete in repository,
// committed before it returns.
func (j *Journal) RecordIntents(ctx context.Context, run, repository string, intents []Intent) error {
	if run == "" || repository == "" {
		return errors.New("journal: intents without run or repository")
	}
	m := make(map[string]Intent, len(intents))
	for _, in := range intents {
		m[in.Digest] = in
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	err = j.write(ctx, func(tx *wtx) error {
		_, err := tx.tx.Exec(`INSERT OR REPLACE INTO intents (run_id, repository, deletes) VALUES (?, ?, ?)`, run, repository, string(b))
		return err
	})
	if err != nil {
		return fmt.Errorf("journal: recording what run %s deletes in %s: %w", run, repository, err)
	}
	return nil
}

// Unfinished is a digest that a run set out to delete and that, by the
// journal, it did not delete.
type Unfinished struct {
	Digest string
	Run    string   // the newest run that set out to delete it
	Tags   []string // its tags in that run's plan
	Via    string   // its parent or subject in that plan; "" for an image
	// Untagged lists those of Tags whose DELETE that run sent (deleted,
	// not_found, or pending: it may have gone through).
	Untagged []string
	// Sent: that run sent the DELETE of the digest itself, and it may
	// have gone through in part (pending, failed).
	Sent bool
	// ViaSent: that run sent the DELETE of Via (deleted, not_found,
	// pending).
	ViaSent bool
}

// Unfinished lists the digests of repository that a run set out to
// delete (RecordIntents) and did not record as deleted, each with the
// newest such run and what that run did. A digest that run recorded as
// deleted (or found gone) is left out: if the registry has it now, it was
// pushed again since. A journal older than the intents gives nil.
func (j *Journal) Unfinished(ctx context.Context, repository string) ([]Unfinished, error) {
	var n int
	if err := j.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'intents'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if n == 0 {
		return nil, nil // an older schema, opened read-only: no intents yet
	}
	rows, err := j.db.QueryContext(ctx, `SELECT run_id, deletes FROM intents WHERE repository = ? ORDER BY run_id`, repository)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	newest := map[string]*Unfinished{}
	for rows.Next() {
		var run, deletes string
		if err := rows.Scan(&run, &deletes); err != nil {
			rows.Close()
			return nil, fmt.Errorf("journal: %w", err)
		}
		var m map[string]Intent
		if err := json.Unmarshal([]byte(deletes), &m); err != nil {
			rows.Close()
			return nil, fmt.Errorf("journal: intents of run %s: %w", run, err)
		}
		for d, in := range m { // later runs replace earlier ones
			newest[d] = &Unfinished{Digest: d, Run: run, Tags: in.Tags, Via: in.Via}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if len(newest) == 0 {
		return nil, nil
	}
	rows, err = j.db.QueryContext(ctx, `SELECT run_id, kind, tag, digest, result FROM entries
		WHERE repository = ? AND result IN ('deleted', 'not_found', 'pending', 'failed')
		AND run_id IN (SELECT run_id FROM intents WHERE repository = ?)`, repository, repository)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer rows.Close()
	type key struct{ run, digest string }
	manifest := map[key]string{} // a manifest entry's result; "deleted" wins
	for rows.Next() {
		var run, kind, tag, digest, result string
		if err := rows.Scan(&run, &kind, &tag, &digest, &result); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		switch kind {
		case KindTag:
			if u := newest[digest]; u != nil && u.Run == run && result != ResultFailed && slices.Contains(u.Tags, tag) && !slices.Contains(u.Untagged, tag) {
				u.Untagged = append(u.Untagged, tag)
			}
		case KindManifest:
			k := key{run, digest}
			if r := manifest[k]; r != ResultDeleted && r != ResultNotFound {
				manifest[k] = result
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	out := make([]Unfinished, 0, len(newest))
	for d, u := range newest {
		switch manifest[key{u.Run, d}] {
		case ResultDeleted, ResultNotFound:
			continue
		case ResultPending, ResultFailed:
			u.Sent = true
		}
		if u.Via != "" {
			switch manifest[key{u.Run, u.Via}] {
			case ResultDeleted, ResultNotFound, ResultPending:
				u.ViaSent = true
			}
		}
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b Unfinished) int { return cmp.Compare(a.Digest, b.Digest) })
	return out, nil
}
