package restore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/safe"
)

// check decides each manifest's and tag's action from the registry as it
// is now. Any error reading it fails the repository: nothing is pushed
// in it.
func check(ctx context.Context, r *RepoRestore, o Options) {
	fail := func(err error) {
		r.Error = "checking the registry failed, nothing will be pushed here: " + err.Error()
	}
	repo, err := o.Client.Open(ctx, r.Name, registry.Pull)
	if err != nil {
		fail(err)
		return
	}
	c := &checker{r: r, o: o, repo: repo, read: inventory.NewReader(repo, inventory.ReaderOptions{Concurrency: o.Client.Concurrency()}),
		idx: map[string]int{}, blobs: map[string]bool{}, present: map[string]bool{}}
	c.index()
	err = safe.Each(ctx, len(r.Manifests), o.Client.Concurrency(), func(i int) error {
		return c.manifest(ctx, &r.Manifests[i])
	})
	if err != nil {
		fail(err)
		return
	}
	c.propagate()
	c.order()
	err = safe.Each(ctx, len(r.Tags), o.Client.Concurrency(), func(i int) error {
		return c.tag(ctx, &r.Tags[i])
	})
	if err != nil {
		fail(err)
	}
}

// checker is the state of one repository's check.
type checker struct {
	r    *RepoRestore
	o    Options
	repo *registry.Repo    // its blobs
	read *inventory.Reader // its manifests and tags
	idx  map[string]int    // r.Manifests by digest

	mu      sync.Mutex
	blobs   map[string]bool // blob -> the repository serves it
	present map[string]bool // manifests the registry has, beyond ours
}

// index maps each manifest's digest to its place in r.Manifests.
func (c *checker) index() {
	for i := range c.r.Manifests {
		c.idx[c.r.Manifests[i].Digest] = i
	}
}

// exists HEADs ref: its digest, and whether the registry has it.
func (c *checker) exists(ctx context.Context, ref string) (string, bool, error) {
	return c.read.Exists(ctx, ref)
}

// known answers what the registry said of key, asking it once.
func (c *checker) known(cache map[string]bool, key string, ask func() (bool, error)) (bool, error) {
	c.mu.Lock()
	ok, seen := cache[key]
	c.mu.Unlock()
	if seen {
		return ok, nil
	}
	ok, err := ask()
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	cache[key] = ok
	c.mu.Unlock()
	return ok, nil
}

// has is whether the registry has the manifest d, asking it once.
func (c *checker) has(ctx context.Context, d string) (bool, error) {
	return c.known(c.present, d, func() (bool, error) { _, ok, err := c.exists(ctx, d); return ok, err })
}

// manifest decides m's action: present, or pushed if the journal's copy
// is intact and the blobs and manifests it needs are there.
func (c *checker) manifest(ctx context.Context, m *Manifest) error {
	if _, ok, err := c.exists(ctx, m.Digest); err != nil {
		return err
	} else if ok {
		m.Action, m.Code, m.Reason = ActionPresent, WhyPresent, "the registry has it"
		return nil
	}
	if len(m.body) == 0 || !registry.Verify(m.Digest, m.body) {
		m.Action, m.Code, m.Reason = ActionUnrecoverable, WhyNoIntactCopy, "the journal holds no intact copy of the manifest"
		return nil
	}
	m.Action = ActionPush
	for _, b := range m.blobs {
		ok, err := c.known(c.blobs, b.digest, func() (bool, error) { return c.repo.BlobExists(ctx, b.digest) })
		if err != nil {
			return err
		}
		if !ok {
			// Gone from here; another repository of the registry may
			// hold it still: mounted before the push.
			if from := c.o.sources.find(ctx, c.o, c.r.Name, b.digest); from != "" {
				m.mounts = append(m.mounts, mount{digest: b.digest, from: from})
				m.Code, m.Reason = WhyBlobsMounted, "its blobs gone from here are mounted from "+from
				continue
			}
			m.Action, m.Code = ActionUnrecoverable, WhyBlobGone
			m.Reason = fmt.Sprintf("its %s blob %s is gone (the registry's garbage collector has run)", b.what, b.digest)
			return nil
		}
	}
	return c.needs(ctx, m)
}

// needs checks that what m needs and the run did not delete (children,
// subject) is there now.
func (c *checker) needs(ctx context.Context, m *Manifest) error {
	for _, d := range append(slices.Clone(m.children), m.subject) {
		if _, ours := c.idx[d]; d == "" || ours {
			continue
		}
		ok, err := c.has(ctx, d)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		if run := c.r.holders[d]; run != "" {
			m.Action, m.Code, m.NeedsRun = ActionNeedsRun, WhyNeedsRun, run
			m.Reason = fmt.Sprintf("it needs %s, which run %s deleted: restore that run with this one", d, run)
			return nil
		}
		m.Action, m.Code = ActionUnrecoverable, WhyNeededGone
		m.Reason = fmt.Sprintf("it needs %s, which is gone and not in this run's journal", d)
		return nil
	}
	return nil
}

// propagate: an index whose child cannot come back, or a referrer whose
// subject cannot, cannot either.
func (c *checker) propagate() {
	for changed := true; changed; {
		changed = false
		for i := range c.r.Manifests {
			m := &c.r.Manifests[i]
			if m.Action != ActionPush {
				continue
			}
			c.blockedByChild(m)
			c.blockedBySubject(m)
			changed = changed || m.Action != ActionPush
		}
	}
}

// blockedByChild marks m, an ActionPush, by the first child of its own
// run that cannot come back or needs another run.
func (c *checker) blockedByChild(m *Manifest) {
	for _, d := range m.children {
		j, ok := c.idx[d]
		if !ok {
			continue
		}
		switch n := &c.r.Manifests[j]; n.Action {
		case ActionUnrecoverable:
			m.Action, m.Code, m.Reason = ActionUnrecoverable, WhyNeedUnrecoverable, "its child "+d+" cannot come back"
			return
		case ActionNeedsRun:
			m.Action, m.Code, m.NeedsRun = ActionNeedsRun, WhyNeedsRun, n.NeedsRun
			m.Reason = "its child " + d + " needs run " + n.NeedsRun
			return
		}
	}
}

// blockedBySubject marks m, if still an ActionPush, by its subject of its
// own run if that cannot come back or needs another run.
func (c *checker) blockedBySubject(m *Manifest) {
	j, ok := c.idx[m.subject]
	if m.Action != ActionPush || m.subject == "" || !ok {
		return
	}
	switch n := &c.r.Manifests[j]; n.Action {
	case ActionUnrecoverable:
		m.Action, m.Code, m.Reason = ActionUnrecoverable, WhyNeedUnrecoverable, "its subject "+m.subject+" cannot come back"
	case ActionNeedsRun:
		m.Action, m.Code, m.NeedsRun = ActionNeedsRun, WhyNeedsRun, n.NeedsRun
		m.Reason = "its subject " + m.subject + " needs run " + n.NeedsRun
	}
}

// order sorts the manifests into push order (children before indexes,
// subjects before referrers) and re-indexes them.
func (c *checker) order() {
	for i := range c.r.Manifests {
		c.level(i, 0)
	}
	sort.SliceStable(c.r.Manifests, func(a, b int) bool { return c.r.Manifests[a].level < c.r.Manifests[b].level })
	c.index()
}

// level is 1 for a manifest that needs none of the run's, else one more
// than the highest level of those it needs.
func (c *checker) level(i, depth int) int {
	m := &c.r.Manifests[i]
	if m.level > 0 || depth > 64 {
		return m.level
	}
	n := 1
	for _, d := range append(slices.Clone(m.children), m.subject) {
		if j, ok := c.idx[d]; ok && d != "" {
			n = max(n, c.level(j, depth+1)+1)
		}
	}
	m.level = n
	return n
}

// tag decides t's action, after the manifests' (and their order).
func (c *checker) tag(ctx context.Context, t *Tag) error {
	if j, ok := c.idx[t.Digest]; ok {
		switch m := &c.r.Manifests[j]; m.Action {
		case ActionUnrecoverable:
			t.Action, t.Code, t.Reason = ActionUnrecoverable, WhyNeedUnrecoverable, "its image "+t.Digest+" cannot come back"
			return nil
		case ActionNeedsRun:
			t.Action, t.Code, t.NeedsRun = ActionNeedsRun, WhyNeedsRun, m.NeedsRun
			t.Reason = "its image " + t.Digest + " needs run " + t.NeedsRun
			return nil
		}
	} else {
		// Only the tag was deleted in this run: its manifest must still
		// be there.
		ok, err := c.has(ctx, t.Digest)
		if err != nil {
			return err
		}
		if !ok {
			c.manifestGone(t)
			return nil
		}
	}
	now, ok, err := c.exists(ctx, t.Tag)
	if err != nil {
		return err
	}
	switch {
	case !ok:
		t.Action = ActionTag
	case now == t.Digest:
		t.Action, t.Code, t.Reason = ActionPresent, WhyPresent, "the tag names it already"
	default:
		t.Action, t.Code, t.Reason = ActionLeave, WhyTagMoved, "the tag now names "+now+" (pushed since); left alone"
	}
	return nil
}

// manifestGone marks t, whose manifest is gone and not in this run.
func (c *checker) manifestGone(t *Tag) {
	if run := c.r.holders[t.Digest]; run != "" {
		t.Action, t.Code, t.NeedsRun = ActionNeedsRun, WhyNeedsRun, run
		t.Reason = "its manifest " + t.Digest + " is gone too, deleted by run " + run + ": restore that run with this one"
		return
	}
	t.Action, t.Code, t.Reason = ActionUnrecoverable, WhyNeededGone, "its manifest "+t.Digest+" is gone too, deleted outside this run; restore the run that deleted it first"
}
