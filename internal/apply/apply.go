// Package apply executes a plan against a registry. Right before deleting
// it re-lists the repository and re-resolves every tag, and skips any item
// whose tags changed since the plan: a tag moved, a tag appeared on the
// digest, or the digest is gone. It deletes stale tags first (cheap on
// distribution, where a digest delete walks every remaining tag), checks
// again, then deletes digests: referrers and signatures before their
// subject, indexes before their children, so nothing kept ever dangles.
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

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// Target is what apply needs from a registry; *registry.Repo has it.
type Target interface {
	Name() string
	ListTags(ctx context.Context, fn func(tags []string) error) error
	Head(ctx context.Context, ref string) (registry.Descriptor, error)
	Delete(ctx context.Context, ref string) error
}

// Options tunes an apply.
type Options struct {
	Concurrency int // deletes and checks in flight; default 8
	Logger      *slog.Logger
	// Grace bounds how long in-flight requests may run after ctx is
	// cancelled; default 30s.
	Grace time.Duration
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
	tagDelete int // 0 unknown, 1 supported, -1 refused
	noDelete  error
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
	a := &run{t: t, r: r, o: o, ctx: ctx, req: req}
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
	// 1. Re-check everything against the registry as it is now.
	now, err := a.resolve()
	if err != nil {
		for _, it := range work {
			set(it, plan.ResultSkipped, "re-check failed, nothing deleted in this repository: "+err.Error())
		}
		a.r.Error = "re-check before deleting failed: " + err.Error()
		return err
	}
	a.verify(work, now)

	// 2. Stale tags: untag kept images; drop the tags of deleted ones.
	a.untag()
	a.deleteTagsOfTargets()

	// 3. Re-check what tags remain, then delete digests in a safe order.
	if a.tagDelete == 1 {
		remaining, err := a.resolve()
		if err != nil {
			for _, it := range a.items(func(it *plan.Item) bool { return it.Action == plan.ActionDelete }) {
				set(it, plan.ResultSkipped, "re-check after removing tags failed: "+err.Error())
			}
			a.r.Error = "re-check after removing tags failed: " + err.Error()
			return err
		}
		a.verify(a.items(func(it *plan.Item) bool { return it.Action == plan.ActionDelete }), remaining)
	}
	a.deleteDigests()
	return nil
}

// resolve lists the tags and HEADs each one. A tag that vanishes between
// list and HEAD is left out.
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
	g, gctx := errgroup.WithContext(a.req)
	g.SetLimit(a.o.Concurrency)
	for _, t := range tags {
		g.Go(func() error {
			d, err := a.t.Head(gctx, t)
			if errors.Is(err, registry.ErrNotFound) {
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
	return out, g.Wait()
}

// verify skips items whose tags changed since the plan.
func (a *run) verify(items []*plan.Item, now map[string]string) {
	on := map[string][]string{}
	for t, d := range now {
		on[d] = append(on[d], t)
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
}

// each runs fn over items, at most Concurrency at once; after an
// interrupt, items not started are skipped.
func (a *run) each(items []*plan.Item, fn func(*plan.Item)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, a.o.Concurrency)
	for _, it := range items {
		if a.ctx.Err() != nil {
			if it.Result == "" {
				set(it, plan.ResultSkipped, "interrupted before this item")
			}
			continue
		}
		sem <- struct{}{}
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
		a.mu.Lock()
		if a.tagDelete == 0 {
			a.tagDelete = -1
			a.o.Logger.Info("registry cannot delete a tag alone; falling back to digest deletes", "repository", a.t.Name(), "answer", err.Error())
		}
		a.mu.Unlock()
		return false, nil
	case errors.Is(err, registry.ErrNotFound):
		return true, nil // already gone
	}
	return false, err
}

// tagsPhase deletes the tags of jobs. The first job runs alone while the
// capability is unknown, so a refusal is learnt once, not N times.
func (a *run) tagsPhase(jobs []*plan.Item, tagsOf func(*plan.Item) []string, done func(*plan.Item, error)) {
	if len(jobs) == 0 {
		return
	}
	one := func(it *plan.Item) {
		for _, t := range tagsOf(it) {
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
	if a.tagDelete == 0 {
		one(jobs[0])
		jobs = jobs[1:]
	}
	a.each(jobs, one)
}

var errTagDeleteRefused = errors.New("registry cannot delete a tag alone")

func (a *run) untag() {
	jobs := a.items(func(it *plan.Item) bool { return it.Action == plan.ActionKeep && len(it.Untag) > 0 })
	a.tagsPhase(jobs, func(it *plan.Item) []string { return it.Untag }, func(it *plan.Item, err error) {
		switch {
		case err == nil:
			set(it, plan.ResultUntagged, "removed tag "+strings.Join(it.Untag, ", "))
		case errors.Is(err, errTagDeleteRefused):
			set(it, plan.ResultSkipped, "the registry cannot delete a tag alone, and deleting the digest would take the kept tags with it; stale tags left in place")
		default:
			set(it, plan.ResultFailed, err.Error())
		}
	})
}

// deleteTagsOfTargets removes the tags of images to delete, so that the
// digest deletes that follow find no tag to walk.
func (a *run) deleteTagsOfTargets() {
	if a.tagDelete == -1 {
		return
	}
	jobs := a.items(func(it *plan.Item) bool { return it.Action == plan.ActionDelete && len(it.Tags) > 0 })
	a.tagsPhase(jobs, func(it *plan.Item) []string { return it.Tags }, func(it *plan.Item, err error) {
		if err != nil && !errors.Is(err, errTagDeleteRefused) {
			set(it, plan.ResultFailed, err.Error())
		}
		// Refused: the digest delete below removes the tags with it.
	})
}

// deleteDigests deletes referrers and signatures, then images, then
// children level by level; an item whose parent or referrer was not
// deleted stays.
func (a *run) deleteDigests() {
	all := a.items(func(it *plan.Item) bool { return it.Action == plan.ActionDelete })
	byDigest := map[string]*plan.Item{}
	for i := range a.r.Items {
		byDigest[a.r.Items[i].Digest] = &a.r.Items[i]
	}
	depth := func(it *plan.Item) int {
		n := 0
		for p := it; p != nil && n < 64; n++ {
			switch {
			case p.Parent != "":
				p = byDigest[p.Parent]
			case p.Subject != "":
				p = byDigest[p.Subject]
			default:
				p = nil
			}
		}
		return n
	}
	// Referrers first (deepest artifacts first), then subjects and
	// parents, then children by depth.
	var refs, rest []*plan.Item
	for _, it := range all {
		if it.Subject != "" {
			refs = append(refs, it)
		} else {
			rest = append(rest, it)
		}
	}
	sort.SliceStable(refs, func(i, j int) bool { return depth(refs[i]) > depth(refs[j]) })
	sort.SliceStable(rest, func(i, j int) bool { return depth(rest[i]) < depth(rest[j]) })

	blocked := func(it *plan.Item) string {
		if it.Parent != "" {
			if p := byDigest[it.Parent]; p != nil && p.Result != plan.ResultDeleted {
				return "its parent " + it.Parent + " was not deleted"
			}
		}
		for _, other := range all {
			if other.Subject == it.Digest && other.Result != plan.ResultDeleted {
				return "its referrer " + other.Digest + " was not deleted"
			}
		}
		return ""
	}
	runLevel := func(level []*plan.Item) {
		a.each(level, func(it *plan.Item) {
			if why := blocked(it); why != "" {
				set(it, plan.ResultSkipped, why)
				return
			}
			a.deleteDigest(it)
		})
	}
	groupBy := func(items []*plan.Item) [][]*plan.Item {
		var out [][]*plan.Item
		for i := 0; i < len(items); {
			j, d := i, depth(items[i])
			for j < len(items) && depth(items[j]) == d {
				j++
			}
			out = append(out, items[i:j])
			i = j
		}
		return out
	}
	for _, level := range groupBy(refs) {
		runLevel(level)
	}
	for _, level := range groupBy(rest) {
		runLevel(level)
	}
}

func (a *run) deleteDigest(it *plan.Item) {
	a.mu.Lock()
	refused := a.noDelete
	a.mu.Unlock()
	if refused != nil {
		set(it, plan.ResultSkipped, "the registry refuses deletes: "+refused.Error())
		return
	}
	err := a.t.Delete(a.req, it.Digest)
	switch {
	case err == nil:
		set(it, plan.ResultDeleted, "")
	case errors.Is(err, registry.ErrNotFound):
		// A retried DELETE may have succeeded the first time: look again.
		if _, herr := a.t.Head(a.req, it.Digest); errors.Is(herr, registry.ErrNotFound) {
			set(it, plan.ResultDeleted, "already gone")
		} else {
			set(it, plan.ResultFailed, err.Error())
		}
	case errors.Is(err, registry.ErrUnsupported):
		a.mu.Lock()
		if a.noDelete == nil {
			a.noDelete = err
		}
		a.mu.Unlock()
		set(it, plan.ResultFailed, "the registry refuses deletes ("+err.Error()+"); on distribution set storage.delete.enabled: true")
	default:
		set(it, plan.ResultFailed, err.Error())
	}
}
