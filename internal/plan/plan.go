// Package plan turns policy decisions into a reviewable plan: it closes
// them over the repository graph (everything reachable from a kept image
// is kept; what a deleted image alone reaches goes with it), counts the
// bytes a run frees, applies the safety refusals, and renders the result.
// Building a plan is pure; apply executes the same structure.
package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/policy"
)

// FormatVersion is the version of the plan file format.
const FormatVersion = 1

// FormatKind marks a regprune plan file.
const FormatKind = "regprune-plan"

// Item kinds.
const (
	KindImage     = "image"
	KindChild     = "child"
	KindReferrer  = "referrer"
	KindSignature = "signature"
)

// Actions and results.
const (
	ActionKeep   = "keep"
	ActionDelete = "delete"

	ResultDeleted  = "deleted"
	ResultUntagged = "untagged"
	ResultSkipped  = "skipped"
	ResultFailed   = "failed"
)

// Item is one manifest of the plan.
type Item struct {
	Digest    string     `json:"digest"`
	Kind      string     `json:"kind"`
	Tags      []string   `json:"tags"`
	Action    string     `json:"action"`
	Untag     []string   `json:"untag,omitempty"`
	Reasons   []string   `json:"reasons"`
	Created   *time.Time `json:"created"`
	AgeSource string     `json:"age_source,omitempty"`
	Parent    string     `json:"parent,omitempty"`
	Subject   string     `json:"subject,omitempty"`
	MediaType string     `json:"media_type,omitempty"`
	Size      int64      `json:"size"`
	// Frees is what deleting this manifest frees: its own size and the
	// blobs only deleted manifests reference, each blob counted once in
	// the repository (see attributeFrees). 0 for kept items.
	Frees int64 `json:"frees,omitempty"`
	// Set by apply.
	Result       string `json:"result,omitempty"`
	ResultReason string `json:"result_reason,omitempty"`
}

// Summary counts a repository's plan (and, after apply, its results).
type Summary struct {
	Images           int   `json:"images"`
	Keep             int   `json:"keep"`
	Delete           int   `json:"delete"`
	Untag            int   `json:"untag"`
	Manifests        int   `json:"manifests"`
	DeleteManifests  int   `json:"delete_manifests"`
	ReclaimableBytes int64 `json:"reclaimable_bytes"`
	Deleted          int   `json:"deleted,omitempty"`
	Untagged         int   `json:"untagged,omitempty"`
	Skipped          int   `json:"skipped,omitempty"`
	Failed           int   `json:"failed,omitempty"`
	// FreedBytes, after apply only, is what the deletions done let the
	// garbage collector reclaim: reclaimable_bytes when every planned
	// deletion succeeded, 0 when none did, and for a partial apply the
	// deleted manifests' own bytes (a lower bound).
	FreedBytes *int64 `json:"freed_bytes,omitempty"`
}

// Repository is the plan for one repository.
type Repository struct {
	Repository string `json:"repository"`
	Rule       string `json:"rule,omitempty"`
	// Error is why nothing is deleted here: the repository could not be
	// read, or the plan was refused.
	Error   string `json:"error,omitempty"`
	Refused bool   `json:"refused,omitempty"`
	// AgesRead says whether image configs were read for build times: only
	// when a rule needs ages. Without, "created" is known only from
	// manifest annotations.
	AgesRead bool   `json:"ages_read"`
	Items    []Item `json:"images"`
	// Tags is every tag and its digest when the plan was made, so that
	// apply can tell what changed since.
	Tags map[string]string `json:"tags,omitempty"`
	// Warnings are keep rules that hold nothing here (a keep tag naming
	// no tag, a keep regex matching none): likely typos.
	Warnings []string `json:"warnings,omitempty"`
	// Capabilities is what the registry showed it can do while reading
	// and applying this repository.
	Capabilities *Capabilities `json:"capabilities,omitempty"`
	Summary      Summary       `json:"summary"`
	// VerifiedTags is graph.Repository.VerifiedTags of the inventory of
	// this run; never read from or written to a plan file.
	VerifiedTags map[string]string `json:"-"`
	// NoReferrersAPI: the inventory of this run asked the registry's
	// referrers API and it answered 404. Never read from a plan file;
	// apply's guard then does not ask again.
	NoReferrersAPI bool `json:"-"`
}

// Totals sums the repositories.
type Totals struct {
	Repositories     int    `json:"repositories"`
	Failed           int    `json:"failed_repositories"`
	Images           int    `json:"images"`
	Keep             int    `json:"keep"`
	Delete           int    `json:"delete"`
	Untag            int    `json:"untag"`
	DeleteManifests  int    `json:"delete_manifests"`
	ReclaimableBytes int64  `json:"reclaimable_bytes"`
	Deleted          int    `json:"deleted,omitempty"`
	Untagged         int    `json:"untagged,omitempty"`
	Skipped          int    `json:"skipped,omitempty"`
	FailedItems      int    `json:"failed,omitempty"`
	FreedBytes       *int64 `json:"freed_bytes,omitempty"` // after apply; see Summary
}

// Plan is the whole document.
type Plan struct {
	Kind             string       `json:"kind"`
	Version          int          `json:"version"`
	Generator        string       `json:"generator,omitempty"` // the regprune that wrote it, with its VCS revision
	Generated        time.Time    `json:"generated"`
	Mode             string       `json:"mode"` // plan or apply
	Repositories     []Repository `json:"repositories"`
	ReclaimableBytes int64        `json:"reclaimable_bytes"`
	// Registries is what each registry host showed it can do (tag
	// delete, referrers API, deletes refused), from the repositories.
	Registries []Registry `json:"registries,omitempty"`
	Summary    Totals     `json:"summary"`

	// RunID names an apply run in the journal; "" for a plan, and for an
	// apply without a journal (nothing of it can be restored).
	RunID string `json:"run_id,omitempty"`
}

// Failed returns the plan of a repository that could not be read: nothing
// in it is deleted.
func Failed(name string, err error) Repository {
	return Repository{Repository: name, Error: err.Error(), Items: []Item{}}
}

// Build closes the decisions over repo. It is pure.
func Build(repo *graph.Repository, ds []policy.Decision, p policy.Policy) Repository {
	out := Repository{Repository: repo.Name, Tags: repo.Tags, VerifiedTags: repo.VerifiedTags}
	tagsOf := repo.TagsByDigest()

	keep := map[string]bool{}
	var keepReason = map[string]string{}
	via := map[string]string{} // the tag through which a dependant is reached
	var queue []string
	for _, d := range ds {
		if d.Keep {
			keep[d.Digest] = true
			via[d.Digest] = heldTag(d, p)
			queue = append(queue, d.Digest)
		}
	}
	// Keep closure: children and referrers of kept things, recursively.
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, n := range neighbours(repo, d) {
			if !keep[n.digest] {
				keep[n.digest] = true
				keepReason[n.digest] = "kept: " + relation(n, tagsOf) + " of kept " + describe(repo, d, tagsOf, via)
				via[n.digest] = viaTag(d, tagsOf, via)
				queue = append(queue, n.digest)
			}
		}
	}

	// Delete closure: what deleted images reach and nothing kept reaches.
	type reach struct {
		kind, parent, subject string
	}
	del := map[string]reach{}
	delReason := map[string]string{}
	delVia := map[string]string{}
	var order []string
	for _, d := range ds {
		if !d.Keep && !keep[d.Digest] {
			del[d.Digest] = reach{kind: KindImage}
			order = append(order, d.Digest)
			queue = append(queue, d.Digest)
		}
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, n := range neighbours(repo, d) {
			if keep[n.digest] {
				continue
			}
			if _, ok := del[n.digest]; ok {
				continue
			}
			r := reach{kind: n.kind}
			if n.kind == KindChild {
				r.parent = d
			} else {
				r.subject = d
			}
			if r.kind == KindReferrer && isSignature(tagsOf[n.digest]) {
				r.kind = KindSignature
			}
			delReason[n.digest] = "delete: " + relation(n, tagsOf) + " of deleted " + describe(repo, d, tagsOf, delVia)
			delVia[n.digest] = viaTag(d, tagsOf, delVia)
			del[n.digest] = r
			order = append(order, n.digest)
			queue = append(queue, n.digest)
		}
	}

	// Each deleted manifest that deleted indexes list (a platform child,
	// or an image tagged on its own) takes the deepest of them as parent,
	// so that apply deletes every index before what it lists and keeps a
	// manifest whose index could not be deleted. Referrers keep their
	// subject.
	listedBy := map[string][]string{}
	for _, d := range order {
		if m := repo.Manifests[d]; m != nil {
			for _, c := range m.Children {
				if _, ok := del[c]; ok && !slices.Contains(listedBy[c], d) {
					listedBy[c] = append(listedBy[c], d)
				}
			}
		}
	}
	level := map[string]int{}
	var levelOf func(d string) int
	levelOf = func(d string) int {
		if n, ok := level[d]; ok {
			return n
		}
		level[d] = 1 // a cycle cannot happen with digests; stop one anyway
		n := 1
		for _, p := range listedBy[d] {
			n = max(n, levelOf(p)+1)
		}
		level[d] = n
		return n
	}
	for _, d := range order {
		r := del[d]
		if r.subject != "" || len(listedBy[d]) == 0 {
			continue
		}
		best := ""
		for _, p := range listedBy[d] {
			if best == "" || levelOf(p) > levelOf(best) || (levelOf(p) == levelOf(best) && p < best) {
				best = p
			}
		}
		r.parent = best
		del[d] = r
	}

	// Image items, in the policy's order (newest first).
	decided := map[string]bool{}
	for _, d := range ds {
		decided[d.Digest] = true
		it := Item{Digest: d.Digest, Kind: KindImage, Tags: tagsOf[d.Digest], Reasons: d.Reasons, AgeSource: string(d.AgeSource)}
		if d.AgeSource != graph.AgeUnknown {
			t := d.Created.UTC()
			it.Created = &t
		}
		fill(&it, repo.Manifests[d.Digest])
		switch {
		case d.Keep:
			it.Action = ActionKeep
			it.Untag = d.StaleTags
		case keep[d.Digest]:
			// The policy would delete it, but something kept reaches it:
			// the final action and its cause first, then what the policy
			// alone decided. The image keeps its tags; only with the
			// untag_unkept opt-in do its own tags go.
			it.Action = ActionKeep
			it.Reasons = []string{keepReason[d.Digest]}
			for _, r := range d.Reasons {
				it.Reasons = append(it.Reasons, "policy alone: "+r)
			}
			if p.UntagUnkept && len(d.Tags) > 0 {
				it.Untag = d.Tags
				it.Reasons = append(it.Reasons, fmt.Sprintf("untag: %s held by no rule (untag_unkept); the digest stays for what keeps it", strings.Join(d.Tags, ", ")))
			}
		default:
			it.Action = ActionDelete
			if p := del[d.Digest].parent; p != "" {
				it.Parent = p
				it.Reasons = append(append([]string{}, d.Reasons...), "listed by deleted "+short(p)+", deleted after it")
			}
		}
		out.Items = append(out.Items, it)
	}
	// Deleted dependants, in discovery order (parents before children).
	for _, d := range order {
		r := del[d]
		if r.kind == KindImage {
			continue
		}
		decided[d] = true
		it := Item{Digest: d, Kind: r.kind, Tags: tagsOf[d], Action: ActionDelete, Parent: r.parent, Subject: r.subject}
		it.Reasons = []string{delReason[d]}
		if r.parent != "" && !strings.Contains(delReason[d], short(r.parent)) {
			it.Reasons = append(it.Reasons, "listed by deleted "+short(r.parent)+", deleted after it")
		}
		fill(&it, repo.Manifests[d])
		out.Items = append(out.Items, it)
	}
	// Kept dependants and manifests nothing reaches, for the reviewer.
	var rest []string
	for d := range repo.Manifests {
		if !decided[d] {
			rest = append(rest, d)
		}
	}
	for _, d := range repo.Tags {
		if _, ok := repo.Manifests[d]; !ok && !decided[d] {
			decided[d] = true
			rest = append(rest, d)
		}
	}
	sort.Strings(rest)
	parents, subjects := relations(repo, keep)
	orphans := orphansOf(repo, rest, keepReason, tagsOf)
	for _, d := range rest {
		it := Item{Digest: d, Kind: kindOf(repo, d, tagsOf[d], parents), Tags: tagsOf[d], Action: ActionKeep}
		if o, ok := orphans[d]; ok {
			orphanItem(&it, o, p.DeleteOrphanArtifacts)
		} else if why, ok := keepReason[d]; ok {
			it.Reasons = []string{why}
			it.Parent, it.Subject = parents[d], subjects[d]
		} else {
			it.Reasons = []string{"kept: reached from no image (orphan or untagged); regprune leaves it alone"}
		}
		fill(&it, repo.Manifests[d])
		out.Items = append(out.Items, it)
	}

	// Safety: never delete every image of a repository unless allowed.
	images, kept := 0, 0
	for _, it := range out.Items {
		if it.Kind == KindImage {
			images++
			if it.Action == ActionKeep {
				kept++
			}
		}
	}
	if images > 0 && kept == 0 && !p.AllowEmpty {
		out.Refused = true
		out.Error = fmt.Sprintf("refusing to delete every image of %s (%d images): no rule keeps any; pass --allow-empty (allow_empty: true) if that is what you want", repo.Name, images)
		for i := range out.Items {
			if out.Items[i].Action == ActionDelete {
				out.Items[i].Action = ActionKeep
				out.Items[i].Reasons = append([]string{"kept: plan refused (it would delete every image)"}, out.Items[i].Reasons...)
			}
		}
	}
	attributeFrees(repo, out.Items)
	out.Warnings = policy.Warnings(repo, p)
	out.Summary = summarize(repo, out.Items)
	return out
}

type edge struct {
	digest, kind, rel string
}

// neighbours lists what d reaches: its children and its referrers.
func neighbours(repo *graph.Repository, d string) []edge {
	var out []edge
	if m := repo.Manifests[d]; m != nil {
		for _, c := range m.Children {
			if _, ok := repo.Manifests[c]; ok {
				out = append(out, edge{c, KindChild, "child"})
			}
		}
	}
	for _, r := range repo.Referrers[d] {
		out = append(out, edge{r, KindReferrer, "referrer"})
	}
	return out
}

// relation names what n is to the manifest that reaches it: a child, a
// signature (cosign .sig/.att/.sbom tag) or a referrer.
func relation(n edge, tagsOf map[string][]string) string {
	if n.kind == KindChild {
		return "child"
	}
	if isSignature(tagsOf[n.digest]) {
		return "signature"
	}
	return "referrer"
}

// describe names d for a reason: "index sha256:… (tag latest)", with the
// tag through which d itself is reached when it has none of its own.
func describe(repo *graph.Repository, d string, tagsOf map[string][]string, via map[string]string) string {
	what := "image"
	switch m := repo.Manifests[d]; {
	case isSignature(tagsOf[d]):
		what = "signature"
	case m != nil && m.Subject != "":
		what = "referrer"
	case m != nil && m.IsIndex():
		what = "index"
	}
	s := what + " " + short(d)
	if t := viaTag(d, tagsOf, via); t != "" {
		s += " (tag " + t + ")"
	}
	return s
}

// viaTag is d's first tag that is not a signature or fallback tag, or else
// the tag through which d was reached.
func viaTag(d string, tagsOf map[string][]string, via map[string]string) string {
	if t := via[d]; t != "" {
		return t
	}
	for _, t := range tagsOf[d] {
		if _, _, ok := graph.ArtifactTag(t); !ok {
			return t
		}
	}
	return via[d]
}

// heldTag is the tag of a kept image that a tag rule holds, if any.
func heldTag(d policy.Decision, p policy.Policy) string {
	for _, t := range d.Tags {
		if slices.Contains(p.Keep.Tags, t) {
			return t
		}
		for _, re := range p.Keep.Regex {
			if re.MatchString(t) {
				return t
			}
		}
	}
	return ""
}

func isSignature(tags []string) bool {
	for _, t := range tags {
		if _, suffix, ok := graph.ArtifactTag(t); ok && suffix != "" {
			return true
		}
	}
	return false
}

func kindOf(repo *graph.Repository, d string, tags []string, parents map[string]string) string {
	if isSignature(tags) {
		return KindSignature
	}
	for _, t := range tags {
		if _, _, ok := graph.ArtifactTag(t); ok {
			return KindReferrer
		}
	}
	if m := repo.Manifests[d]; m != nil && m.Subject != "" {
		return KindReferrer
	}
	if _, ok := parents[d]; ok {
		return KindChild
	}
	return KindImage
}

// relations maps each child to a parent and each referrer to a subject,
// preferring kept ones.
func relations(repo *graph.Repository, keep map[string]bool) (parents, subjects map[string]string) {
	parents, subjects = map[string]string{}, map[string]string{}
	for p, m := range repo.Manifests {
		for _, c := range m.Children {
			if cur, ok := parents[c]; !ok || (!keep[cur] && keep[p]) || (keep[cur] == keep[p] && p < cur) {
				parents[c] = p
			}
		}
	}
	for s, refs := range repo.Referrers {
		for _, r := range refs {
			if cur, ok := subjects[r]; !ok || (!keep[cur] && keep[s]) || (keep[cur] == keep[s] && s < cur) {
				subjects[r] = s
			}
		}
	}
	return parents, subjects
}

func fill(it *Item, m *graph.Manifest) {
	if m == nil {
		return
	}
	it.MediaType, it.Size = m.MediaType, m.Size
}

// summarize counts items and the bytes that deleting frees: the deleted
// manifests, plus every blob that only deleted manifests reference.
func summarize(repo *graph.Repository, items []Item) Summary {
	s, deleted := countItems(items)
	s.ReclaimableBytes = SatAdd(s.ReclaimableBytes, ReclaimableBlobs(repo, deleted))
	return s
}

// countItems counts items, and sums the bytes of the deleted manifests
// themselves into ReclaimableBytes; deleted holds their digests.
func countItems(items []Item) (s Summary, deleted map[string]bool) {
	deleted = map[string]bool{}
	for _, it := range items {
		s.Manifests++
		if it.Kind == KindImage {
			s.Images++
			if it.Action == ActionKeep {
				s.Keep++
			} else {
				s.Delete++
			}
		}
		if len(it.Untag) > 0 {
			s.Untag++
		}
		if it.Action == ActionDelete {
			s.DeleteManifests++
			deleted[it.Digest] = true
			s.ReclaimableBytes = SatAdd(s.ReclaimableBytes, it.Size)
		}
	}
	return s, deleted
}

// ReclaimableBlobs is the size of the blobs referenced by deleted
// manifests and by no other manifest of repo.
func ReclaimableBlobs(repo *graph.Repository, deleted map[string]bool) int64 {
	held := map[string]bool{}
	for d, m := range repo.Manifests {
		if !deleted[d] {
			for _, b := range m.Blobs {
				held[b.Digest] = true
			}
		}
	}
	var n int64
	counted := map[string]bool{}
	for d := range deleted {
		m := repo.Manifests[d]
		if m == nil {
			continue
		}
		for _, b := range m.Blobs {
			if !held[b.Digest] && !counted[b.Digest] {
				counted[b.Digest] = true
				n = SatAdd(n, b.Size)
			}
		}
	}
	return n
}

// New assembles a plan from repository plans.
func New(mode string, now time.Time, repos []Repository) *Plan {
	p := &Plan{Kind: FormatKind, Version: FormatVersion, Generated: now.UTC(), Mode: mode, Repositories: repos}
	p.Recount()
	return p
}

// Recount recomputes the totals (after apply filled in results).
func (p *Plan) Recount() {
	t := Totals{Repositories: len(p.Repositories)}
	for i := range p.Repositories {
		r := &p.Repositories[i]
		var ok, skipped, failed, untagged int
		var deletedBytes int64
		for _, it := range r.Items {
			switch it.Result {
			case ResultDeleted:
				ok++
				deletedBytes += it.Size
			case ResultUntagged:
				untagged++
			case ResultSkipped:
				skipped++
			case ResultFailed:
				failed++
			}
		}
		r.Summary.Deleted, r.Summary.Untagged, r.Summary.Skipped, r.Summary.Failed = ok, untagged, skipped, failed
		r.Summary.FreedBytes = nil
		if p.Mode == "apply" {
			freed := deletedBytes // partial: the manifests' own bytes, at least
			switch {
			case ok == 0:
				freed = 0
			case ok == r.Summary.DeleteManifests:
				freed = r.Summary.ReclaimableBytes
			}
			r.Summary.FreedBytes = &freed
			if t.FreedBytes == nil {
				t.FreedBytes = new(int64)
			}
			*t.FreedBytes += freed
		}
		if r.Error != "" {
			t.Failed++
		}
		s := r.Summary
		t.Images += s.Images
		t.Keep += s.Keep
		t.Delete += s.Delete
		t.Untag += s.Untag
		t.DeleteManifests += s.DeleteManifests
		t.ReclaimableBytes = SatAdd(t.ReclaimableBytes, s.ReclaimableBytes)
		t.Deleted += s.Deleted
		t.Untagged += s.Untagged
		t.Skipped += s.Skipped
		t.FailedItems += s.Failed
	}
	p.Summary = t
	p.ReclaimableBytes = t.ReclaimableBytes
	p.Registries = registries(p.Repositories)
}

func short(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
