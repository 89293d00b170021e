package apply

import (
	"context"

	"github.com/regprune/regprune/internal/plan"
)

// Preparer is an optional interface of a Target: before a batch of
// deletes starts, apply tells it the refs (tags and digests) the batch is
// about to delete, so that it can get ready for all of them at once (the
// journal writes their entries in a few transactions instead of one per
// DELETE). A ref announced may still not be deleted: the batch may be
// interrupted, refused or skip it. What is not announced (the first
// delete of a phase, sent alone) reaches Delete unannounced. ctx is
// cancelled on an interrupt.
type Preparer interface {
	Prepare(ctx context.Context, refs []string)
}

// prepare announces the refs of items to a Target that wants them, unless
// none of them will be sent.
func (a *run) prepare(items []*plan.Item, refs func(*plan.Item) []string) {
	p, ok := a.t.(Preparer)
	if !ok || len(items) == 0 || a.ctx.Err() != nil || a.refused() != nil {
		return
	}
	var all []string
	for _, it := range items {
		all = append(all, refs(it)...)
	}
	if len(all) > 0 {
		p.Prepare(a.ctx, all)
	}
}

// prepareTags announces the tags a tags phase deletes.
func (a *run) prepareTags(jobs []*plan.Item, tagsOf func(*plan.Item) []string) {
	a.mu.Lock()
	refused := a.tagDelete == probeNo
	a.mu.Unlock()
	if !refused {
		a.prepare(jobs, tagsOf)
	}
}

// prepareDigests announces a level of digest deletes: each item's anchor
// tag, if it has one that is deleted alone, and its digest.
func (a *run) prepareDigests(ready []*plan.Item, anchor map[*plan.Item]string) {
	a.mu.Lock()
	tagDelete := a.tagDelete != probeNo
	a.mu.Unlock()
	a.prepare(ready, func(it *plan.Item) []string {
		if t, ok := anchor[it]; ok && tagDelete {
			return []string{t, it.Digest}
		}
		return []string{it.Digest}
	})
}
