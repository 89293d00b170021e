// Package restore pushes back what an apply run deleted, from the
// journal's copies of the manifests. Deleting through the registry API
// removes manifests and tags; the layers and configs stay until the
// registry's garbage collector runs. Until then, every deleted image can
// come back under the same digest.
//
// Like plan and apply, restore first builds a plan from the journal and
// the registry as it is now (Build: no write), which the caller shows,
// then executes it (Apply). It pushes children before the indexes that
// list them and subjects before their referrers, then re-creates tags,
// each only where the tag does not exist now: a tag that names another
// digest was pushed since, and is left alone. An image whose config or
// layer blob is gone (the garbage collector ran) cannot come back: it is
// named, with the indexes and referrers that need it, and the rest is
// restored.
package restore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/safe"
)

// Action is what a restore does with a manifest or tag.
type Action string

// Result is what it did.
type Result string

// Manifest and tag actions and results.
const (
	ActionPush          Action = "push"          // gone from the registry; the journal has it and its blobs are there
	ActionPresent       Action = "present"       // the registry has it: nothing to do
	ActionUnrecoverable Action = "unrecoverable" // cannot come back (a blob is gone, or what it needs)
	ActionTag           Action = "tag"           // re-create the tag
	ActionLeave         Action = "leave"         // the tag names another digest now: left alone
	// ActionNeedsRun: it needs a manifest that another run deleted; it
	// comes back when that run is restored with this one (NeedsRun).
	ActionNeedsRun Action = "needs_run"

	ResultPushed Result = "pushed"
	ResultTagged Result = "tagged"
	ResultFailed Result = "failed"
)

// ErrUnrecoverable means some images of the run cannot come back: a blob
// or a manifest they need is gone. The others were restored.
var ErrUnrecoverable = errors.New("some images cannot be restored: a blob or a manifest they need is gone")

// ErrNeedsRun means some images need manifests that another run deleted:
// restoring that run with this one brings them back. The others were
// restored.
var ErrNeedsRun = errors.New("some images need manifests that another run deleted")

// ErrFailed means some pushes failed.
var ErrFailed = errors.New("some manifests or tags could not be pushed")

// ErrNothing means the run has nothing to restore under the filters.
var ErrNothing = errors.New("nothing was deleted")

// Options configures Build and Apply.
type Options struct {
	Client  *registry.Client
	Journal *journal.Journal
	Logger  *slog.Logger
	// Explain, if set, adds to a registry error what the user can act on
	// (for a 401 or 403, where the credentials came from); the CLI's, as
	// for plan and apply.
	Explain func(repo string, err error) error

	// sources finds another repository holding a blob (mount.go).
	sources *sources
}

// explain is o.Explain, or err as it is.
func (o Options) explain(repo string, err error) error {
	if o.Explain == nil || err == nil {
		return err
	}
	return o.Explain(repo, err)
}

// Filter narrows a restore.
type Filter struct {
	Repository string // host[:port]/path; "" for all
	// Digest restores this manifest, what it needs (children, subject)
	// and its referrers; "" for all.
	Digest string
}

// Manifest is one manifest to push back.
type Manifest struct {
	Digest       string   `json:"digest"`
	Kind         string   `json:"kind,omitempty"`
	MediaType    string   `json:"media_type"`
	Tags         []string `json:"tags"`
	Action       Action   `json:"action"`
	Reason       string   `json:"reason,omitempty"`
	Result       Result   `json:"result,omitempty"`
	ResultReason string   `json:"result_reason,omitempty"`
	// NeedsRun is the run that deleted what it needs (ActionNeedsRun).
	NeedsRun string `json:"needs_run,omitempty"`

	body     []byte
	entries  []int64
	children []string
	blobs    []blobRef
	subject  string
	level    int
	// mounts are the blobs this repository lost that another repository
	// of the registry still holds: mounted before the manifest is pushed.
	mounts []mount
}

type blobRef struct{ digest, what string }

// Tag is one tag to re-create.
type Tag struct {
	Tag          string `json:"tag"`
	Digest       string `json:"digest"`
	Action       Action `json:"action"`
	Reason       string `json:"reason,omitempty"`
	Result       Result `json:"result,omitempty"`
	ResultReason string `json:"result_reason,omitempty"`
	// NeedsRun is the run that deleted its manifest (ActionNeedsRun).
	NeedsRun string `json:"needs_run,omitempty"`

	entries []int64
}

// Repository is the restore of one repository.
type Repository struct {
	Repository string `json:"repository"`
	// Error is why nothing is pushed here.
	Error     string     `json:"error,omitempty"`
	Manifests []Manifest `json:"manifests"` // in push order
	Tags      []Tag      `json:"tags"`

	// holders: for a manifest gone from the registry, the run whose
	// restore would bring it back (journal.Holders).
	holders map[string]string
}

// Summary counts a restore.
type Summary struct {
	Push          int `json:"push"`
	Present       int `json:"present"`
	Unrecoverable int `json:"unrecoverable"`
	Tag           int `json:"tag"`
	Leave         int `json:"leave"`
	// UnrecoverableTags are the tags that cannot come back: those of
	// unrecoverable manifests, and tags whose manifest is gone.
	UnrecoverableTags int `json:"unrecoverable_tags"`
	Pushed            int `json:"pushed,omitempty"`
	Tagged            int `json:"tagged,omitempty"`
	Failed            int `json:"failed,omitempty"`
	Repositories      int `json:"repositories"`
	FailedRepos       int `json:"failed_repositories,omitempty"`
	// NeedsRun and NeedsRunTags are the manifests and tags that wait for
	// another run's restore (ActionNeedsRun).
	NeedsRun     int `json:"needs_run,omitempty"`
	NeedsRunTags int `json:"needs_run_tags,omitempty"`
}

// Plan is a restore, before and after Apply.
type Plan struct {
	Kind         string       `json:"kind"`
	RunID        string       `json:"run_id"`
	DryRun       bool         `json:"dry_run"`
	Repositories []Repository `json:"repositories"`
	Summary      Summary      `json:"summary"`
	// RunIDs are the runs restored together, when more than one (RunID
	// is the first).
	RunIDs []string `json:"run_ids,omitempty"`
	// NeedRuns are the other runs that deleted what some of this
	// restore needs: restore them with it (Command).
	NeedRuns []string `json:"need_runs,omitempty"`
}

// restorable: the results under which the run's DELETE may have taken
// effect: deleted; pending (written, no answer recorded: a crash); failed
// (the answer may have been lost after the registry acted). What is still
// there is found present and left alone.
func restorable(result string) bool {
	return result == journal.ResultDeleted || result == journal.ResultPending || result == journal.ResultFailed
}

// Build reads run id's entries and checks the registry as it is now. It
// writes nothing.
func Build(ctx context.Context, id string, f Filter, o Options) (*Plan, error) {
	return BuildRuns(ctx, []string{id}, f, o)
}

// BuildRuns is Build of several runs restored together: their entries
// are merged, and pushed in the order their manifests need (children and
// subjects first, whichever run deleted them).
//
// An entry that a run left pending or failed (its DELETE may not have
// taken effect) for a manifest that a later run recorded deleted belongs
// to the later run: it is restored with that run, not this one.
func BuildRuns(ctx context.Context, ids []string, f Filter, o Options) (*Plan, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(ids) == 0 {
		return nil, errors.New("restore: no run")
	}
	selected := map[string]bool{}
	var order []string
	by := map[string][]journal.Entry{}
	for _, id := range ids {
		if selected[id] {
			continue
		}
		selected[id] = true
		entries, err := o.Journal.Entries(ctx, id, journal.Filter{Repository: f.Repository, WithManifests: true})
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if !restorable(e.Result) {
				continue
			}
			if _, ok := by[e.Repository]; !ok {
				order = append(order, e.Repository)
			}
			by[e.Repository] = append(by[e.Repository], e)
		}
	}
	p := &Plan{Kind: "regprune-restore", RunID: ids[0], DryRun: true}
	if len(selected) > 1 {
		for _, id := range ids {
			if !slices.Contains(p.RunIDs, id) {
				p.RunIDs = append(p.RunIDs, id)
			}
		}
	}
	if o.sources == nil {
		o.sources = &sources{}
	}
	for _, name := range order {
		holders, err := o.Journal.Holders(ctx, name)
		if err != nil {
			return nil, err
		}
		deletedBy, err := o.Journal.Deleted(ctx, name)
		if err != nil {
			return nil, err
		}
		es := ownEntries(by[name], deletedBy, selected)
		if len(es) == 0 {
			continue
		}
		r := build(es, f.Digest)
		if len(r.Manifests) == 0 && len(r.Tags) == 0 {
			continue
		}
		r.holders = holders
		check(ctx, &r, o)
		p.Repositories = append(p.Repositories, r)
	}
	if len(p.Repositories) == 0 {
		what := "run " + strings.Join(ids, ", ")
		if len(selected) > 1 {
			what = "runs " + strings.Join(p.RunIDs, ", ")
		}
		if f.Repository != "" {
			what += " in " + f.Repository
		}
		if f.Digest != "" {
			what += " for " + f.Digest
		}
		return nil, fmt.Errorf("%w: %s deleted nothing", ErrNothing, what)
	}
	p.count()
	return p, nil
}

// ownEntries leaves out the entries of es that belong to a later run: an
// entry left pending or failed (manifest or tag) whose digest a later run,
// not restored here, recorded deleted (deletedBy: journal.Deleted).
func ownEntries(es []journal.Entry, deletedBy map[string]string, selected map[string]bool) []journal.Entry {
	out := es[:0:0]
	for _, e := range es {
		if e.Result != journal.ResultDeleted {
			if h := deletedBy[e.Digest]; h > e.RunID && !selected[h] {
				continue
			}
		}
		out = append(out, e)
	}
	return out
}

// build turns a repository's entries into manifests and tags, narrowed to
// digest and what it needs.
func build(entries []journal.Entry, digest string) Repository {
	r := Repository{Repository: entries[0].Repository}
	ms := map[string]*Manifest{}
	var mOrder []string
	tags := map[string]*Tag{}
	var tOrder []string
	addTag := func(tag, d string, id int64, fromTagEntry bool) {
		t, ok := tags[tag]
		if !ok {
			t = &Tag{Tag: tag, Digest: d}
			tags[tag] = t
			tOrder = append(tOrder, tag)
		}
		if fromTagEntry {
			t.Digest = d // what the tag named when it was deleted
		}
		t.entries = append(t.entries, id)
	}
	for _, e := range entries {
		switch e.Kind {
		case journal.KindManifest:
			m, ok := ms[e.Digest]
			if !ok {
				m = &Manifest{Digest: e.Digest, Kind: e.ItemKind, MediaType: e.MediaType, Tags: []string{}}
				ms[e.Digest] = m
				mOrder = append(mOrder, e.Digest)
			}
			m.entries = append(m.entries, e.ID)
			if len(e.Manifest) > 0 {
				m.body = e.Manifest
			}
			if e.Subject != "" {
				m.subject = e.Subject // a cosign signature names it by tag only
			}
			for _, t := range e.Tags {
				addTag(t, e.Digest, e.ID, false)
			}
		case journal.KindTag:
			addTag(e.Tag, e.Digest, e.ID, true)
		}
	}
	for _, d := range mOrder {
		parse(ms[d])
	}
	// Narrow to digest: it, what it needs (children, subject), and its
	// referrers, recursively.
	if digest != "" {
		keep := map[string]bool{}
		var walk func(d string)
		walk = func(d string) {
			m := ms[d]
			if m == nil || keep[d] {
				return
			}
			keep[d] = true
			for _, c := range m.children {
				walk(c)
			}
			walk(m.subject)
			for _, o := range mOrder {
				if ms[o].subject == d {
					walk(o)
				}
			}
		}
		walk(digest)
		var mo []string
		for _, d := range mOrder {
			if keep[d] {
				mo = append(mo, d)
			}
		}
		mOrder = mo
		var to []string
		for _, t := range tOrder {
			if keep[tags[t].Digest] || tags[t].Digest == digest {
				to = append(to, t)
			}
		}
		tOrder = to
	}
	for _, d := range mOrder {
		r.Manifests = append(r.Manifests, *ms[d])
	}
	for _, t := range tOrder {
		r.Tags = append(r.Tags, *tags[t])
	}
	for i := range r.Manifests {
		for _, t := range tOrder {
			if tags[t].Digest == r.Manifests[i].Digest && !slices.Contains(r.Manifests[i].Tags, t) {
				r.Manifests[i].Tags = append(r.Manifests[i].Tags, t)
			}
		}
		sort.Strings(r.Manifests[i].Tags)
	}
	return r
}

// parse reads what m needs from its body: children, blobs, subject.
func parse(m *Manifest) {
	if len(m.body) == 0 {
		return
	}
	// The journal's own copy, verified by digest when it was written:
	// read leniently into the one manifest model.
	var b registry.Manifest
	if json.Unmarshal(m.body, &b) != nil {
		return
	}
	if m.MediaType == "" {
		m.MediaType = b.MediaType
	}
	if b.Config != nil && b.Config.Digest != "" {
		m.blobs = append(m.blobs, blobRef{b.Config.Digest, "config"})
	}
	for _, l := range b.Layers {
		m.blobs = append(m.blobs, blobRef{l.Digest, "layer"})
	}
	m.children = append(m.children, b.Children()...)
	if b.Subject != nil && b.Subject.Digest != "" {
		m.subject = b.Subject.Digest
	}
}

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
				// Gone from here; another repository of the registry may
				// hold it still: mounted before the push.
				if from := o.sources.find(ctx, o, r.Repository, b.digest); from != "" {
					m.mounts = append(m.mounts, mount{digest: b.digest, from: from})
					m.Reason = "its blobs gone from here are mounted from " + from
					continue
				}
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
		repo, err := o.Client.Open(ctx, r.Repository, registry.PullPush)
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
		if !mountBlobs(ctx, repo, m) {
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

func (p *Plan) count() {
	s := Summary{Repositories: len(p.Repositories)}
	need := map[string]bool{}
	for _, r := range p.Repositories {
		if r.Error != "" {
			s.FailedRepos++
		}
		for _, m := range r.Manifests {
			switch m.Action {
			case ActionPush:
				s.Push++
			case ActionPresent:
				s.Present++
			case ActionUnrecoverable:
				s.Unrecoverable++
			case ActionNeedsRun:
				s.NeedsRun++
				need[m.NeedsRun] = true
			}
			switch m.Result {
			case ResultPushed:
				s.Pushed++
			case ResultFailed:
				s.Failed++
			}
		}
		for _, t := range r.Tags {
			switch t.Action {
			case ActionTag:
				s.Tag++
			case ActionLeave:
				s.Leave++
			case ActionUnrecoverable:
				s.UnrecoverableTags++
			case ActionNeedsRun:
				s.NeedsRunTags++
				need[t.NeedsRun] = true
			}
			switch t.Result {
			case ResultTagged:
				s.Tagged++
			case ResultFailed:
				s.Failed++
			}
		}
	}
	p.Summary = s
	p.NeedRuns = nil
	for run := range need {
		if run != p.RunID && !slices.Contains(p.RunIDs, run) {
			p.NeedRuns = append(p.NeedRuns, run)
		}
	}
	sort.Strings(p.NeedRuns)
}

// Command is the restore that brings back what this one needs too: these
// runs and the runs that deleted what they need ("" when none does).
func (p *Plan) Command() string {
	if len(p.NeedRuns) == 0 {
		return ""
	}
	runs := p.RunIDs
	if len(runs) == 0 {
		runs = []string{p.RunID}
	}
	return "regprune restore " + strings.Join(append(slices.Clone(runs), p.NeedRuns...), " ")
}

// Err classifies a restore: ErrUnrecoverable when images cannot come back,
// ErrFailed when pushes or repositories failed, nil otherwise.
func (p *Plan) Err() error {
	s := p.Summary
	var errs []error
	if s.Unrecoverable > 0 || s.UnrecoverableTags > 0 {
		errs = append(errs, fmt.Errorf("%w: %d manifests, %d tags", ErrUnrecoverable, s.Unrecoverable, s.UnrecoverableTags))
	}
	if s.NeedsRun > 0 || s.NeedsRunTags > 0 {
		errs = append(errs, fmt.Errorf("%w: %d manifests, %d tags wait for run %s; restore them together: %s",
			ErrNeedsRun, s.NeedsRun, s.NeedsRunTags, strings.Join(p.NeedRuns, ", "), p.Command()))
	}
	if s.Failed > 0 || s.FailedRepos > 0 {
		errs = append(errs, fmt.Errorf("%w: %d pushes failed, %d repositories failed", ErrFailed, s.Failed, s.FailedRepos))
	}
	return errors.Join(errs...)
}
