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
	"log/slog"
	"sync"
	"time"

	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/plan"
)

// Target is what apply needs from a registry; *registry.Repo has it: the
// reads of inventory (a Source without image configs) and Delete. The
// referrers API (inventory.ReferrersSource) is part of the interface, not
// an optional extra found by type assertion, so that no wrapper of a
// Target can hide it from the final guard.
type Target interface {
	inventory.ReadSource
	inventory.ReferrersSource
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
	// Cache serves manifests by digest (verified on read) to the
	// re-check and the guard: a manifest this run's inventory or an
	// earlier run read is not asked for again. nil: none.
	Cache inventory.Cache
	// RetryWait is the first wait before retrying a delete the registry
	// refused until something else is gone (GAR's dangling tag or
	// parent, ECR's manifest list, Harbor's 412); it doubles at each of
	// the 3 tries. Default 2s.
	RetryWait time.Duration
	// InUseDigests and InUseTags are what the in-use sources name in this
	// repository. The final guard treats them as staying, like a tag that
	// stays: an in-use tag is never removed, and nothing an in-use digest
	// (one the plan found) reaches is deleted, whatever the plan says.
	InUseDigests []string
	InUseTags    []string
}

// tristate is what a probe of the registry found so far.
type tristate int8

const (
	probeUnknown tristate = iota // not probed yet, or not settled
	probeYes
	probeNo
)

type run struct {
	t   Target
	r   *plan.RepoPlan
	o   Options
	ctx context.Context // cancelled on interrupt: start nothing new
	req context.Context // for requests: lets in-flight ones finish

	mu        sync.Mutex
	tagDelete tristate // whether the registry deletes a tag alone
	tagAnswer error    // the answer that refused a tag delete
	noDelete  error    // the registry refuses every delete here (UNSUPPORTED, 401, 403)
	digestOK  bool     // a digest delete succeeded
	read      *inventory.Reader
	gone      map[string]bool   // digests deleted, or found gone, in this run
	now       map[string]string // tags and digests at the re-check
	anchor    map[*plan.Item]string
	later     map[*plan.Item]error // digest deletes refused until something else is gone (retryLater)

	// For the final guard (guard.go).
	latest          map[string]string   // tags and digests at the last listing
	refsAPI         tristate            // whether the registry has the referrers API
	listedByReached map[string]bool     // what the manifests the last walk reached list (deepDelete)
	attached        map[*plan.Item]bool // planned deletions confirmed attached to their subject (confirmAttached)

	// For the read-back (readback.go).
	tagsRemoved     map[string]string // tags deleted by tag -> the digest they named
	seen            map[string]bool   // digests a HEAD found gone
	digestKeepsTags bool              // a digest delete left its tags
	digestTakesTags bool              // a digest delete took its tags with it
}

// Run applies the plan of one repository, filling in each item's
// Result. It returns an error only when the repository could not be
// re-checked at all, in which case nothing was deleted.
func Run(ctx context.Context, t Target, r *plan.RepoPlan, o Options) error {
	if r.Err != nil {
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
	if o.RetryWait <= 0 {
		o.RetryWait = 2 * time.Second
	}
	req, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(o.Grace, cancel) })
	defer stop()
	// Every read of the registry (tags, manifests, referrers) goes
	// through inventory's Reader, the one Collect reads with.
	a := &run{t: t, r: r, o: o, ctx: ctx, req: req, read: inventory.NewReader(t, inventory.ReaderOptions{Concurrency: o.Concurrency, Cache: o.Cache}), gone: map[string]bool{}, later: map[*plan.Item]error{}, attached: map[*plan.Item]bool{}}
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

func (a *run) apply() error {
	work := a.items(func(it *plan.Item) bool { return it.Action == plan.ActionDelete || len(it.Untag) > 0 })
	if len(work) == 0 {
		return nil
	}
	if a.ctx.Err() != nil {
		for _, it := range work {
			set(it, plan.ResultSkipped, plan.RepoInterrupted())
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
	if err == nil {
		var refused bool
		if refused, err = a.refuseEmpty(now, work); refused {
			return nil
		}
	}
	if err != nil {
		for _, it := range work {
			set(it, plan.ResultSkipped, plan.RecheckFailed(err))
		}
		a.r.Err = plan.Fail(plan.ErrorRecheck, err)
		return err
	}

	if err := a.guard(); err != nil { // before any tag goes: a signature tag a kept tag reaches stays
		return err
	}
	a.hold()
	defer a.capabilities()
	defer a.readBack() // before capabilities: it learns what digest deletes do

	// 2. Drop the tags of images to delete; the first of them probes
	// whether the registry deletes a tag alone. Only then, and only if it
	// does, untag kept images (untag_unkept): a kept image's tag is never
	// the probe, since a registry that removes the whole manifest for
	// DELETE /manifests/<tag> would destroy the kept image with it.
	a.deleteTagsOfTargets()
	a.untag()

	// 3. Re-check what tags remain, then delete digests in a safe order.
	// After a probe that took its whole manifest too: the tag of that
	// manifest is gone, and the guard must not count it as staying.
	if (a.tagState() == probeYes || a.probeTookManifest()) && a.ctx.Err() == nil {
		targets := a.items(func(it *plan.Item) bool { return it.Action == plan.ActionDelete })
		remaining, err := a.resolve()
		if err == nil {
			a.latest = remaining
			err = a.verify(targets, remaining)
		}
		if err != nil {
			for _, it := range targets {
				if it.Result == "" {
					set(it, plan.ResultSkipped, plan.RecheckAfterTags(err))
				}
			}
			a.r.Err = plan.Fail(plan.ErrorRecheckTags, err)
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
