// Package engine runs regprune's pipeline for a set of repositories:
// inventory -> policy -> plan, and, for apply, the same plan handed to
// apply. plan and apply share every step up to the first DELETE.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/regprune/regprune/internal/apply"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/safe"
)

// Job is one repository and the policy that applies to it.
type Job struct {
	Repository string
	Policy     policy.Policy
	Rule       string // where the policy came from, for the report
	// DiscoveredBy is the vendor API that found the repository (gitlab),
	// "" for a literal name or the catalog.
	DiscoveredBy string
}

// Options configures a run.
type Options struct {
	Client *registry.Client
	// Repositories processed at once; requests within one are bounded by
	// the client's per-host concurrency.
	Parallel int
	// Cache, if set, holds manifests and configs by digest across runs.
	Cache inventory.Cache
	// Shard, if set, keeps only the targets of this share (see Shard).
	Shard  Shard
	Logger *slog.Logger
	Now    time.Time
	// Journal, if set, records each deletion of Apply before it is sent,
	// and lets Plan finish the work of interrupted runs (see journal.go).
	Journal *journal.Journal
	// Explain, if set, may add context to a repository's failure before
	// it is logged and recorded (the CLI names the credential source).
	Explain func(repository string, err error) error
	// Done, if set, is called as each repository is planned or applied.
	Done func(repository string)
	// RetryWait is apply.Options.RetryWait (0: its default).
	RetryWait time.Duration
	// InUse, if set, is what the in-use sources name in a repository
	// (read in full before the run): kept whatever the policy says, and
	// never deleted by apply (its final guard).
	InUse func(repository string) policy.InUse
}

func (o *Options) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
}

// Plan builds the plan of every target. A repository that cannot be read
// is reported in the plan with its error and nothing to delete. The mode
// changes only the plan's mode and the token scope (apply asks for delete
// too): plan and apply share every step up to the first DELETE.
func Plan(ctx context.Context, targets []Job, mode plan.Mode, o Options) *plan.Plan {
	o.defaults()
	if o.Shard.Total > 1 {
		n := len(targets)
		targets = o.Shard.Filter(targets)
		o.Logger.Info("shard", "shard", o.Shard.String(), "repositories", len(targets), "of", n)
	}
	repos := make([]plan.RepoPlan, len(targets))
	_ = safe.Each(context.Background(), len(targets), o.Parallel, func(i int) error {
		t := targets[i]
		r, err := planOne(ctx, t, mode, o)
		if err != nil && o.Explain != nil {
			err = o.Explain(t.Repository, err)
		}
		if o.Done != nil {
			defer o.Done(t.Repository)
		}
		if err != nil {
			// Info: the failure is in the plan the caller reports; an
			// error log would print it a second time.
			o.Logger.Info("repository failed; nothing will be deleted in it", "repository", t.Repository, "err", err)
			r = plan.Failed(t.Repository, err)
		}
		r.Rule = t.Rule
		repos[i] = r
		return nil
	})
	return plan.New(mode, o.Now, repos)
}

// access is the token scope a mode needs.
func access(mode plan.Mode) registry.Access {
	if mode == plan.ModeApply {
		return registry.PullDelete
	}
	return registry.Pull
}

func planOne(ctx context.Context, t Job, mode plan.Mode, o Options) (plan.RepoPlan, error) {
	start := time.Now()
	repo, err := o.Client.Open(ctx, t.Repository, access(mode))
	if err != nil {
		return plan.RepoPlan{}, err
	}
	us := unfinished(ctx, repo.Name(), o)
	g, err := inventory.Collect(ctx, repo, inventory.Options{
		Concurrency: o.Client.Concurrency(), NeedAges: t.Policy.NeedsAges(), Cache: o.Cache, Logger: o.Logger,
		LabelKeys: t.Policy.ExpiryKeys(), Untagged: unfinishedDigests(us),
	})
	if err == nil {
		err = inventory.HiddenTags(ctx, repo, g, t.Policy.Keep.Tags)
	}
	var vc *plan.Capabilities
	if err == nil {
		vc, err = checkVendor(ctx, repo, g, o.Client.Concurrency())
	}
	if err != nil {
		return plan.RepoPlan{}, err
	}
	var in policy.InUse
	if o.InUse != nil {
		in = o.InUse(t.Repository)
	}
	ds := policy.EvaluateInUse(g, t.Policy, in, o.Now)
	r := plan.Build(g, ds, t.Policy)
	r.InUseMissing = plan.MissingInUse(g, in)
	finishInterrupted(ctx, g, &r, o)
	finishUnfinished(g, &r, us, in.Digests, o)
	r.AgesRead = t.Policy.NeedsAges()
	r.NoReferrersAPI = g.ReferrersProbed && !g.ReferrersAPI
	if g.ReferrersProbed {
		r.Capabilities = &plan.Capabilities{Referrers: plan.ReferrersFallback}
		if g.ReferrersAPI {
			r.Capabilities.Referrers = plan.ReferrersAPI
		}
	}
	if vc != nil {
		if r.Capabilities == nil {
			r.Capabilities = &plan.Capabilities{}
		}
		r.Capabilities.API, r.Capabilities.APIURL, r.Capabilities.APIUsedFor = vc.API, vc.APIURL, vc.APIUsedFor
		r.Capabilities.Notes = append(r.Capabilities.Notes, vc.Notes...)
		if t.DiscoveredBy != "" {
			r.Capabilities.APIUsedFor = append(r.Capabilities.APIUsedFor, "discovery")
		}
	}
	o.Logger.Info("planned", "repository", t.Repository, "images", r.Summary.Images, "delete", r.Summary.Delete,
		"reclaimable_bytes", r.Summary.ReclaimableBytes, "took", time.Since(start).Round(time.Millisecond))
	return r, nil
}

// Apply executes p in place, filling in results. Repositories that failed
// to plan are left alone.
func Apply(ctx context.Context, p *plan.Plan, o Options) {
	o.defaults()
	p.Mode = plan.ModeApply
	jr, err := startJournal(ctx, p, o)
	if err != nil {
		o.Logger.Info("journal: nothing deleted", "err", err)
		journalSkip(p, err)
		p.Recount()
		return
	}
	refusals := &apply.Refusals{} // a registry that refuses deletes is asked once
	_ = safe.Each(context.Background(), len(p.Repositories), o.Parallel, func(i int) error {
		r := &p.Repositories[i]
		if r.Err != nil {
			return nil
		}
		if ctx.Err() != nil {
			// Interrupted before this repository: nothing was tried, and
			// that is not a failure of the repository.
			skipPending(r, plan.RepoInterrupted())
			return nil
		}
		repo, err := o.Client.Open(ctx, r.Name, registry.PullDelete)
		if err == nil {
			var t apply.Target = repo
			var jt *journalTarget
			if jr != nil {
				jt = jr.wrap(repo, r)
				jt.recordIntents(ctx, r)
				t = jt
			}
			noTagDelete(repo, r)
			ao := apply.Options{Concurrency: o.Client.Concurrency(), Logger: o.Logger, Refusals: refusals, Cache: o.Cache, RetryWait: o.RetryWait}
			if o.InUse != nil {
				in := o.InUse(r.Name)
				for d := range in.Digests {
					ao.InUseDigests = append(ao.InUseDigests, d)
				}
				for tag := range in.Tags {
					ao.InUseTags = append(ao.InUseTags, tag)
				}
			}
			err = apply.Run(ctx, t, r, ao)
			jt.settle()
			vendorDeletes(repo, r)
		}
		if err != nil && o.Explain != nil {
			err = o.Explain(r.Name, err)
		}
		if o.Done != nil {
			defer o.Done(r.Name)
		}
		if err != nil {
			o.Logger.Info("apply failed; nothing more deleted in it", "repository", r.Name, "err", err)
			if r.Err == nil {
				r.Err = plan.Fail(plan.ErrorApply, err)
			}
			skipPending(r, plan.RepoFailed(err))
		}
		return nil
	})
	p.Recount()
	jr.finish(ctx, p)
}

// skipPending marks every item of r that has work and no result skipped.
func skipPending(r *plan.RepoPlan, why plan.Reason) {
	for j := range r.Items {
		if it := &r.Items[j]; it.Result == "" && (it.Action == plan.ActionDelete || len(it.Untag) > 0) {
			it.Result, it.ResultReason = plan.ResultSkipped, why
		}
	}
}

// ErrPartial and ErrNothing describe failed runs; the CLI maps them to
// exit codes 3 and 1.
var (
	ErrPartial = errors.New("some repositories or deletions failed")
	ErrNothing = errors.New("nothing could be done")
)

// Result classifies p: nil when nothing failed, ErrPartial for failures
// with some success, ErrNothing for failures with no success at all.
func Result(p *plan.Plan) error {
	s := p.Summary
	failures := s.Failed + s.FailedItems
	if failures == 0 {
		return nil
	}
	succeeded := s.Deleted + s.Untagged
	if p.Mode == plan.ModePlan {
		succeeded = s.Repositories - s.Failed
	}
	msg := fmt.Sprintf("%d of %d repositories failed, %d deletions failed", s.Failed, s.Repositories, s.FailedItems)
	if succeeded == 0 {
		return fmt.Errorf("%w: %s", ErrNothing, msg)
	}
	return fmt.Errorf("%w: %s", ErrPartial, msg)
}

// vendorDeletes records in r's capabilities what the vendor API deleted.
func vendorDeletes(repo *registry.Repo, r *plan.RepoPlan) {
	api := repo.API()
	c := r.Capabilities
	if api.API == registry.APIV2 || c == nil {
		return
	}
	c.API, c.APIURL = string(api.API), api.URL
	add := func(u string) {
		for _, x := range c.APIUsedFor {
			if x == u {
				return
			}
		}
		c.APIUsedFor = append(c.APIUsedFor, u)
	}
	switch {
	case api.API == registry.APIGitHub && c.Deletes == plan.CapWorks:
		add("deletes")
	case (api.API == registry.APIDockerHub || api.API == registry.APIGitLab) && c.TagDelete == plan.CapWorks:
		add("tag deletes")
	}
}

// noTagDelete settles, before apply, the untags of kept images on a
// registry whose API documents no tag delete (GitHub's packages API):
// each is skipped, said once in the capabilities, and no probe is needed.
func noTagDelete(repo *registry.Repo, r *plan.RepoPlan) {
	if repo.API().API != registry.APIGitHub {
		return
	}
	n := 0
	for j := range r.Items {
		if it := &r.Items[j]; it.Result == "" && it.Action == plan.ActionKeep && len(it.Untag) > 0 {
			it.Result, it.ResultReason = plan.ResultSkipped, plan.NoTagDelete()
			n++
		}
	}
	if n == 0 {
		return
	}
	if r.Capabilities == nil {
		r.Capabilities = &plan.Capabilities{}
	}
	r.Capabilities.TagDelete = plan.CapRefused
	r.Capabilities.Notes = append(r.Capabilities.Notes, "GitHub's packages API cannot delete a tag alone: the tags untag_unkept would remove stay on their kept images")
}
