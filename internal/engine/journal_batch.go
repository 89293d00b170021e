package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/safe"
)

// Batches. apply announces each batch of deletes before it starts
// (apply.Preparer): the tags of a tags phase, the anchors and digests of a
// digest level. journalTarget writes their entries in chunks, one
// transaction (one fsync) each, the first chunks small so that the first
// DELETEs wait little, the later ones written while the earlier ones'
// DELETEs are in flight. A DELETE is still sent only once its entry is on
// disk: Delete waits for its chunk. Results are queued (FinishAsync) and
// committed off the DELETE's path; Apply flushes them before it returns.
// An announced entry whose DELETE was not sent (interrupted, refused,
// skipped) is finished not_sent by settle; after a crash it stays pending,
// as an entry whose DELETE may or may not have been sent always could,
// and restore finds its manifest and tag still there.

// Chunk sizes: the first chunk, and the largest.
const (
	firstChunk = 16
	maxChunk   = 512
)

// entryConcurrency bounds the manifest GETs of one chunk (manifests not
// in the cache).
const entryConcurrency = 8

// prep is a ref announced by Prepare.
type prep struct {
	ready chan struct{} // closed once its chunk is written, or given up
	// Set before ready is closed:
	id   int64 // its entry, when written
	err  error // its entry could not be written: the DELETE is not sent
	drop bool  // not written (interrupted first): Delete journals it alone
	// Under journalTarget.mu:
	taken bool // a Delete used it
}

// Prepare writes the entries of refs, the deletes apply is about to
// start, in chunks; it returns at once. A ref announced already and not
// yet deleted is not announced again.
func (t *journalTarget) Prepare(ctx context.Context, refs []string) {
	var rs []string
	var ps []*prep
	t.mu.Lock()
	if t.preps == nil {
		t.preps = map[string]*prep{}
	}
	size, n := firstChunk, 0
	var ready chan struct{}
	for _, ref := range refs {
		if p := t.preps[ref]; p != nil && !p.taken {
			continue
		}
		if n == 0 {
			ready = make(chan struct{})
		}
		p := &prep{ready: ready}
		t.preps[ref] = p
		rs, ps = append(rs, ref), append(ps, p)
		if n++; n == size {
			size, n = min(2*size, maxChunk), 0
		}
	}
	t.mu.Unlock()
	if len(rs) == 0 {
		return
	}
	t.writing.Add(1)
	safe.Go(func() {
		defer t.writing.Done()
		t.record(ctx, rs, ps)
	})
}

// record writes the chunks of rs in turn. After an interrupt it writes no
// further chunk.
func (t *journalTarget) record(ctx context.Context, rs []string, ps []*prep) {
	wctx := context.WithoutCancel(ctx)
	for lo := 0; lo < len(rs); {
		hi := lo + 1
		for hi < len(ps) && ps[hi].ready == ps[lo].ready {
			hi++
		}
		chunk, cps := rs[lo:hi], ps[lo:hi]
		lo = hi
		if ctx.Err() != nil {
			for _, p := range cps {
				p.drop = true
			}
			close(cps[0].ready)
			continue
		}
		es := make([]journal.Entry, len(chunk))
		_ = safe.Each(context.Background(), len(chunk), entryConcurrency, func(i int) error {
			e, err := t.entry(ctx, chunk[i])
			switch {
			case err == nil:
				es[i] = e
			case ctx.Err() != nil:
				cps[i].drop = true
			default:
				cps[i].err = err
			}
			return nil
		})
		var write []journal.Entry
		var wps []*prep
		for i, p := range cps {
			if p.err == nil && !p.drop {
				write, wps = append(write, es[i]), append(wps, p)
			}
		}
		if len(write) > 0 {
			ids, err := t.run.j.RecordAll(wctx, write)
			for i, p := range wps {
				if err != nil {
					p.err = fmt.Errorf("%w: %w", ErrJournal, err)
				} else {
					p.id = ids[i]
				}
			}
		}
		close(cps[0].ready)
	}
}

// Delete sends the DELETE of ref once its entry is on disk, and queues
// its result. A ref not announced is journaled alone first.
func (t *journalTarget) Delete(ctx context.Context, ref string) error {
	start := time.Now()
	t.mu.Lock()
	p := t.preps[ref]
	if p != nil && p.taken {
		p = nil
	}
	if p != nil {
		p.taken = true
	}
	t.mu.Unlock()
	if p != nil {
		<-p.ready
		if p.err != nil {
			return p.err
		}
		if !p.drop {
			t.run.waited.Add(int64(time.Since(start)))
			derr := t.Target.Delete(ctx, ref)
			result, detail := resultOf(derr)
			t.run.j.FinishAsync(p.id, result, detail)
			t.sent(ref, p.id)
			return derr
		}
	}
	// The journal's own writes outlive an interrupt: an entry whose DELETE
	// is in flight must get its result.
	wctx := context.WithoutCancel(ctx)
	e, err := t.entry(ctx, ref)
	if err != nil {
		return err
	}
	id, err := t.run.j.Record(wctx, e)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrJournal, err)
	}
	t.run.waited.Add(int64(time.Since(start)))
	derr := t.Target.Delete(ctx, ref)
	result, detail := resultOf(derr)
	t.run.j.FinishAsync(id, result, detail)
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
	t.writing.Wait()
	t.mu.Lock()
	defer t.mu.Unlock()
	for ref, p := range t.preps {
		if !p.taken && p.err == nil && !p.drop {
			t.run.j.FinishAsync(p.id, journal.ResultNotSent, t.notSent(ref))
		}
	}
	t.preps = nil
}

// notSent says why the DELETE of ref was not sent: what became of its
// item.
func (t *journalTarget) notSent(ref string) string {
	it := t.items[ref]
	if !strings.Contains(ref, ":") {
		it = t.tags[ref]
	}
	if it == nil || fmt.Sprint(it.Result) == "" {
		return "announced, not sent"
	}
	return fmt.Sprintf("announced, not sent; its item: %v (%v)", it.Result, it.ResultReason)
}
