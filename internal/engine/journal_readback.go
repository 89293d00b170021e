package engine

import "github.com/regprune/regprune/internal/journal"

// sent remembers the entry of each ref whose DELETE was sent, for
// Correct.
func (t *journalTarget) sent(ref string, id int64) {
	t.mu.Lock()
	if t.done == nil {
		t.done = map[string]int64{}
	}
	t.done[ref] = id
	t.mu.Unlock()
}

// Correct implements apply.Corrector: apply learnt after the DELETE's
// answer what became of it. A DELETE the registry accepted and the
// read-back found not carried out is finished failed, so that neither
// `runs` nor restore takes it for a deletion; one that failed after an
// attempt whose answer was lost, and whose manifest is gone, is finished
// deleted, so that restore brings it back.
func (t *journalTarget) Correct(ref string, deleted bool, detail string) {
	t.mu.Lock()
	id, ok := t.done[ref]
	t.mu.Unlock()
	if !ok {
		return
	}
	if deleted {
		t.run.j.FinishAsync(id, journal.ResultDeleted, detail)
		return
	}
	t.run.j.FinishAsync(id, journal.ResultFailed, "delete_not_effective: "+detail)
}
