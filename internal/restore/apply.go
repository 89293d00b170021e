package restore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/regprune/regprune/internal/registry"
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
		repo, err := o.Client.OpenPush(ctx, r.Repository)
		if err != nil {
			r.Error = "opening for push failed, nothing pushed here: " + o.explain(r.Repository, err).Error()
			continue
		}
		applyRepo(ctx, repo, r, o)
	}
	p.count()
}

func applyRepo(ctx context.Context, repo *registry.Repo, r *Repository, o Options) {
	var mu sync.Mutex
	done := map[string]bool{} // pushed or present
	byDigest := map[string]*Manifest{}
	for i := range r.Manifests {
		m := &r.Manifests[i]
		byDigest[m.Digest] = m
		if m.Action == ActionPresent {
			done[m.Digest] = true
		}
	}
	// refused is set by the first push the registry answers 401 or 403
	// (credentials without push): every other push would be refused the
	// same way, so none is sent.
	var refused bool
	const notSent = "not sent: the registry refused a push to this repository (see its error)"
	deny := func(err error) string {
		mu.Lock()
		defer mu.Unlock()
		if !refused {
			refused = true
			r.Error = "the registry refused to accept a push, nothing more is pushed here: " + err.Error()
		}
		return err.Error()
	}
	push := func(m *Manifest) {
		if ctx.Err() != nil {
			m.Result, m.ResultReason = ResultFailed, "interrupted"
			return
		}
		mu.Lock()
		if refused {
			mu.Unlock()
			m.Result, m.ResultReason = ResultFailed, notSent
			return
		}
		for _, d := range append(slices.Clone(m.children), m.subject) {
			if n := byDigest[d]; n != nil && !done[d] {
				if n.Action == ActionUnrecoverable {
					m.Action, m.Reason = ActionUnrecoverable, "it needs "+d+", which cannot come back"
				} else {
					m.Result, m.ResultReason = ResultFailed, "not pushed: "+d+", which it needs, was not"
				}
				break
			}
		}
		mu.Unlock()
		if m.Action != ActionPush || m.Result != "" {
			return
		}
		if _, err := repo.PutManifest(ctx, m.Digest, m.MediaType, m.body); err != nil {
			var re *registry.Error
			if errors.As(err, &re) && (re.Code == "MANIFEST_BLOB_UNKNOWN" || re.Code == "BLOB_UNKNOWN" || re.Code == "MANIFEST_UNKNOWN") {
				// A blob went since the check: the garbage collector ran.
				m.Action, m.Reason = ActionUnrecoverable, "the registry refused it for a missing blob or manifest: "+err.Error()
				return
			}
			if errors.Is(err, registry.ErrUnauthorized) || errors.Is(err, registry.ErrDenied) {
				m.Result, m.ResultReason = ResultFailed, deny(o.explain(r.Repository, err))
				return
			}
			m.Result, m.ResultReason = ResultFailed, o.explain(r.Repository, err).Error()
			return
		}
		m.Result = ResultPushed
		mu.Lock()
		done[m.Digest] = true
		mu.Unlock()
		for _, id := range m.entries {
			if err := o.Journal.MarkRestored(context.WithoutCancel(ctx), id); err != nil {
				o.Logger.Warn("journal: recording a restore failed", "err", err)
			}
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
		_ = forEach(context.WithoutCancel(ctx), len(level), o.Client.Concurrency(), func(k int) error {
			if level[k].Action == ActionPush {
				push(&level[k])
			}
			return nil
		})
		i = j
	}
	// The tags, once every manifest is pushed.
	_ = forEach(context.WithoutCancel(ctx), len(r.Tags), o.Client.Concurrency(), func(i int) error {
		t := &r.Tags[i]
		if t.Action != ActionTag {
			return nil
		}
		if ctx.Err() != nil {
			t.Result, t.ResultReason = ResultFailed, "interrupted"
			return nil
		}
		mu.Lock()
		stop := refused
		mu.Unlock()
		if stop {
			t.Result, t.ResultReason = ResultFailed, notSent
			return nil
		}
		if m := byDigest[t.Digest]; m != nil && !done[t.Digest] {
			if m.Action == ActionUnrecoverable {
				t.Action, t.Reason = ActionUnrecoverable, "its image "+t.Digest+" cannot come back"
			} else {
				t.Result, t.ResultReason = ResultFailed, "its image "+t.Digest+" was not pushed"
			}
			return nil
		}
		// Right before: a tag that exists now stays as it is.
		d, err := repo.Head(ctx, t.Tag)
		switch {
		case err == nil && d.Digest == t.Digest:
			t.Action, t.Reason = ActionPresent, "the tag names it already"
			return nil
		case err == nil:
			t.Action, t.Reason = ActionLeave, "the tag now names "+d.Digest+" (pushed since); left alone"
			return nil
		case !errors.Is(err, registry.ErrNotFound):
			t.Result, t.ResultReason = ResultFailed, err.Error()
			return nil
		}
		body, mt, err := tagBody(ctx, repo, byDigest[t.Digest], t.Digest, o)
		if err != nil {
			t.Result, t.ResultReason = ResultFailed, err.Error()
			return nil
		}
		if _, err := repo.PutManifest(ctx, t.Tag, mt, body); err != nil {
			if errors.Is(err, registry.ErrUnauthorized) || errors.Is(err, registry.ErrDenied) {
				t.Result, t.ResultReason = ResultFailed, deny(o.explain(r.Repository, err))
				return nil
			}
			t.Result, t.ResultReason = ResultFailed, o.explain(r.Repository, err).Error()
			return nil
		}
		t.Result = ResultTagged
		for _, id := range t.entries {
			if err := o.Journal.MarkRestored(context.WithoutCancel(ctx), id); err != nil {
				o.Logger.Warn("journal: recording a restore failed", "err", err)
			}
		}
		return nil
	})
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
