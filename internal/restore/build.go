package restore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/registry"
)

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
	if o.sources == nil {
		o.sources = &sources{}
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
		return nil, fmt.Errorf("%w: %s deleted nothing", ErrNothingToRestore, what)
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
func build(entries []journal.Entry, digest string) RepoRestore {
	r := RepoRestore{Name: entries[0].Repository}
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
	// The journal's own copy, verified by digest when it was written,
	// read as every manifest is (registry.ParseManifest, with its bounds
	// and digest checks). A copy that does not parse is pushed as it is,
	// as before: the registry judges it.
	b, err := registry.ParseManifest("manifest "+m.Digest, m.body)
	if err != nil {
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
