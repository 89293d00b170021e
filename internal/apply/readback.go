package apply

// The read-back: what the report calls deleted, the registry was seen not
// to have. A registry may accept a DELETE (202) and not carry it out (a
// broken proxy, a registry that keeps the tags of a deleted digest, as
// go-containerregistry's does). After the deletes of a repository, apply
// lists its tags once and HEADs, in one pass, each digest it deleted and
// each tag it removed or expected to go that the listing still shows (a
// tag the listing does not show needs no request). The listing runs
// beside the HEADs of digests. A tag left naming a
// deleted digest is deleted by tag; a digest or a tag still there is
// failed, delete_not_effective, and its journal entry says so.

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/safe"
)

// Corrector is an optional interface of a Target: apply tells it what it
// learnt of a DELETE (of a digest or a tag) after the DELETE's own answer,
// so that the record of that DELETE (the journal) says what happened: not
// carried out although the registry accepted it (deleted false, found by
// the read-back), or carried out although it failed after an attempt whose
// answer was lost (deleted true: the registry no longer has it).
type Corrector interface {
	Correct(ref string, deleted bool, detail string)
}

// errNotEffective marks a tag still there after its DELETE.
var errNotEffective = errors.New("the registry accepted the DELETE and still serves it")

// removedTag records a tag this run deleted by tag, with the digest it
// named at the re-check.
func (a *run) removedTag(tag string) {
	a.mu.Lock()
	if a.tagsRemoved == nil {
		a.tagsRemoved = map[string]string{}
	}
	a.tagsRemoved[tag] = a.now[tag]
	a.mu.Unlock()
}

// seenGone records a digest a HEAD found gone.
func (a *run) seenGone(digest string) {
	a.mu.Lock()
	if a.seen == nil {
		a.seen = map[string]bool{}
	}
	a.seen[digest] = true
	a.mu.Unlock()
}

// readBack checks the deletes of this apply against the registry (see the
// top of this file). It runs once every delete of the repository is done.
func (a *run) readBack() {
	// What this run says is gone: the digests of deleted items, the
	// tags that named them at the re-check, the tags it removed.
	digests, tagOwner := a.claimedGone()
	a.mu.Lock()
	removed := a.tagsRemoved
	a.mu.Unlock()
	if len(digests) == 0 && len(tagOwner) == 0 && len(removed) == 0 {
		return
	}
	check := map[string]string{} // tag -> the digest it must no longer name
	for t, it := range tagOwner {
		check[t] = it.Digest
	}
	for t, d := range removed {
		if d != "" {
			check[t] = d
		}
	}
	digestThere, tagThere := a.readBackPass(digests, check)
	failedDigest := a.digestsStillThere(digestThere)
	left := a.tagsStillThere(tagThere, tagOwner, removed, check, failedDigest)
	if len(left) > 0 {
		a.mu.Lock()
		a.digestKeepsTags = true
		a.mu.Unlock()
		a.deleteLeftTags(left, tagOwner, check)
	} else if len(tagOwner) > 0 {
		// Tags that named a deleted digest and were not deleted by tag
		// went with the digest.
		for t, it := range tagOwner {
			if removed[t] == "" && it.Result == plan.ResultDeleted && it.ResultReason.Code != plan.ReasonDeletedWithTag {
				a.mu.Lock()
				a.digestTakesTags = true
				a.mu.Unlock()
				break
			}
		}
	}
}

// claimedGone returns the deleted items whose digest no HEAD has seen
// gone yet, and the tags whose removal an item's result claims, each with
// that item.
func (a *run) claimedGone() (digests []*plan.Item, tagOwner map[string]*plan.Item) {
	tagOwner = map[string]*plan.Item{} // tag -> the item whose result claims it gone
	for i := range a.r.Items {
		it := &a.r.Items[i]
		switch it.Result {
		case plan.ResultDeleted:
			if !a.seen[it.Digest] {
				digests = append(digests, it)
			}
			for _, t := range it.Tags {
				if a.now[t] == it.Digest {
					tagOwner[t] = it
				}
			}
		case plan.ResultUntagged:
			for _, t := range it.Untag {
				tagOwner[t] = it
			}
		}
	}
	return digests, tagOwner
}

// readBackPass is the read-back's one pass: it HEADs each digest claimed
// gone and each tag of check listed. The listing is the pass's first
// request and runs beside the HEADs of digests, which do not depend on it
// (one round trip fewer); the HEADs of tags wait for it. In flight at
// most Concurrency, the listing included. It returns the items whose
// digest is still there (nil) or could not be read (the error), and the
// tags that still name check[t] (nil) or could not be read.
func (a *run) readBackPass(digests []*plan.Item, check map[string]string) (digestThere map[*plan.Item]error, tagThere map[string]error) {
	var mu sync.Mutex
	digestThere = map[*plan.Item]error{} // nil: still there
	tagThere = map[string]error{}        // nil: still names check[t]
	g := errgroup.Group{}
	g.SetLimit(a.o.Concurrency)
	var (
		listed map[string]bool
		lerr   error
		done   = make(chan struct{})
	)
	g.Go(func() error {
		defer close(done)
		listed, lerr = a.listed()
		return nil
	})
	for _, it := range digests {
		g.Go(safe.Func(func() error {
			_, err := a.t.Head(a.req, it.Digest)
			if errors.Is(err, registry.ErrNotFound) {
				return nil
			}
			mu.Lock()
			digestThere[it] = err
			mu.Unlock()
			return nil
		}))
	}
	<-done
	var tags []string
	for t := range check {
		if lerr != nil || listed[t] {
			tags = append(tags, t)
		}
	}
	sort.Strings(tags)
	if lerr != nil {
		a.o.Logger.Warn("read-back: listing the tags failed; looking up each tag instead", "repository", a.t.Name(), "err", lerr)
	}
	for _, t := range tags {
		g.Go(safe.Func(func() error {
			d, err := a.t.Head(a.req, t)
			switch {
			case errors.Is(err, registry.ErrNotFound), err == nil && d.Digest != check[t]:
				return nil // gone, or someone pushed it anew: not this run's
			}
			mu.Lock()
			tagThere[t] = err
			mu.Unlock()
			return nil
		}))
	}
	_ = g.Wait()
	return digestThere, tagThere
}

// notEffective fails it: the registry accepted the DELETE of digest d (or
// of tags) and still serves it, or reading it back failed with err.
func notEffective(it *plan.Item, d string, tags []string, err error) {
	if err != nil {
		set(it, plan.ResultFailed, plan.GoneUnknown(fmt.Errorf("the registry accepted the DELETE; reading it back failed: %w", err)))
		return
	}
	set(it, plan.ResultFailed, plan.DeleteNotEffective(d, tags, nil))
}

// digestsStillThere fails the items whose digest the read-back found
// still there or could not read, and returns the digests found there.
func (a *run) digestsStillThere(digestThere map[*plan.Item]error) (failedDigest map[string]bool) {
	failedDigest = map[string]bool{}
	for it, err := range digestThere {
		failedDigest[it.Digest] = err == nil
		notEffective(it, it.Digest, nil, err)
		if err == nil {
			a.correct(it.Digest, false, "read back after the deletes: the registry still serves "+it.Digest)
			a.o.Logger.Warn("the registry accepted a DELETE and still serves the manifest", "repository", a.t.Name(), "digest", it.Digest)
		}
	}
	return failedDigest
}

// tagsStillThere fails the items whose tags the read-back found still
// there or could not read, and returns the tags a digest delete left
// naming the deleted digest (to delete by tag).
func (a *run) tagsStillThere(tagThere map[string]error, tagOwner map[string]*plan.Item, removed, check map[string]string, failedDigest map[string]bool) (left []string) {
	for t, err := range tagThere {
		if removed[t] != "" && err == nil {
			// A tag DELETE was accepted and did nothing.
			a.correct(t, false, "read back after the deletes: tag "+t+" still names "+check[t])
		}
		it := tagOwner[t]
		switch {
		case it == nil:
			// A tag removed for an item whose digest delete did not
			// go through: its result does not claim the tag gone.
		case err != nil:
			if it.Result != plan.ResultFailed {
				notEffective(it, "", []string{t}, err)
			}
		case removed[t] == "" && it.Result == plan.ResultDeleted && !failedDigest[it.Digest]:
			// The digest went and left this tag naming it: the
			// registry's digest delete does not remove tags.
			left = append(left, t)
		case it.Result != plan.ResultFailed:
			notEffective(it, "", []string{t}, nil)
		}
	}
	return left
}

// listed is the set of tags the registry lists now.
func (a *run) listed() (map[string]bool, error) {
	out := map[string]bool{}
	err := a.t.ListTags(a.req, func(tags []string) error {
		for _, t := range tags {
			out[t] = true
		}
		return nil
	})
	return out, err
}

// deleteLeftTags deletes by tag the tags a digest delete left naming the
// deleted digest, then lists the tags once more: a tag still listed is
// HEADed, and one still naming the digest fails its item.
func (a *run) deleteLeftTags(left []string, owner map[string]*plan.Item, digest map[string]string) {
	sort.Strings(left)
	a.o.Logger.Warn("the registry's digest delete left tags naming the deleted manifests; deleting them by tag", "repository", a.t.Name(), "tags", len(left))
	var mu sync.Mutex
	failed := map[string]error{}
	g := errgroup.Group{}
	g.SetLimit(a.o.Concurrency)
	for _, t := range left {
		g.Go(safe.Func(func() error {
			err := a.t.Delete(a.req, t)
			if errors.Is(err, registry.ErrNotFound) {
				err = nil
			}
			if err != nil {
				mu.Lock()
				failed[t] = err
				mu.Unlock()
			}
			return nil
		}))
	}
	_ = g.Wait()
	listed, lerr := a.listed()
	for _, t := range left {
		if failed[t] != nil || (lerr == nil && !listed[t]) {
			continue
		}
		d, err := a.t.Head(a.req, t)
		switch {
		case errors.Is(err, registry.ErrNotFound), err == nil && d.Digest != digest[t]:
		case err == nil:
			a.correct(t, false, "read back after the deletes: tag "+t+" still names "+digest[t])
			failed[t] = errNotEffective
		default:
			failed[t] = err
		}
	}
	for _, t := range left {
		if err := failed[t]; err != nil {
			it := owner[t]
			if errors.Is(err, errNotEffective) {
				set(it, plan.ResultFailed, plan.DeleteNotEffective("", []string{t}, nil))
			} else {
				set(it, plan.ResultFailed, plan.DeleteNotEffective("", []string{t}, fmt.Errorf("deleting the tag left by the digest delete: %w", err)))
			}
		}
	}
}

// correct tells a Target that records deletes what became of the DELETE
// of ref (see Corrector).
func (a *run) correct(ref string, deleted bool, detail string) {
	if c, ok := a.t.(Corrector); ok {
		c.Correct(ref, deleted, detail)
	}
}
