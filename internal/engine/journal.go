package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regprune/regprune/internal/apply"
	"github.com/regprune/regprune/internal/digest"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// ErrJournal marks a deletion not sent because its journal entry could not
// be written.
var ErrJournal = errors.New("journal entry could not be written; the delete was not sent")

// journalRun is one apply's journal.
type journalRun struct {
	j     *journal.Journal
	id    string
	cache inventory.Cache
	log   *slog.Logger
	// gets counts the manifests read from the registry for the journal
	// (not in the cache): the journal's extra requests.
	gets atomic.Int64
	// waited is how long the DELETEs waited, in total, for their entries
	// to be on disk (and their manifests read): the journal's share of
	// apply's critical path, in nanoseconds.
	waited atomic.Int64
}

// startJournal records the start of the run and names it in p. It returns
// nil without a journal.
func startJournal(ctx context.Context, p *plan.Plan, o Options) (*journalRun, error) {
	p.RunID = "" // a saved report's id is not this run's
	if o.Journal == nil {
		return nil, nil
	}
	id := journal.NewRunID(o.Now)
	if err := o.Journal.BeginRun(context.WithoutCancel(ctx), id, "apply", o.Now); err != nil {
		return nil, err
	}
	p.RunID = id
	return &journalRun{j: o.Journal, id: id, cache: o.Cache, log: o.Logger}, nil
}

func (jr *journalRun) finish(ctx context.Context, p *plan.Plan) {
	if jr == nil {
		return
	}
	if err := jr.j.Flush(context.WithoutCancel(ctx)); err != nil {
		// Those entries stay pending: restore treats them as possibly deleted.
		jr.log.Warn("journal: recording results failed", "run", jr.id, "err", err)
	}
	end := journal.RunEnd{ReclaimableBytes: p.Summary.ReclaimableBytes, FreedBytes: p.FreedBytes(),
		FailedItems: p.Summary.FailedItems, FailedRepositories: p.Summary.Failed}
	if err := jr.j.EndRun(context.WithoutCancel(ctx), jr.id, end); err != nil {
		jr.log.Warn("journal: recording the end of the run failed", "run", jr.id, "err", err)
	}
	jr.log.Info("journal", "run", jr.id, "path", jr.j.Path(), "manifests_read_for_journal", jr.gets.Load(),
		"deletes_waited", time.Duration(jr.waited.Load()).Round(time.Millisecond))
}

// wrap returns t with every Delete journaled. Once apply is done with it,
// settle records what was announced and not sent.
func (jr *journalRun) wrap(t apply.Target, r *plan.RepoPlan) *journalTarget {
	jt := &journalTarget{Target: t, run: jr, repo: r.Name, items: map[string]*plan.Item{}, tags: map[string]*plan.Item{}, planTags: r.Tags}
	for i := range r.Items {
		it := &r.Items[i]
		jt.items[it.Digest] = it
		for _, tag := range it.Tags {
			jt.tags[tag] = it
		}
		for _, tag := range it.Untag {
			jt.tags[tag] = it
		}
	}
	jt.batch = jr.j.NewBatch(jt.entry)
	return jt
}

// journalTarget is apply's Target that writes the journal entry of each
// DELETE before sending it, and its result after. An entry that cannot be
// written (or a manifest that cannot be read for it) means the DELETE is
// not sent.
type journalTarget struct {
	apply.Target
	run      *journalRun
	repo     string
	items    map[string]*plan.Item // by digest; read only
	tags     map[string]*plan.Item // by tag (tags and untags); read only
	planTags map[string]string

	batch *journal.Batch // the entries of announced deletes (journal_batch.go)

	mu   sync.Mutex
	done map[string]int64 // the entry of each ref whose DELETE was sent (journal_readback.go)
}

// entry is the journal entry of deleting ref (a digest or a tag). An
// error means the DELETE must not be sent.
func (t *journalTarget) entry(ctx context.Context, ref string) (journal.Entry, error) {
	e := journal.Entry{RunID: t.run.id, Repository: t.repo}
	switch digest.KindOf(ref) {
	case digest.KindInvalid:
		// Not journaled, not sent: Delete would refuse it too.
		return e, fmt.Errorf("%w: %w", ErrJournal, registry.CheckRef(ref))
	case digest.KindDigest:
		e.Kind, e.Digest = journal.KindManifest, ref
		if it := t.items[ref]; it != nil {
			e.Tags, e.ItemKind, e.Parent, e.Subject, e.MediaType, e.Size = it.Tags, it.Kind, it.Parent, it.Subject, it.MediaType, it.Size
			e.Reason = strings.Join(plan.Texts(it.Reasons), "; ")
		}
		body, mt, err := t.manifest(ctx, ref)
		if err != nil {
			// Not journaled, not sent. A manifest gone already keeps its
			// 404, so that apply records it as gone.
			return e, fmt.Errorf("%w: reading manifest %s for the journal: %w", ErrJournal, ref, err)
		}
		e.Manifest, e.Size = body, int64(len(body))
		if e.MediaType == "" {
			e.MediaType = mt
		}
	case digest.KindTag:
		e.Kind, e.Tag, e.Tags = journal.KindTag, ref, []string{ref}
		it := t.tags[ref]
		switch {
		case it != nil:
			e.Digest, e.ItemKind, e.MediaType = it.Digest, it.Kind, it.MediaType
			e.Reason = strings.Join(plan.Texts(it.Reasons), "; ")
		case t.planTags[ref] != "":
			e.Digest = t.planTags[ref]
		default:
			return e, fmt.Errorf("%w: tag %s is not in the plan", ErrJournal, ref)
		}
		// The body only when it costs nothing: the manifest stays (an
		// untag) or its own entry follows; restore reads it back then.
		if body, ok := t.cached(e.Digest); ok {
			e.Manifest = body
		}
	}
	return e, nil
}

func (t *journalTarget) cached(digest string) ([]byte, bool) {
	if t.run.cache == nil {
		return nil, false
	}
	body, ok := t.run.cache.Get(digest)
	if !ok || !registry.Verify(digest, body) {
		return nil, false
	}
	return body, true
}

// manifest returns the raw manifest of digest: from the cache when it has
// it, else with a GET by digest (verified).
func (t *journalTarget) manifest(ctx context.Context, digest string) ([]byte, string, error) {
	if body, ok := t.cached(digest); ok {
		return body, mediaTypeOf(body), nil
	}
	t.run.gets.Add(1)
	body, d, err := t.Target.GetManifest(ctx, digest)
	if err != nil {
		return nil, "", err
	}
	mt := d.MediaType
	if mt == "" {
		mt = mediaTypeOf(body)
	}
	return body, mt, nil
}

func mediaTypeOf(body []byte) string { return registry.MediaTypeOf(body) }

// journalSkip fails every repository of p that has work: the journal
// could not record the start of the run, so nothing is deleted.
func journalSkip(p *plan.Plan, err error) {
	for i := range p.Repositories {
		r := &p.Repositories[i]
		if r.Err != nil {
			continue
		}
		for _, it := range r.Items {
			if it.Action == plan.ActionDelete || len(it.Untag) > 0 {
				r.Err = plan.Fail(plan.ErrorJournal, err)
				break
			}
		}
		skipPending(r, plan.JournalFailed(err))
	}
}
