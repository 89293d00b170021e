package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/regprune/regprune/internal/digest"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/registry"
)

// Batches are the journal's (journal.Batch): journalTarget only adapts
// apply's announcements (apply.Preparer) and DELETEs to it. A DELETE is
// sent only once its entry is on disk.

// Prepare announces refs, the deletes apply is about to start, to the
// journal's batch, which writes their entries in chunks; it returns at
// once.
func (t *journalTarget) Prepare(ctx context.Context, refs []string) {
	t.batch.Announce(ctx, refs)
}

// Delete sends the DELETE of ref once its entry is on disk, and queues
// its result.
func (t *journalTarget) Delete(ctx context.Context, ref string) error {
	start := time.Now()
	id, err := t.batch.Wait(ctx, ref)
	if err != nil {
		if !errors.Is(err, ErrJournal) {
			err = fmt.Errorf("%w: %w", ErrJournal, err)
		}
		return err
	}
	t.run.waited.Add(int64(time.Since(start)))
	derr := t.Target.Delete(ctx, ref)
	result, detail := resultOf(derr)
	t.batch.Result(id, result, detail)
	t.sent(ref, id)
	return derr
}

func resultOf(derr error) (result, detail string) {
	switch {
	case derr == nil:
		return journal.ResultDeleted, ""
	case errors.Is(derr, registry.ErrNotFound):
		return journal.ResultNotFound, derr.Error()
	default:
		return journal.ResultFailed, derr.Error()
	}
}

// settle, once apply is done with t (no Delete in flight), waits for the
// entries being written and finishes those announced whose DELETE was not
// sent. Nil-safe.
func (t *journalTarget) settle() {
	if t == nil {
		return
	}
	t.batch.Close(t.notSent)
}

// notSent says why the DELETE of ref was not sent: what became of its
// item.
func (t *journalTarget) notSent(ref string) string {
	it := t.items[ref]
	if digest.KindOf(ref) != digest.KindDigest {
		it = t.tags[ref]
	}
	if it == nil || fmt.Sprint(it.Result) == "" {
		return "announced, not sent"
	}
	return fmt.Sprintf("announced, not sent; its item: %v (%v)", it.Result, it.ResultReason)
}
