package restore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/safe"
)

// Apply pushes what p says, filling in results. It re-checks each tag
// right before re-creating it and never moves a tag that exists.
func Apply(ctx context.Context, p *Plan, o Options) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p.DryRun = false
	for i := range p.Repositories {
		r := &p.Repositories[i]
		if r.Error != "" {
			continue
		}
		if ctx.Err() != nil {
			r.Error = "interrupted before this repository"
			continue
		}
		repo, err := o.Client.Open(ctx, r.Name, registry.PullPush)
		if err != nil {
			r.Error = "opening for push failed, nothing pushed here: " + o.explain(r.Name, err).Error()
			continue
		}
		applyRepo(ctx, repo, r, o)
	}
	p.count()
}

func applyRepo(ctx context.Context, repo *registry.Repo, r *RepoRestore, o Options) {
	a := &applier{repo: repo, r: r, o: o, done: map[string]bool{}, byDigest: map[string]*Manifest{}}
	for i := range r.Manifests {
		m := &r.Manifests[i]
		a.byDigest[m.Digest] = m
		if m.Action == ActionPresent {
			a.done[m.Digest] = true
		}
	}
	// One level at a time (Manifests is sorted by level): what a manifest
	// needs is pushed in an earlier level.
	for i := 0; i < len(r.Manifests); {
		j := i
		for j < len(r.Manifests) && r.Manifests[j].level == r.Manifests[i].level {
			j++
		}
		level := r.Manifests[i:j]
		_ = safe.Each(context.WithoutCancel(ctx), len(level), o.Client.Concurrency(), func(k int) error {
			if level[k].Action == ActionPush {
				a.push(ctx, &level[k])
			}
			return nil
		})
		i = j
	}
	// The tags, once every manifest is pushed.
	_ = safe.Each(context.WithoutCancel(ctx), len(r.Tags), o.Client.Concurrency(), func(i int) error {
		if t := &r.Tags[i]; t.Action == ActionTag {
			a.tag(ctx, t)
		}
		return nil
	})
}

// notSent is the result reason of what is not sent after a refusal.
const notSent = "not sent: the registry refused a push to this repository (see its error)"

// applier is the state of one repository's Apply.
type applier struct {
	repo *registry.Repo
	r    *RepoRestore
	o    Options

	mu       sync.Mutex
	done     map[string]bool // pushed or present
	byDigest map[string]*Manifest
	// refused is set by the first push the registry answers 401 or 403
	// (credentials without push): every other push would be refused the
	// same way, so none is sent.
	refused bool
}

// deny records the first refusal as the repository's error and returns
// err's text.
func (a *applier) deny(err error) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.refused {
		a.refused = true
		a.r.Error = "the registry refused to accept a push, nothing more is pushed here: " + err.Error()
	}
	return err.Error()
}

// isRefused is whether a push was refused.
func (a *applier) isRefused() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refused
}

// push pushes m, once what it needs is pushed.
func (a *applier) push(ctx context.Context, m *Manifest) {
	if ctx.Err() != nil {
		m.Result, m.ResultCode, m.ResultReason = ResultFailed, WhyInterrupted, "interrupted"
		return
	}
	if !a.ready(m) {
		return
	}
	if !mountBlobs(ctx, a.repo, m) {
		return
	}
	if _, err := a.repo.PutManifest(ctx, m.Digest, m.MediaType, m.body); err != nil {
		a.pushFailed(m, err)
		return
	}
	m.Result = ResultPushed
	a.mu.Lock()
	a.done[m.Digest] = true
	a.mu.Unlock()
	a.restored(ctx, m.entries)
}

// ready is whether m may be pushed now: no refusal, and what it needs
// (children, subject) is pushed or present. Otherwise it marks m.
func (a *applier) ready(m *Manifest) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refused {
		m.Result, m.ResultCode, m.ResultReason = ResultFailed, WhyNotSent, notSent
		return false
	}
	for _, d := range append(slices.Clone(m.children), m.subject) {
		if n := a.byDigest[d]; n != nil && !a.done[d] {
			if n.Action == ActionUnrecoverable {
				m.Action, m.Code, m.Reason = ActionUnrecoverable, WhyNeedUnrecoverable, "it needs "+d+", which cannot come back"
			} else {
				m.Result, m.ResultCode, m.ResultReason = ResultFailed, WhyNeedNotPushed, "not pushed: "+d+", which it needs, was not"
			}
			return false
		}
	}
	return true
}

// pushFailed records why the push of m failed.
func (a *applier) pushFailed(m *Manifest, err error) {
	if errors.Is(err, registry.ErrContentMissing) {
		// A blob went since the check: the garbage collector ran.
		m.Action, m.Code, m.Reason = ActionUnrecoverable, WhyRefusedMissing, "the registry refused it for a missing blob or manifest: "+err.Error()
		return
	}
	m.Result, m.ResultCode, m.ResultReason = ResultFailed, WhyRegistryError, a.failure(err)
}

// failure is the result reason of a failed push: explained, and recorded
// by deny if the registry refused it.
func (a *applier) failure(err error) string {
	denied := errors.Is(err, registry.ErrUnauthorized) || errors.Is(err, registry.ErrDenied)
	err = a.o.explain(a.r.Name, err)
	if denied {
		return a.deny(err)
	}
	return err.Error()
}

// restored marks the journal's entries restored.
func (a *applier) restored(ctx context.Context, entries []int64) {
	for _, id := range entries {
		if err := a.o.Journal.MarkRestored(context.WithoutCancel(ctx), id); err != nil {
			a.o.Logger.Warn("journal: recording a restore failed", "err", err)
		}
	}
}

// tag re-creates t, once every manifest is pushed, if the tag does not
// exist right before.
func (a *applier) tag(ctx context.Context, t *Tag) {
	if ctx.Err() != nil {
		t.Result, t.ResultCode, t.ResultReason = ResultFailed, WhyInterrupted, "interrupted"
		return
	}
	if a.isRefused() {
		t.Result, t.ResultCode, t.ResultReason = ResultFailed, WhyNotSent, notSent
		return
	}
	if m := a.byDigest[t.Digest]; m != nil && !a.done[t.Digest] {
		if m.Action == ActionUnrecoverable {
			t.Action, t.Code, t.Reason = ActionUnrecoverable, WhyNeedUnrecoverable, "its image "+t.Digest+" cannot come back"
		} else {
			t.Result, t.ResultCode, t.ResultReason = ResultFailed, WhyNeedNotPushed, "its image "+t.Digest+" was not pushed"
		}
		return
	}
	// Right before: a tag that exists now stays as it is.
	d, err := a.repo.Head(ctx, t.Tag)
	switch {
	case err == nil && d.Digest == t.Digest:
		t.Action, t.Code, t.Reason = ActionPresent, WhyPresent, "the tag names it already"
		return
	case err == nil:
		t.Action, t.Code, t.Reason = ActionLeave, WhyTagMoved, "the tag now names "+d.Digest+" (pushed since); left alone"
		return
	case !errors.Is(err, registry.ErrNotFound):
		t.Result, t.ResultCode, t.ResultReason = ResultFailed, WhyRegistryError, err.Error()
		return
	}
	body, mt, err := tagBody(ctx, a.repo, a.byDigest[t.Digest], t.Digest, a.o)
	if err != nil {
		t.Result, t.ResultCode, t.ResultReason = ResultFailed, WhyRegistryError, err.Error()
		return
	}
	if _, err := a.repo.PutManifest(ctx, t.Tag, mt, body); err != nil {
		t.Result, t.ResultCode, t.ResultReason = ResultFailed, WhyRegistryError, a.failure(err)
		return
	}
	t.Result = ResultTagged
	a.restored(ctx, t.entries)
}

// tagBody is the manifest a tag is re-created with: the run's copy, else
// the journal's, else the registry's (the digest was never deleted: the
// run removed only the tag).
func tagBody(ctx context.Context, repo *registry.Repo, m *Manifest, digest string, o Options) ([]byte, string, error) {
	if m != nil && len(m.body) > 0 {
		return m.body, m.MediaType, nil
	}
	body, d, err := repo.GetManifest(ctx, digest)
	if err == nil {
		return body, d.MediaType, nil
	}
	if !errors.Is(err, registry.ErrNotFound) {
		return nil, "", err
	}
	body, mt, ok, jerr := o.Journal.Manifest(ctx, digest)
	if jerr != nil {
		return nil, "", jerr
	}
	if !ok || !registry.Verify(digest, body) {
		return nil, "", fmt.Errorf("its manifest %s is gone and the journal holds no copy", digest)
	}
	if mt == "" {
		mt = mediaTypeOf(body)
	}
	return body, mt, nil
}

func mediaTypeOf(body []byte) string { return registry.MediaTypeOf(body) }
