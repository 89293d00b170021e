// Package plan turns policy decisions into a reviewable plan: it closes
// them over the repository graph (everything reachable from a kept image
// is kept; what a deleted image alone reaches goes with it), counts the
// bytes a run frees, applies the safety refusals, and reads and writes
// plan files (Load, WriteJSON); internal/report renders it for people.
// Building a plan is pure; apply executes the same structure.
package plan

import (
	"sort"
	"strings"
	"time"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/policy"
)

// FormatVersion is the version of the plan file format. Version 2 added
// the codes next to the texts ("reason_codes", "result_code",
// "error_code"); Load reads versions 1 and 2.
const FormatVersion = 2

// minFormatVersion is the oldest plan file format Load reads.
const minFormatVersion = 1

// FormatKind marks a regprune plan file.
const FormatKind = "regprune-plan"

// Item kinds.
const (
	KindImage     = "image"
	KindChild     = "child"
	KindReferrer  = "referrer"
	KindSignature = "signature"
)

// Item is one manifest of the plan.
type Item struct {
	Digest    string     `json:"digest"`
	Kind      string     `json:"kind"`
	Tags      []string   `json:"tags"`
	Action    Action     `json:"action"`
	Untag     []string   `json:"untag,omitempty"`
	Reasons   []Reason   `json:"reasons"`
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
	Result       Result `json:"result,omitempty"`
	ResultReason Reason `json:"result_reason,omitzero"`
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

// RepoPlan is the plan for one repository.
type RepoPlan struct {
	Name string `json:"repository"`
	Rule string `json:"rule,omitempty"`
	// Err is why nothing (more) is deleted here: the repository could
	// not be read, the plan was refused, or apply failed in it. A
	// *RepoError (see CodeOf); its text and code are the JSON "error" and
	// "error_code" (json.go).
	Err     error `json:"-"`
	Refused bool  `json:"refused,omitempty"`
	// AgesRead says whether image configs were read for build times: only
	// when a rule needs ages. Without, "created" is known only from
	// manifest annotations.
	AgesRead bool   `json:"ages_read"`
	Items    []Item `json:"images"`
	// Tags is every tag and its digest when the plan was made, so that
	// apply can tell what changed since.
	Tags map[string]string `json:"tags,omitempty"`
	// InUseMissing lists the in-use references to this repository that
	// name nothing in it.
	InUseMissing []InUseMissing `json:"in_use_missing,omitempty"`
	// Warnings are keep rules that hold nothing here (a keep tag naming
	// no tag, a keep regex matching none): likely typos; and referrers
	// fallback tags that name no referrers index of their subject
	// (graph.FallbackProblem), from which nothing is decided.
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
	// AllowEmpty lets apply leave the repository without an image: the
	// policy's allow_empty (Build), or --allow-empty for a plan file
	// (RefuseEmpty). Never read from a plan file.
	AllowEmpty bool `json:"-"`
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
	Kind             string     `json:"kind"`
	Version          int        `json:"version"`
	Generator        string     `json:"generator,omitempty"` // the regprune that wrote it, with its VCS revision
	Generated        time.Time  `json:"generated"`
	Mode             Mode       `json:"mode"`
	Repositories     []RepoPlan `json:"repositories"`
	ReclaimableBytes int64      `json:"reclaimable_bytes"`
	// Registries is what each registry host showed it can do (tag
	// delete, referrers API, deletes refused), from the repositories.
	Registries []Registry `json:"registries,omitempty"`
	Summary    Totals     `json:"summary"`
	// InUse counts the in-use sources of the run; nil without any.
	InUse *InUseCounts `json:"in_use,omitempty"`

	// RunID names an apply run in the journal; "" for a plan, and for an
	// apply without a journal (nothing of it can be restored).
	RunID string `json:"run_id,omitempty"`
	// Journal is the journal an apply records its run in; "" with
	// --no-journal. The table names it while no run is recorded (the
	// question before apply, an apply stopped before it began).
	Journal string `json:"-"`
}

// Failed returns the plan of a repository that could not be read: nothing
// in it is deleted.
func Failed(name string, err error) RepoPlan {
	return RepoPlan{Name: name, Err: Fail(ErrorRead, err), Items: []Item{}}
}

// Build closes the decisions over repo. It is pure: keep closure
// (keep.go), delete closure (delete.go), the parent each deleted
// manifest is deleted after (parents.go), the items (items.go), then the
// refusal of a plan that would delete every image (refuse.go), the bytes
// each deletion frees and the counts.
func Build(repo *graph.Repository, ds []policy.Decision, p policy.Policy) RepoPlan {
	b := &builder{repo: repo, ds: ds, p: p, tagsOf: repo.TagsByDigest()}
	b.keepClosure()
	b.deleteClosure()
	b.assignParents()
	out := RepoPlan{Name: repo.Name, Tags: repo.Tags, VerifiedTags: repo.VerifiedTags, Items: b.items(), AllowEmpty: p.AllowEmpty}
	out.Refused, out.Err = refuse(repo.Name, out.Items, p)
	attributeFrees(repo, out.Items)
	out.Warnings = append(fallbackWarnings(repo), policy.Warnings(repo, p)...)
	out.Summary = summarize(repo, out.Items)
	return out
}

// builder holds what the steps of Build share.
type builder struct {
	repo   *graph.Repository
	ds     []policy.Decision
	p      policy.Policy
	tagsOf map[string][]string

	keep    map[string]bool   // every digest kept: decided, or reached from a kept one
	keepWhy map[string]Reason // why a digest the policy did not keep is kept

	del    map[string]reach  // every digest deleted, and how it is reached
	delWhy map[string]Reason // why a dependant is deleted
	order  []string          // del in discovery order (images first, parents before children)
}

// New assembles a plan from repository plans.
func New(mode Mode, now time.Time, repos []RepoPlan) *Plan {
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
		if p.Mode == ModeApply {
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
		if r.Err != nil {
			t.Failed++
		}
		s := r.Summary
		t.Images += s.Images
		t.Keep += s.Keep
		t.Delete += s.Delete
		t.Untag += s.Untag
		t.DeleteManifests += s.DeleteManifests
		t.ReclaimableBytes = satAdd(t.ReclaimableBytes, s.ReclaimableBytes)
		t.Deleted += s.Deleted
		t.Untagged += s.Untagged
		t.Skipped += s.Skipped
		t.FailedItems += s.Failed
	}
	p.Summary = t
	if p.InUse != nil {
		p.InUse.Images = 0
		for _, r := range p.Repositories {
			for _, it := range r.Items {
				if HasCode(it.Reasons, ReasonCode(policy.RuleInUse)) {
					p.InUse.Images++
				}
			}
		}
	}
	p.ReclaimableBytes = t.ReclaimableBytes
	p.Registries = registries(p.Repositories)
}

// ShortDigest is a digest cut to 12 hex digits (sha256:0123456789ab),
// as reasons and reports show it.
func ShortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

// fallbackWarnings names the referrers fallback tags that name no
// referrers index of their subject (graph.FallbackProblem), in tag order.
func fallbackWarnings(repo *graph.Repository) []string {
	var out []string
	for _, t := range sortedKeys(repo.FallbackRejected) {
		out = append(out, "referrers fallback tag "+t+" in "+repo.Name+" is not an index of referrers: "+repo.FallbackRejected[t]+"; nothing is kept or deleted on its strength")
	}
	return out
}

// InUseMissing is an in-use reference to a repository being planned that
// names nothing found there (a digest in no manifest a tag reaches, or a
// tag that does not exist), and who uses it.
type InUseMissing struct {
	Reference string   `json:"reference"`
	UsedBy    []string `json:"used_by"`
}

// InUseCounts is what the in-use sources of a run gave: how many sources
// were read, the distinct references they named, and the images kept
// because they are in use (counted by Recount).
type InUseCounts struct {
	Sources    int `json:"sources"`
	References int `json:"references"`
	Images     int `json:"images"`
}

// MissingInUse lists what in names that repo does not hold, sorted: a
// digest in no manifest reachable from a tag, or a tag that does not
// exist. Pods that run deleted images show up here.
func MissingInUse(repo *graph.Repository, in policy.InUse) []InUseMissing {
	var out []InUseMissing
	for d, users := range in.Digests {
		if _, ok := repo.Manifests[d]; !ok {
			out = append(out, InUseMissing{Reference: repo.Name + "@" + d, UsedBy: sortedCopy(users)})
		}
	}
	for t, users := range in.Tags {
		if _, ok := repo.Tags[t]; !ok {
			out = append(out, InUseMissing{Reference: repo.Name + ":" + t, UsedBy: sortedCopy(users)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Reference < out[j].Reference })
	return out
}

func sortedCopy(ss []string) []string {
	out := append([]string(nil), ss...)
	sort.Strings(out)
	return out
}
