package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/safe"
)

// check decides each manifest's and tag's action from the registry as it
// is now. Any error reading it fails the repository: nothing is pushed
// in it.
func check(ctx context.Context, r *Repository, o Options) {
	fail := func(err error) {
		r.Error = "checking the registry failed, nothing will be pushed here: " + err.Error()
	}
	repo, err := o.Client.Open(ctx, r.Repository, registry.Pull)
	if err != nil {
		fail(err)
		return
	}
	exists := func(ref string) (string, bool, error) {
		d, err := repo.Head(ctx, ref)
		if errors.Is(err, registry.ErrNotFound) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		return d.Digest, true, nil
	}
	idx := map[string]int{}
	for i := range r.Manifests {
		idx[r.Manifests[i].Digest] = i
	}
	var mu sync.Mutex
	blobs := map[string]bool{}   // blob -> the repository serves it
	present := map[string]bool{} // manifests the registry has, beyond ours
	// known answers what the registry said of key, asking it once.
	known := func(cache map[string]bool, key string, ask func() (bool, error)) (bool, error) {
		mu.Lock()
		ok, seen := cache[key]
		mu.Unlock()
		if seen {
			return ok, nil
		}
		ok, err := ask()
		if err != nil {
			return false, err
		}
		mu.Lock()
		cache[key] = ok
		mu.Unlock()
		return ok, nil
	}
	err = forEach(ctx, len(r.Manifests), o.Client.Concurrency(), func(i int) error {
		m := &r.Manifests[i]
		if _, ok, err := exists(m.Digest); err != nil {
			return err
		} else if ok {
			m.Action, m.Reason = ActionPresent, "the registry has it"
			return nil
		}
		if len(m.body) == 0 || !registry.Verify(m.Digest, m.body) {
			m.Action, m.Reason = ActionUnrecoverable, "the journal holds no intact copy of the manifest"
			return nil
		}
		m.Action = ActionPush
		for _, b := range m.blobs {
			ok, err := known(blobs, b.digest, func() (bool, error) { return repo.BlobExists(ctx, b.digest) })
			if err != nil {
				return err
			}
			if !ok {
				m.Action = ActionUnrecoverable
				m.Reason = fmt.Sprintf("its %s blob %s is gone (the registry's garbage collector has run)", b.what, b.digest)
				return nil
			}
		}
		// What it needs and the run did not delete must be there now.
		for _, d := range append(slices.Clone(m.children), m.subject) {
			if _, ours := idx[d]; d == "" || ours {
				continue
			}
			ok, err := known(present, d, func() (bool, error) { _, ok, err := exists(d); return ok, err })
			if err != nil {
				return err
			}
			if !ok {
				if run := r.holders[d]; run != "" {
					m.Action, m.NeedsRun = ActionNeedsRun, run
					m.Reason = fmt.Sprintf("it needs %s, which run %s deleted: restore that run with this one", d, run)
					return nil
				}
				m.Action = ActionUnrecoverable
				m.Reason = fmt.Sprintf("it needs %s, which is gone and not in this run's journal", d)
				return nil
			}
		}
		return nil
	})
	if err != nil {
		fail(err)
		return
	}
	// An index whose child cannot come back, or a referrer whose subject
	// cannot, cannot either.
	for changed := true; changed; {
		changed = false
		for i := range r.Manifests {
			m := &r.Manifests[i]
			if m.Action != ActionPush {
				continue
			}
			for _, c := range m.children {
				if j, ok := idx[c]; ok && r.Manifests[j].Action == ActionUnrecoverable {
					m.Action, m.Reason, changed = ActionUnrecoverable, "its child "+c+" cannot come back", true
					break
				}
				if j, ok := idx[c]; ok && r.Manifests[j].Action == ActionNeedsRun {
					run := r.Manifests[j].NeedsRun
					m.Action, m.NeedsRun, changed = ActionNeedsRun, run, true
					m.Reason = "its child " + c + " needs run " + run
					break
				}
			}
			if j, ok := idx[m.subject]; m.Action == ActionPush && m.subject != "" && ok && r.Manifests[j].Action == ActionUnrecoverable {
				m.Action, m.Reason, changed = ActionUnrecoverable, "its subject "+m.subject+" cannot come back", true
			}
			if j, ok := idx[m.subject]; m.Action == ActionPush && m.subject != "" && ok && r.Manifests[j].Action == ActionNeedsRun {
				run := r.Manifests[j].NeedsRun
				m.Action, m.NeedsRun, changed = ActionNeedsRun, run, true
				m.Reason = "its subject " + m.subject + " needs run " + run
			}
		}
	}
	// Push order: children before indexes, subjects before referrers.
	var level func(i, depth int) int
	level = func(i, depth int) int {
		m := &r.Manifests[i]
		if m.level > 0 || depth > 64 {
			return m.level
		}
		n := 1
		for _, d := range append(slices.Clone(m.children), m.subject) {
			if j, ok := idx[d]; ok && d != "" {
				n = max(n, level(j, depth+1)+1)
			}
		}
		m.level = n
		return n
	}
	for i := range r.Manifests {
		level(i, 0)
	}
	sort.SliceStable(r.Manifests, func(a, b int) bool { return r.Manifests[a].level < r.Manifests[b].level })

	for i := range r.Manifests {
		idx[r.Manifests[i].Digest] = i
	}
	err = forEach(ctx, len(r.Tags), o.Client.Concurrency(), func(i int) error {
		t := &r.Tags[i]
		if j, ok := idx[t.Digest]; ok && r.Manifests[j].Action == ActionUnrecoverable {
			t.Action, t.Reason = ActionUnrecoverable, "its image "+t.Digest+" cannot come back"
			return nil
		}
		if j, ok := idx[t.Digest]; ok && r.Manifests[j].Action == ActionNeedsRun {
			t.Action, t.NeedsRun = ActionNeedsRun, r.Manifests[j].NeedsRun
			t.Reason = "its image " + t.Digest + " needs run " + t.NeedsRun
			return nil
		}
		if _, ours := idx[t.Digest]; !ours {
			// Only the tag was deleted in this run: its manifest must
			// still be there.
			ok, err := known(present, t.Digest, func() (bool, error) { _, ok, err := exists(t.Digest); return ok, err })
			if err != nil {
				return err
			}
			if !ok {
				if run := r.holders[t.Digest]; run != "" {
					t.Action, t.NeedsRun = ActionNeedsRun, run
					t.Reason = "its manifest " + t.Digest + " is gone too, deleted by run " + run + ": restore that run with this one"
					return nil
				}
				t.Action, t.Reason = ActionUnrecoverable, "its manifest "+t.Digest+" is gone too, deleted outside this run; restore the run that deleted it first"
				return nil
			}
		}
		now, ok, err := exists(t.Tag)
		if err != nil {
			return err
		}
		switch {
		case !ok:
			t.Action = ActionTag
		case now == t.Digest:
			t.Action, t.Reason = ActionPresent, "the tag names it already"
		default:
			t.Action, t.Reason = ActionLeave, "the tag now names "+now+" (pushed since); left alone"
		}
		return nil
	})
	if err != nil {
		fail(err)
	}
}

// forEach runs fn(0..n-1), limit at once, and returns the first error;
// after an error or a cancelled ctx, calls not started are not made.
func forEach(ctx context.Context, n, limit int, fn func(i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, limit))
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(safe.Func(func() error { return fn(i) }))
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
