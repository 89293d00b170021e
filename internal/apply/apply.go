// Package apply executes a plan against a registry. Right before deleting
// it re-lists the repository and re-resolves every tag, and skips any item
// whose tags changed since the plan: a tag moved, a tag appeared on the
// digest, a tag not in the plan now reaches the digest through an index,
// or the digest is gone. It deletes stale tags first (cheap on
// distribution, where a digest delete walks every remaining tag), checks
// again, then deletes digests: referrers and signatures before their
// subject, indexes before their children, so nothing kept ever dangles.
// An image that referrers hang from keeps one tag until they are gone, so
// an interrupt never leaves an orphan (see order.go).
package apply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// Target is what apply needs from a registry; *registry.Repo has it.
type Target interface {
	Name() string
	ListTags(ctx context.Context, fn func(tags []string) error) error
	Head(ctx context.Context, ref string) (registry.Descriptor, error)
	GetManifest(ctx context.Context, ref string) ([]byte, registry.Descriptor, error)
	Delete(ctx context.Context, ref string) error
}

// Options tunes an apply.
type Options struct {
	Concurrency int // deletes and checks in flight; default 8
	Logger      *slog.Logger
	// Grace bounds how long in-flight requests may run after ctx is
	// cancelled; default 30s.
	Grace time.Duration
	// Refusals, shared by the repositories of one run, carries a
	// registry's refusal of every delete from one repository to the next,
	// so that no further DELETE goes to it; nil: per repository.
	Refusals *Refusals
}

// ErrNothingDone means every deletion of a repository failed or was
// refused.
var ErrNothingDone = errors.New("no deletion succeeded")

type run struct {
	t   Target
	r   *plan.Repository
	o   Options
	ctx context.Context // cancelled on interrupt: start nothing new
	req context.Context // for requests: lets in-flight ones finish

	mu        sync.Mutex
	tagDelete int   // 0 unknown, 1 supported, -1 refused
	tagAnswer error // the answer that refused a tag delete
	noDelete  error // the registry refuses every delete here (UNSUPPORTED, 401, 403)
	digestOK  bool  // a digest delete succeeded
	kids      map[string][]string
	gone      map[string]bool   // digests deleted, or found gone, in this run
	now       map[string]string // tags and digests at the re-check
	anchor    map[*plan.Item]string

	// For the final guard (guard.go).
	latest  map[string]string   // tags and digests at the last listing
	refs    map[string][]string // referrers API answers read
	refsAPI int                 // 0 not probed, 1 the registry has one, -1 not
}

// Repository applies the plan of one repository, filling in each item's
// Result. It returns an error only when the repository could not be
// re-checked at all, in which case nothing was deleted.
func Repository(ctx context.Context, t Target, r *plan.Repository, o Options) error {
	if r.Error != "" {
		return nil
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Grace == 0 {
		o.Grace = 30 * time.Second
	}
	req, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(o.Grace, cancel) })
	defer stop()
	a := &run{t: t, r: r, o: o, ctx: ctx, req: req, kids: map[string][]string{}, refs: map[string][]string{}, gone: map[string]bool{}}
	return a.apply()
}

func (a *run) items(pred func(*plan.Item) bool) []*plan.Item {
	var out []*plan.Item
	for i := range a.r.Items {
		if it := &a.r.Items[i]; it.Result == "" && pred(it) {
			out = append(out, it)
		}
	}
	return out
}

func set(it *plan.Item, result, reason string) { it.Result, it.ResultReason = result, reason }

func (a *run) apply() error {
	work := a.items(func(it *plan.Item) bool { return it.Action == plan.ActionDelete || len(it.Untag) > 0 })
	if len(work) == 0 {
		return nil
	}
	if a.ctx.Err() != nil {
		for _, it := range work {
			set(it, plan.ResultSkipped, "interrupted before this repository")
		}
		return nil
	}
	// 1. Re-check everything against the registry as it is now.
	now, err := a.resolve()
	if err == nil {
		a.now, a.latest = now, now
		err = a.verify(work, now)
	}
	if err == nil {
		err = a.verifyKept(now)
	}
	if err != nil {
		for _, it := range work {
			set(it, plan.ResultSkipped, "re-check failed, nothing deleted in this repository: "+err.Error())
		}
		a.r.Error = "re-check before deleting failed: " + err.Error()
		return err
	}

	if err := a.guard(); err != nil { // before any tag goes: a signature tag a kept tag reaches stays
		return err
	}
	a.hold()
	defer a.capabilities()

	// 2. Drop the tags of images to delete; the first of them probes
	// whether the registry deletes a tag alone. Only then, and only if it
	// does, untag kept images (untag_unkept): a kept image's tag is never
	// the probe, since a registry that removes the whole manifest for
	// DELETE /manifests/<tag> would destroy the kept image with it.
	a.deleteTagsOfTargets()
	a.untag()

	// 3. Re-check what tags remain, then delete digests in a safe order.
	if a.tagDelete == 1 && a.ctx.Err() == nil {
		targets := a.items(func(it *plan.Item) bool { return it.Action == plan.ActionDelete })
		remaining, err := a.resolve()
		if err == nil {
			a.latest = remaining
			err = a.verify(targets, remaining)
		}
		if err != nil {
			for _, it := range targets {
				if it.Result == "" {
					set(it, plan.ResultSkipped, "re-check after removing tags failed: "+err.Error())
				}
			}
			a.r.Error = "re-check after removing tags failed: " + err.Error()
			return err
		}
	}
	if err := a.guard(); err != nil { // the final guard: nothing a tag that stays reaches is deleted
		return err
	}
	a.hold()
	a.deleteDigests()
	return nil
}

// hold spreads every skip and failure over the planned deletions tied to
// it, before anything of them is deleted: the subject of a referrer that
// stays stays (the referrer names it), and the referrers and children of
// a manifest that stays stay with it. Without this, a signature pushed
// again since the plan would be skipped while its image lost its tags and
// then its digest, and an image skipped for a new tag would lose its
// signatures.
func (a *run) hold() { holdItems(a.r.Items) }

// resolve lists the tags and HEADs each one. A tag that vanishes between
// list and HEAD is left out; one still listed that does not resolve
// fails the re-check (see inventory.Unresolved).
func (a *run) resolve() (map[string]string, error) {
	var tags []string
	err := a.t.ListTags(a.req, func(page []string) error {
		tags = append(tags, page...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(tags))
	var mu sync.Mutex
	var missing []string
	g, gctx := errgroup.WithContext(a.req)
	g.SetLimit(a.o.Concurrency)
	for _, t := range tags {
		g.Go(func() error {
			d, err := a.t.Head(gctx, t)
			if errors.Is(err, registry.ErrNotFound) {
				mu.Lock()
				missing = append(missing, t)
				mu.Unlock()
				return nil
			}
			if err != nil {
				return fmt.Errorf("tag %s: %w", t, err)
			}
			mu.Lock()
			out[t] = d.Digest
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	found, err := inventory.Unresolved(a.req, a.t, missing)
	for t, d := range found {
		out[t] = d
	}
	return out, err
}

// verify skips items whose tags changed since the plan. It fails only when
// the manifest of a tag that changed since the plan cannot be read.
func (a *run) verify(items []*plan.Item, now map[string]string) error {
	reached, err := a.reachedByChangedTags(now)
	if err != nil {
		return err
	}
	on := map[string][]string{}
	for t, d := range now {
		on[d] = append(on[d], t)
	}
	// A signature, attestation or referrers tag of a digest, pushed or
	// moved since the plan: someone just signed or annotated it.
	artifacts := map[string][]string{}
	planned := a.plannedTags()
	for t, d := range now {
		if subject, _, ok := graph.ArtifactTag(t); ok && planned[t] != d {
			artifacts[subject] = append(artifacts[subject], t)
		}
	}
	for _, it := range items {
		if it.Result != "" {
			continue
		}
		planned := map[string]bool{}
		for _, t := range it.Tags {
			planned[t] = true
			if d, ok := now[t]; ok && d != it.Digest {
				set(it, plan.ResultSkipped, fmt.Sprintf("changed since the plan: tag %s now names %s", t, d))
				break
			}
		}
		if it.Result != "" {
			continue
		}
		if it.Action == plan.ActionDelete {
			var appeared []string
			for _, t := range on[it.Digest] {
				if !planned[t] {
					appeared = append(appeared, t)
				}
			}
			if len(appeared) > 0 {
				sort.Strings(appeared)
				set(it, plan.ResultSkipped, "changed since the plan: tag "+strings.Join(appeared, ", ")+" now names it")
			} else if t, ok := reached[it.Digest]; ok {
				set(it, plan.ResultSkipped, "changed since the plan: tag "+t+", new or moved since the plan, now reaches it through an index")
			} else if ts := artifacts[it.Digest]; len(ts) > 0 {
				sort.Strings(ts)
				set(it, plan.ResultSkipped, "changed since the plan: its signature or referrers tag "+strings.Join(ts, ", ")+" is new or moved since the plan")
			}
			continue
		}
		// An untag: each stale tag must still name the kept digest.
		var keepTags []string
		for _, t := range it.Untag {
			if d, ok := now[t]; ok && d == it.Digest {
				keepTags = append(keepTags, t)
			}
		}
		if len(keepTags) == 0 {
			set(it, plan.ResultSkipped, "stale tags already gone")
		}
		it.Untag = keepTags
	}
	return nil
}

// plannedTags is every tag the plan saw, with its digest then.
func (a *run) plannedTags() map[string]string {
	out := make(map[string]string, len(a.r.Tags))
	for t, d := range a.r.Tags {
		out[t] = d
	}
	for i := range a.r.Items {
		for _, t := range a.r.Items[i].Tags {
			out[t] = a.r.Items[i].Digest
		}
	}
	return out
}

// reachedByChangedTags finds the planned deletions that a tag not in the
// plan reaches through index children: a tag pushed or moved since the
// plan may name an index that references a digest the plan meant to
// delete (a child, or an image re-used as a child). It reads the manifest
// of each such tag and walks its children, and maps each planned deletion
// it reaches to the tag. A tag that names a planned deletion itself is
// caught by verify's own checks.
func (a *run) reachedByChangedTags(now map[string]string) (map[string]string, error) {
	reached := map[string]string{}
	del := map[string]bool{}
	for i := range a.r.Items {
		if a.r.Items[i].Action == plan.ActionDelete {
			del[a.r.Items[i].Digest] = true
		}
	}
	if len(del) == 0 {
		return reached, nil
	}
	planned := a.plannedTags()
	var changed []string
	for t, d := range now {
		if planned[t] != d {
			changed = append(changed, t)
		}
	}
	sort.Strings(changed)
	if len(changed) > 0 {
		a.o.Logger.Info("tags changed since the plan; reading what they reach before deleting", "repository", a.t.Name(), "tags", len(changed))
	}
	via := map[string]string{} // digest -> the changed tag that reaches it
	var level []string
	for _, t := range changed {
		if d := now[t]; via[d] == "" {
			via[d] = t
			level = append(level, d)
		}
	}
	for depth := 0; len(level) > 0; depth++ {
		if depth > 16 {
			return nil, fmt.Errorf("%w: indexes nested deeper than 16", registry.ErrBadResponse)
		}
		kids := make([][]string, len(level))
		g, gctx := errgroup.WithContext(a.req)
		g.SetLimit(a.o.Concurrency)
		for i, d := range level {
			g.Go(func() error {
				c, err := a.children(gctx, d)
				if err != nil {
					return fmt.Errorf("tag %s: manifest %s: %w", via[d], d, err)
				}
				kids[i] = c
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		var next []string
		for i, d := range level {
			for _, c := range kids[i] {
				if _, ok := reached[c]; !ok && del[c] {
					reached[c] = via[d]
				}
				if via[c] == "" {
					via[c] = via[d]
					next = append(next, c)
				}
			}
		}
		level = next
	}
	return reached, nil
}

// children reads the manifest of digest and returns the digests of its
// index entries (none for an image, or a manifest that is gone).
func (a *run) children(ctx context.Context, digest string) ([]string, error) {
	a.mu.Lock()
	c, ok := a.kids[digest]
	a.mu.Unlock()
	if ok {
		return c, nil
	}
	body, _, err := a.t.GetManifest(ctx, digest)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil // gone since the listing: it reaches nothing
	}
	if err != nil {
		return nil, err
	}
	if c, err = registry.ParseChildren("manifest "+digest, body); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.kids[digest] = c
	a.mu.Unlock()
	return c, nil
}

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
				why := "interrupted before this item"
				if it.ResultReason != "" { // what was done of it already
					why += " (" + it.ResultReason + ")"
				}
				set(it, plan.ResultSkipped, why)
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

// refusedReason explains a delete refused for good.
func refusedReason(err error) string {
	if deniedDelete(err) {
		return "the registry denied the delete (" + err.Error() + "); the credentials need the delete permission on this repository"
	}
	return "the registry refuses deletes (" + err.Error() + "); " + fixFor(err)
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
	a.each(jobs, one)
}

var errTagDeleteRefused = errors.New("registry cannot delete a tag alone")

// refusedError marks an item not attempted because an earlier delete in
// the repository was refused for good.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// failOrSkip records err on it: an item not attempted after an earlier
// refusal is skipped, the refused one itself failed.
func failOrSkip(it *plan.Item, err error) {
	var re *refusedError
	switch {
	case errors.As(err, &re):
		set(it, plan.ResultSkipped, "not attempted: an earlier delete was refused: "+refusedReason(re.err))
	case deniedDelete(err) || errors.Is(err, registry.ErrUnsupported):
		set(it, plan.ResultFailed, refusedReason(err))
	default:
		set(it, plan.ResultFailed, err.Error())
	}
}

func (a *run) untag() {
	jobs := a.items(func(it *plan.Item) bool { return it.Action == plan.ActionKeep && len(it.Untag) > 0 })
	if len(jobs) > 0 && a.tagDelete == 0 && a.refused() == nil {
		for _, it := range jobs {
			set(it, plan.ResultSkipped, "tags left in place: whether the registry deletes a tag alone is unknown, as no tag of an image being deleted was removed first (none here, or interrupted); a kept image's tag is never the probe")
		}
		return
	}
	a.tagsPhase(jobs, func(it *plan.Item) []string { return it.Untag }, func(it *plan.Item, err error) {
		switch {
		case err == nil:
			set(it, plan.ResultUntagged, "removed tag "+strings.Join(it.Untag, ", "))
		case errors.Is(err, errTagDeleteRefused):
			set(it, plan.ResultSkipped, "the registry cannot delete a tag alone, and deleting the digest would take the kept tags with it; stale tags left in place")
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
			it.ResultReason = "its tags " + strings.Join(live(it), ", ") + " removed, the digest not yet"
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
			if why := s.blocked(it, a.gone); why != "" && a.ctx.Err() == nil {
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
		set(it, plan.ResultDeleted, "")
	case errors.Is(err, registry.ErrNotFound):
		// Neither success nor failure: a retried DELETE may have
		// succeeded the first time, an earlier run or someone else may
		// have deleted it, or the registry may hide it. Look again.
		_, herr := a.t.Head(a.req, it.Digest)
		switch {
		case errors.Is(herr, registry.ErrNotFound):
			a.markGone(it.Digest)
			set(it, plan.ResultSkipped, "already gone: deleted since the plan (by an earlier run, a retried request or someone else)")
		case herr == nil:
			set(it, plan.ResultFailed, "the registry answered 404 to the delete but still serves the digest: "+err.Error())
		default:
			set(it, plan.ResultFailed, err.Error()+"; checking whether it is gone failed: "+herr.Error())
		}
	case errors.Is(err, registry.ErrUnsupported) || deniedDelete(err):
		a.refuse(err)
		failOrSkip(it, err)
	default:
		// The request failed for good (retries spent): the digest may
		// be gone all the same, by an earlier run or a DELETE whose
		// answer was lost. Only one still there is a failure.
		if _, herr := a.t.Head(a.req, it.Digest); errors.Is(herr, registry.ErrNotFound) {
			a.markGone(it.Digest)
			set(it, plan.ResultSkipped, "already gone (the delete failed: "+err.Error()+")")
			return
		}
		set(it, plan.ResultFailed, err.Error())
	}
}
