package apply

// The deletes: tags of images to delete (the first one probing whether the
// registry deletes a tag alone), tags removed from kept images on opt-in,
// then digests level by level in the order order.go computes.

import (
	"errors"
	"fmt"
	"sync"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// each runs fn over items, at most Concurrency at once; after an
// interrupt, items not started are skipped.
func (a *run) each(items []*plan.Item, fn func(*plan.Item)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, a.o.Concurrency)
	for _, it := range items {
		sem <- struct{}{} // a free slot first, then look for an interrupt
		if a.ctx.Err() != nil {
			<-sem
			if it.Result == "" {
				set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonItemInterrupted, Prior: prior(it)})
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(it)
		}()
	}
	wg.Wait()
}

// deleteTag removes one tag, probing once whether the registry can.
// It reports ok=false with no error when tag deletes are unsupported.
func (a *run) deleteTag(tag string) (bool, error) {
	err := a.t.Delete(a.req, tag)
	switch {
	case err == nil:
		a.mu.Lock()
		a.tagDelete = 1
		a.mu.Unlock()
		return true, nil
	case errors.Is(err, registry.ErrUnsupported) || errors.Is(err, registry.ErrBadRequest):
		// 400 (distribution 2.x: DIGEST_INVALID) means no tag delete;
		// 405 means that, or deletes disabled altogether: the first
		// digest delete, sent alone, tells.
		a.mu.Lock()
		if a.tagDelete == 0 {
			a.tagDelete = -1
			a.tagAnswer = err
			a.o.Logger.Warn("registry cannot delete a tag alone; falling back to digest deletes", "repository", a.t.Name(), "answer", err.Error())
		}
		a.mu.Unlock()
		return false, nil
	case errors.Is(err, registry.ErrNotFound):
		return true, nil // already gone
	case deniedDelete(err):
		a.refuse(err)
	}
	return false, err
}

// deniedDelete reports whether err means the credentials may not delete
// here: every other delete in the repository would be refused the same way.
func deniedDelete(err error) bool {
	return errors.Is(err, registry.ErrUnauthorized) || errors.Is(err, registry.ErrDenied)
}

// refuse records the first answer that means no delete can succeed in
// this repository.
func (a *run) refuse(err error) {
	a.mu.Lock()
	if a.noDelete == nil {
		a.noDelete = err
	}
	a.mu.Unlock()
	a.o.Refusals.set(a.t.Name(), err)
}

func (a *run) markGone(digest string) {
	a.mu.Lock()
	a.gone[digest] = true
	a.mu.Unlock()
}

func (a *run) refused() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.noDelete == nil {
		// Another repository of this registry learnt it already.
		a.noDelete = a.o.Refusals.get(a.t.Name())
	}
	return a.noDelete
}

// tagsPhase deletes the tags of jobs. The first job runs alone while the
// capability is unknown, so a refusal is learnt once, not N times.
func (a *run) tagsPhase(jobs []*plan.Item, tagsOf func(*plan.Item) []string, done func(*plan.Item, error)) {
	if len(jobs) == 0 {
		return
	}
	one := func(it *plan.Item) {
		for _, t := range tagsOf(it) {
			if err := a.refused(); err != nil {
				done(it, &refusedError{err})
				return
			}
			a.mu.Lock()
			refused := a.tagDelete == -1
			a.mu.Unlock()
			if refused {
				done(it, errTagDeleteRefused)
				return
			}
			ok, err := a.deleteTag(t)
			if err != nil {
				done(it, fmt.Errorf("deleting tag %s: %w", t, err))
				return
			}
			if !ok {
				done(it, errTagDeleteRefused)
				return
			}
		}
		done(it, nil)
	}
	if a.tagDelete == 0 && a.ctx.Err() == nil {
		one(jobs[0])
		if a.tagDelete == 1 {
			a.checkProbe(jobs[0])
		}
		jobs = jobs[1:]
	}
	a.prepareTags(jobs, tagsOf)
	a.each(jobs, one)
}

var errTagDeleteRefused = errors.New("registry cannot delete a tag alone")

func (a *run) untag() {
	jobs := a.items(func(it *plan.Item) bool { return it.Action == plan.ActionKeep && len(it.Untag) > 0 })
	if len(jobs) > 0 && a.tagDelete == 0 && a.refused() == nil {
		for _, it := range jobs {
			set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonTagDeleteUnknown})
		}
		return
	}
	a.tagsPhase(jobs, func(it *plan.Item) []string { return it.Untag }, func(it *plan.Item, err error) {
		switch {
		case err == nil:
			set(it, plan.ResultUntagged, plan.Reason{Code: plan.ReasonUntagged, Tags: it.Untag})
		case errors.Is(err, errTagDeleteRefused):
			set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonNoTagDelete})
		default:
			failOrSkip(it, err)
		}
	})
}

// deleteTagsOfTargets removes the tags of images to delete, so that the
// digest deletes that follow find no tag to walk. Two kinds of tags stay
// for the digest phase, so that an interrupt never leaves a referrer or
// signature whose image lost its tags (a re-run would take it for an
// orphan): the tags of referrers and signatures (their digest delete
// removes them), and one anchor tag of each image they hang from (deleted
// right before its digest, after them).
func (a *run) deleteTagsOfTargets() {
	if a.tagDelete == -1 {
		return
	}
	anchor := a.anchors()
	// Only tags still there: a re-run after a partial apply sends no
	// DELETE for tags an earlier run removed.
	live := func(it *plan.Item) []string {
		if it.Subject != "" {
			return nil
		}
		var out []string
		for _, t := range a.live(it) {
			if t != anchor[it] {
				out = append(out, t)
			}
		}
		return out
	}
	jobs := a.items(func(it *plan.Item) bool { return it.Action == plan.ActionDelete && len(live(it)) > 0 })
	a.tagsPhase(jobs, live, func(it *plan.Item, err error) {
		switch {
		case err == nil:
			// Not a result yet: the digest delete follows.
			it.ResultReason = plan.Reason{Code: plan.ReasonTagsRemoved, Tags: live(it)}
		case !errors.Is(err, errTagDeleteRefused):
			failOrSkip(it, err)
		}
		// Refused: the digest delete below removes the tags with it.
	})
}

// live is the tags of it that named it at the re-check.
func (a *run) live(it *plan.Item) []string {
	var out []string
	for _, t := range it.Tags {
		if a.now[t] == it.Digest {
			out = append(out, t)
		}
	}
	return out
}

// anchors is computed once, at the first re-check's view of the tags.
func (a *run) anchors() map[*plan.Item]string {
	if a.anchor == nil {
		a.anchor = anchors(a.r.Items, a.live)
	}
	return a.anchor
}

// deleteDigests deletes referrers and signatures, then images, then
// children level by level (see schedule); an item whose parent or
// referrer was not deleted stays.
func (a *run) deleteDigests() {
	all := a.items(func(it *plan.Item) bool { return it.Action == plan.ActionDelete })
	anchor := a.anchors()
	s := newSchedule(a.r.Items, all, anchor)
	for _, level := range s.levels {
		// Nothing of this level runs yet, and what blocks an item is in
		// an earlier level: decide before starting any delete of it.
		var ready []*plan.Item
		a.mu.Lock()
		for _, it := range level {
			if it.Result != "" {
				continue
			}
			if why := s.blocked(it, a.gone); why.Code != "" && a.ctx.Err() == nil {
				set(it, plan.ResultSkipped, why)
				continue
			}
			ready = append(ready, it)
		}
		a.mu.Unlock()
		del := func(it *plan.Item) {
			if t, ok := anchor[it]; ok {
				a.deleteAnchor(it, t)
			}
			if it.Result == "" {
				a.deleteDigest(it)
			}
		}
		// Until one digest delete has succeeded, send them one at a
		// time: a registry that refuses deletes (405) is told by the
		// first, and no further DELETE goes out.
		for len(ready) > 0 && !a.deletesWork() && a.refused() == nil && a.ctx.Err() == nil {
			del(ready[0])
			ready = ready[1:]
		}
		a.prepareDigests(ready, anchor)
		a.each(ready, del)
	}
}

// deleteAnchor removes the tag an image kept while its referrers were
// deleted, right before its digest. The digest delete follows even after
// an interrupt: the item is in flight, and an image without tags is one a
// new plan cannot find.
func (a *run) deleteAnchor(it *plan.Item, tag string) {
	a.mu.Lock()
	refused := a.tagDelete == -1
	a.mu.Unlock()
	if refused {
		return // the digest delete removes the tag with it
	}
	if _, err := a.deleteTag(tag); err != nil {
		failOrSkip(it, fmt.Errorf("deleting tag %s: %w", tag, err))
	}
}

func (a *run) deleteDigest(it *plan.Item) {
	if refused := a.refused(); refused != nil {
		failOrSkip(it, &refusedError{refused})
		return
	}
	err := a.t.Delete(a.req, it.Digest)
	switch {
	case err == nil:
		a.markGone(it.Digest)
		a.mu.Lock()
		a.digestOK = true
		a.mu.Unlock()
		set(it, plan.ResultDeleted, plan.Reason{Code: plan.ReasonDeleted})
	case errors.Is(err, registry.ErrNotFound):
		// Neither success nor failure: a retried DELETE may have
		// succeeded the first time, an earlier run or someone else may
		// have deleted it, or the registry may hide it. Look again.
		_, herr := a.t.Head(a.req, it.Digest)
		switch {
		case errors.Is(herr, registry.ErrNotFound):
			a.markGone(it.Digest)
			set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonAlreadyGone})
		case herr == nil:
			set(it, plan.ResultFailed, plan.Reason{Code: plan.ReasonStillServed, Err: err})
		default:
			set(it, plan.ResultFailed, plan.Reason{Code: plan.ReasonGoneUnknown, Err: fmt.Errorf("%w; checking whether it is gone failed: %w", err, herr)})
		}
	case errors.Is(err, registry.ErrUnsupported) || deniedDelete(err):
		a.refuse(err)
		failOrSkip(it, err)
	case errors.Is(err, registry.ErrPending):
		// Docker Hub's 500: accepted, retried in the background. Not
		// gone yet: what hangs from it stays; the next run verifies.
		set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonPending, Err: err})
	default:
		// The request failed for good (retries spent): the digest may
		// be gone all the same, by an earlier run or a DELETE whose
		// answer was lost. Only one still there is a failure.
		if _, herr := a.t.Head(a.req, it.Digest); errors.Is(herr, registry.ErrNotFound) {
			a.markGone(it.Digest)
			set(it, plan.ResultSkipped, plan.Reason{Code: plan.ReasonGoneAfterFailure, Err: err})
			return
		}
		set(it, plan.ResultFailed, plan.Reason{Code: plan.ReasonDeleteFailed, Err: err})
	}
}
