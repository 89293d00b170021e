package journal

import (
	"context"
	"sync"

	"github.com/regprune/regprune/internal/safe"
)

// A Batch writes the entries of deletes announced before they start (the
// tags of a tags phase, the anchors and digests of a digest level) in
// chunks, one transaction (one fsync) each: the first chunks small, so
// that the first DELETEs wait little, the later ones written while the
// earlier ones' DELETEs are in flight. A DELETE is still sent only once
// its entry is on disk: Wait returns its entry's id only then. Results
// are queued (Result: FinishAsync) and committed off the DELETE's path;
// Flush commits them. An announced entry whose DELETE was not sent
// (interrupted, refused, skipped) is finished not_sent by Close; after a
// crash it stays pending, as an entry whose DELETE may or may not have
// been sent always could, and restore finds its manifest and tag still
// there.
//
// Safe for concurrent use. Refs are tags and digests, as the DELETEs
// name them.
type Batch struct {
	j *Journal
	// entry builds the entry of deleting ref; an error means its DELETE
	// must not be sent.
	entry func(ctx context.Context, ref string) (Entry, error)

	mu      sync.Mutex
	preps   map[string]*prep // refs announced, by ref
	writing sync.WaitGroup   // Announce's writers
}

// Chunk sizes: the first chunk, and the largest.
const (
	firstChunk = 16
	maxChunk   = 512
)

// entryConcurrency bounds the entries of one chunk built at once (the
// caller's entry may read a manifest from the registry).
const entryConcurrency = 8

// prep is a ref announced.
type prep struct {
	ready chan struct{} // closed once its chunk is written, or given up
	// Set before ready is closed:
	id   int64 // its entry, when written
	err  error // its entry could not be built or written: no DELETE
	drop bool  // not written (interrupted first): Wait writes it alone
	// Under Batch.mu:
	taken bool // a Wait used it
}

// NewBatch returns a Batch that builds each ref's entry with entry.
func (j *Journal) NewBatch(entry func(ctx context.Context, ref string) (Entry, error)) *Batch {
	return &Batch{j: j, entry: entry, preps: map[string]*prep{}}
}

// Announce writes the entries of refs, the deletes about to start, in
// chunks; it returns at once. A ref announced already and not yet waited
// for is not announced again. Once ctx is cancelled (an interrupt), no
// further chunk is written; the entries of a chunk are written even so.
func (b *Batch) Announce(ctx context.Context, refs []string) {
	var rs []string
	var ps []*prep
	b.mu.Lock()
	size, n := firstChunk, 0
	var ready chan struct{}
	for _, ref := range refs {
		if p := b.preps[ref]; p != nil && !p.taken {
			continue
		}
		if n == 0 {
			ready = make(chan struct{})
		}
		p := &prep{ready: ready}
		b.preps[ref] = p
		rs, ps = append(rs, ref), append(ps, p)
		if n++; n == size {
			size, n = min(2*size, maxChunk), 0
		}
	}
	b.mu.Unlock()
	if len(rs) == 0 {
		return
	}
	b.writing.Add(1)
	safe.Go(func() {
		defer b.writing.Done()
		b.record(ctx, rs, ps)
	})
}

// record writes the chunks of rs in turn. After an interrupt it writes no
// further chunk.
func (b *Batch) record(ctx context.Context, rs []string, ps []*prep) {
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
		b.chunk(ctx, chunk, cps)
		close(cps[0].ready)
	}
}

// chunk builds the entries of one chunk and writes them in one
// transaction.
func (b *Batch) chunk(ctx context.Context, chunk []string, cps []*prep) {
	es := make([]Entry, len(chunk))
	_ = safe.Each(context.Background(), len(chunk), entryConcurrency, func(i int) error {
		e, err := b.entry(ctx, chunk[i])
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
	var write []Entry
	var wps []*prep
	for i, p := range cps {
		if p.err == nil && !p.drop {
			write, wps = append(write, es[i]), append(wps, p)
		}
	}
	if len(write) == 0 {
		return
	}
	// The journal's own writes outlive an interrupt.
	ids, err := b.j.RecordAll(context.WithoutCancel(ctx), write)
	for i, p := range wps {
		if err != nil {
			p.err = err
		} else {
			p.id = ids[i]
		}
	}
}

// Wait returns the id of ref's entry once it is on disk: the entry of
// its chunk if ref was announced, else (not announced, or announced and
// not written for an interrupt) one built and written now, alone. Only
// then may its DELETE be sent. An error (entry's, or the write's) means
// it must not be. Each announcement serves one Wait.
func (b *Batch) Wait(ctx context.Context, ref string) (int64, error) {
	b.mu.Lock()
	p := b.preps[ref]
	if p != nil && p.taken {
		p = nil
	}
	if p != nil {
		p.taken = true
	}
	b.mu.Unlock()
	if p != nil {
		<-p.ready
		if p.err != nil {
			return 0, p.err
		}
		if !p.drop {
			return p.id, nil
		}
	}
	e, err := b.entry(ctx, ref)
	if err != nil {
		return 0, err
	}
	// The journal's own writes outlive an interrupt: an entry whose
	// DELETE is in flight must get its result.
	return b.j.Record(context.WithoutCancel(ctx), e)
}

// Result queues the result of the DELETE of entry id (FinishAsync).
func (b *Batch) Result(id int64, result, detail string) {
	b.j.FinishAsync(id, result, detail)
}

// Close, once no Wait is in flight or to come, waits for the entries
// being written and finishes not_sent those announced that no Wait took,
// with notSent(ref) as their detail. The Batch is empty after it. Nil-safe.
func (b *Batch) Close(notSent func(ref string) string) {
	if b == nil {
		return
	}
	b.writing.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	for ref, p := range b.preps {
		if !p.taken && p.err == nil && !p.drop {
			b.j.FinishAsync(p.id, ResultNotSent, notSent(ref))
		}
	}
	b.preps = map[string]*prep{}
}
