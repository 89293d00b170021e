package journal

import (
	"context"
	"database/sql"
)

// The writer's statements, by index into Journal.stmts.
const (
	stmtManifest = iota // a manifest body, once per digest
	stmtEntry           // an entry, pending
	stmtFinish          // an entry's result
	numStmts
)

var stmtSQL = [numStmts]string{
	stmtManifest: `INSERT OR IGNORE INTO manifests (digest, media_type, body) VALUES (?, ?, ?)`,
	stmtEntry: `INSERT INTO entries
		(run_id, time, registry, repository, kind, tag, digest, media_type, size, tags, item_kind, parent, subject, reason, result)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	stmtFinish: `UPDATE entries SET result = ?, result_detail = ?, result_time = ? WHERE id = ?`,
}

// prepare prepares the writer's statements once, so that SQLite parses
// them once per connection rather than once per row. A statement that
// cannot be prepared now is parsed at each use instead.
func (j *Journal) prepare(ctx context.Context) {
	for i, q := range stmtSQL {
		if s, err := j.db.PrepareContext(ctx, q); err == nil {
			j.stmts[i] = s
		}
	}
}

// wtx is one transaction of the writer.
type wtx struct {
	tx    *sql.Tx
	j     *Journal
	stmts [numStmts]*sql.Stmt // the journal's statements bound to tx, once used
}

// exec runs statement i with args in the transaction.
func (w *wtx) exec(i int, args ...any) (sql.Result, error) {
	if w.stmts[i] == nil {
		if w.j.stmts[i] == nil {
			return w.tx.Exec(stmtSQL[i], args...)
		}
		w.stmts[i] = w.tx.Stmt(w.j.stmts[i])
	}
	return w.stmts[i].Exec(args...)
}
