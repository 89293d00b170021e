package apply

// The deletes: tags of images to delete (the first one probing whether the
// registry deletes a tag alone), tags removed from kept images on opt-in,
// then digests level by level in the order order.go computes.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/safe"
)

// each runs fn over items, at most Concurrency at once; after an
// interrupt, items not started are skipped.
func (a *run) each(items []*plan.Item, fn func(*plan.Item)) {
	_ = safe.Each(context.Background(), len(items), a.o.Concurrency, func(i int) error {
		it := items[i]
		if a.ctx.Err() != nil { // a free slot first, then look for an interrupt
			if it.Result == "" {
				set(it, plan.ResultSkipped, plan.ItemInterrupted(prior(it)))
			}
			return nil
		}
		fn(it)
		return nil
	})
}

// deleteTag removes one tag, probing once whether the registry can.
// It reports ok=false with no error when tag deletes are unsupported.
func (a *run) deleteTag(tag string) (bool, error) {
	err := a.t.Delete(a.req, tag)
	switch {
	case err == nil:
		a.mu.Lock()
		a.tagDelete = probeYes
		a.mu.Unlock()
		a.removedTag(tag)
		return true, nil
	case errors.Is(err, registry.ErrUnsupported) || errors.Is(err, registry.ErrBadRequest):
		// 400 (distribution 2.x: DIGEST_INVALID) means no tag delete;
		// 405 means that, or deletes disabled altogether: the first
		// digest delete, sent alone, tells.
		a.mu.Lock()
		if a.tagDelete == probeUnknown {
			a.tagDelete = probeNo
			a.tagAnswer = err
			// 405 may mean deletes are off altogether: only a digest
			// delete that works makes this "no tag delete" (see
			// capabilities), so nothing is claimed yet.
			a.o.Logger.Debug("tag delete refused; a digest delete tells whether deletes work at all", "repository", a.t.Name(), "answer", err.Error())
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
			if a.tagState() == probeNo {
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
	// A probe whose tag was gone already (404) tells nothing: the next
	// job probes, still alone, until one settles it.
	for len(jobs) > 0 && a.tagState() == probeUnknown && a.ctx.Err() == nil {
		one(jobs[0])
		if a.tagState() == probeYes {
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
	if len(jobs) > 0 && a.tagState() == probeUnknown && a.refused() == nil {
		for _, it := range jobs {
			set(it, plan.ResultSkipped, plan.TagDeleteUnknown())
		}
		return
	}
	a.tagsPhase(jobs, func(it *plan.Item) []string { return it.Untag }, func(it *plan.Item, err error) {
		switch {
		case err == nil:
			set(it, plan.ResultUntagged, plan.Untagged(it.Untag))
		case errors.Is(err, errTagDeleteRefused):
			set(it, plan.ResultSkipped, plan.NoTagDelete())
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
	if a.tagState() == probeNo {
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
			it.ResultReason = plan.TagsRemoved(live(it))
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
		kids, safe := a.listsOf(level), a.deepSafe()
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
			if why := a.deepDelete(it, kids[it], safe, s); why.Code != "" && a.ctx.Err() == nil {
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
		a.retryLater(level)
	}
}

// The deep delete. Harbor deletes an artifact deeply: with its digest go
// the children it lists that no tag names and no other artifact lists,
// and their accessories (vendors.md §7). No answer tells such a registry
// apart before the damage, so apply assumes any registry may do it: an
// index is deleted only when each manifest it lists is gone, or is
// deleted after it in this run, or is safe from a deep delete anyway (a
// tag that stays names it, or a manifest a staying tag reaches lists it).
// A child that stays otherwise (held by a referrer that changed since the
// plan, kept as a referrer of a kept image) keeps its index: skipped,
// named. On a registry that does not delete deeply this only keeps an
// index a little longer.

// mayList reports whether it may list manifests: an index, or a type
// that is not a known image manifest type (an unknown type with a
// manifests array is treated as an index).
func mayList(it *plan.Item) bool {
	return isIndex(it) || (it.MediaType != graph.MediaOCIManifest && it.MediaType != graph.MediaDockerV2)
}

// listsOf reads what each item of level that may list manifests lists,
// concurrently; an item whose manifest cannot be read maps to an error.
func (a *run) listsOf(level []*plan.Item) map[*plan.Item]any {
	var read []*plan.Item
	for _, it := range level {
		if it.Result == "" && mayList(it) {
			read = append(read, it)
		}
	}
	out := map[*plan.Item]any{}
	var mu sync.Mutex
	_ = safe.Each(context.Background(), len(read), a.o.Concurrency, func(i int) error {
		it := read[i]
		kids, err := a.read.Children(a.req, it.Digest)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			out[it] = err
		} else {
			out[it] = kids
		}
		return nil
	})
	return out
}

// deepSafe is the set of digests a deep delete of an index leaves alone:
// those a tag that stays names, and those a manifest that a staying tag
// reaches lists (as the final guard's last walk saw them).
func (a *run) deepSafe() map[string]bool {
	out := map[string]bool{}
	for _, d := range a.staying(a.latest) {
		out[d] = true
	}
	for d := range a.listedByReached {
		out[d] = true
	}
	return out
}

// deepDelete says why it may not be deleted by digest (no code if it
// may), given what it lists (a []string, an error, or nil) and safe
// (deepSafe). Called with a.mu held, between levels.
func (a *run) deepDelete(it *plan.Item, kids any, safe map[string]bool, s *schedule) plan.Reason {
	switch k := kids.(type) {
	case error:
		return plan.ChildUnreadable(k)
	case []string:
		for _, c := range k {
			if a.gone[c] || safe[c] {
				continue
			}
			if ci := s.byDigest[c]; ci != nil && ci != it && ci.Action == plan.ActionDelete && ci.Result == "" && !a.referrerStays(s, c) {
				continue // deleted after it, with what hangs from it
			}
			return plan.ChildStays(c)
		}
	}
	return plan.Reason{}
}

// referrerStays reports whether a planned referrer of d is still there
// (the referrer levels are done: it stays, and so will d).
func (a *run) referrerStays(s *schedule, d string) bool {
	for _, o := range s.refs[d] {
		if !a.gone[o.Digest] {
			return true
		}
	}
	return false
}

// Retries of a digest delete that the registry refused until something
// else is gone (registry.ErrStillTagged, ErrStillReferenced): GAR and GCR
// are eventually consistent, and refuse a digest for a while after its
// tags or its parent index went (gcr-cleaner deletes the tags, waits, and
// retries dangling-parent failures up to 3 times; vendors.md §4).
const laterTries = 3

// retryLater retries the deletes of level that the registry refused until
// something else went, before the next level starts (a child waits for its
// parent to be gone for good). Before each try it removes the planned
// tags that still name an item the registry calls tagged (untag first):
// only tags the plan deletes with it, each read again right then; a tag
// the plan does not know stays, and the item fails, named. What the
// registry still refuses after the last try fails with its answer: never
// a success.
func (a *run) retryLater(level []*plan.Item) {
	wait := a.o.RetryWait
	for try := 1; ; try++ {
		var todo []*plan.Item
		a.mu.Lock()
		for _, it := range level {
			if _, ok := a.later[it]; ok && it.Result == "" {
				todo = append(todo, it)
			}
		}
		a.mu.Unlock()
		if len(todo) == 0 {
			return
		}
		if try > laterTries || a.ctx.Err() != nil || !sleepCtx(a.ctx, wait) {
			for _, it := range todo {
				a.mu.Lock()
				err := a.later[it]
				delete(a.later, it)
				a.mu.Unlock()
				why := plan.StillReferenced
				if errors.Is(err, registry.ErrStillTagged) {
					why = plan.StillTagged
				}
				set(it, plan.ResultFailed, why(err))
			}
			return
		}
		wait *= 2
		a.o.Logger.Info("retrying deletes the registry refused until something else is gone", "repository", a.t.Name(), "items", len(todo), "try", try)
		a.each(todo, func(it *plan.Item) {
			a.mu.Lock()
			err := a.later[it]
			delete(a.later, it)
			a.mu.Unlock()
			if errors.Is(err, registry.ErrStillTagged) && !a.untagFirst(it, err) {
				return
			}
			a.deleteDigest(it)
		})
	}
}

// untagFirst removes the tags of it that still name it and that the plan
// deletes with it (as the tag phase would have), for a registry that
// refuses a tagged digest. It reports false, with it failed, when a tag
// could not go.
func (a *run) untagFirst(it *plan.Item, refusal error) bool {
	a.mu.Lock()
	refused := a.tagDelete == probeNo
	a.mu.Unlock()
	for _, t := range it.Tags {
		d, err := a.t.Head(a.req, t)
		if errors.Is(err, registry.ErrNotFound) || (err == nil && d.Digest != it.Digest) {
			continue // gone, or moved to another digest: not ours to delete
		}
		if err == nil && refused {
			err = errTagDeleteRefused
		}
		if err == nil {
			var ok bool
			if ok, err = a.deleteTag(t); err == nil && !ok {
				err = errTagDeleteRefused
			}
		}
		if err != nil {
			set(it, plan.ResultFailed, plan.StillTagged(fmt.Errorf("%w; removing its tag %s first: %w", refusal, t, err)))
			return false
		}
	}
	return true
}

// sleepCtx waits d, or less if ctx ends first; it reports whether the
// wait ran out.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// deleteAnchor removes the tag an image kept while its referrers were
// deleted, right before its digest. The digest delete follows even after
// an interrupt: the item is in flight, and an image without tags is one a
// new plan cannot find.
func (a *run) deleteAnchor(it *plan.Item, tag string) {
	if a.tagState() == probeNo {
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
		if !a.digestOK && a.tagDelete == probeNo && a.tagAnswer != errTagDeleteTakesManifest {
			a.o.Logger.Warn("registry cannot delete a tag alone; deleting by digest", "repository", a.t.Name(), "answer", answerOf(a.tagAnswer))
		}
		a.digestOK = true
		a.mu.Unlock()
		set(it, plan.ResultDeleted, plan.Deleted())
	case errors.Is(err, registry.ErrNotFound):
		// Neither success nor failure: a retried DELETE may have
		// succeeded the first time, an earlier run or someone else may
		// have deleted it, or the registry may hide it. Look again.
		_, herr := a.t.Head(a.req, it.Digest)
		switch {
		case errors.Is(herr, registry.ErrNotFound):
			a.markGone(it.Digest)
			set(it, plan.ResultSkipped, plan.AlreadyGone())
		case herr == nil:
			set(it, plan.ResultFailed, plan.StillServed(err))
		default:
			set(it, plan.ResultFailed, plan.GoneUnknown(fmt.Errorf("%w; checking whether it is gone failed: %w", err, herr)))
		}
	case errors.Is(err, registry.ErrStillTagged) || errors.Is(err, registry.ErrStillReferenced):
		// GAR's dangling tag or parent, ECR's manifest list, Harbor's
		// 412: something must go first. Not a result yet: retried after
		// the rest of its level (retryLater).
		a.mu.Lock()
		if a.later == nil {
			a.later = map[*plan.Item]error{}
		}
		a.later[it] = err
		a.mu.Unlock()
	case errors.Is(err, registry.ErrUnsupported) || deniedDelete(err):
		a.refuse(err)
		failOrSkip(it, err)
	case errors.Is(err, registry.ErrPending):
		// Docker Hub's 500: accepted, retried in the background. Not
		// gone yet: what hangs from it stays; the next run verifies.
		set(it, plan.ResultSkipped, plan.Pending(err))
	default:
		// The request failed for good (retries spent): the digest may
		// be gone all the same, by an earlier run or a DELETE whose
		// answer was lost. Only one still there is a failure.
		if _, herr := a.t.Head(a.req, it.Digest); errors.Is(herr, registry.ErrNotFound) {
			a.markGone(it.Digest)
			if errors.Is(err, registry.ErrAnswerLost) {
				// An attempt reached the registry and its answer was
				// lost; the re-check saw the digest, it is gone now:
				// this run deleted it, and restore must know.
				a.seenGone(it.Digest)
				a.mu.Lock()
				a.digestOK = true
				a.mu.Unlock()
				a.correct(it.Digest, true, "the DELETE failed after an attempt whose answer was lost ("+err.Error()+"); the manifest is gone")
				set(it, plan.ResultDeleted, plan.Deleted())
				return
			}
			set(it, plan.ResultSkipped, plan.GoneAfterFailure(err))
			return
		}
		set(it, plan.ResultFailed, plan.DeleteFailed(err))
	}
}
