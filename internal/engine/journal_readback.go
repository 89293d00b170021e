package engine

import "github.com/regprune/regprune/internal/journal"

// sent remembers the entry of a ref whose DELETE the registry accepted,
// for Retract.
func (t *journalTarget) sent(ref string, id int64, result string) {
	if result != journal.ResultDeleted {
		return
	}
	t.mu.Lock()
	if t.done == nil {
		t.done = map[string]int64{}
	}
	t.done[ref] = id
	t.mu.Unlock()
}

// Retract implements apply.Retractor: apply read the repository back and
// found the DELETE of ref, which the registry accepted, not carried out.
// Its entry, recorded deleted, is finished failed, so that neither `runs`
// nor restore takes it for a deletion.
func (t *journalTarget) Retract(ref, detail string) {
	t.mu.Lock()
	id, ok := t.done[ref]
	t.mu.Unlock()
	if ok {
		t.run.j.FinishAsync(id, journal.ResultFailed, "delete_not_effective: "+detail)
	}
}
