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
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/registry"
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

// Why is the code of a reason (Code: why the action; ResultCode: why the
// result): what restore found, typed, for callers and tests to compare.
// Reason and ResultReason are its text, with the digests and runs it
// names.
type Why string

// Reason codes of actions.
const (
	WhyPresent           Why = "present"            // the registry has it (the tag names it already)
	WhyNoIntactCopy      Why = "no_intact_copy"     // the journal holds no copy that matches its digest
	WhyBlobGone          Why = "blob_gone"          // a config or layer blob is gone (garbage collected)
	WhyBlobsMounted      Why = "blobs_mounted"      // blobs gone from here are mounted from another repository
	WhyNeededGone        Why = "needed_gone"        // a manifest it needs is gone, and in no run's journal
	WhyNeedsRun          Why = "needs_run"          // it, or what it needs, waits for another run's restore
	WhyNeedUnrecoverable Why = "need_unrecoverable" // a child, subject or image it needs cannot come back
	WhyTagMoved          Why = "tag_moved"          // the tag names another digest now
	WhyRefusedMissing    Why = "refused_missing"    // the registry refused the push for a missing blob or manifest
)

// Reason codes of results.
const (
	WhyInterrupted   Why = "interrupted"     // not sent: interrupted
	WhyNotSent       Why = "not_sent"        // not sent: the registry refused a push before
	WhyNeedNotPushed Why = "need_not_pushed" // not sent: what it needs was not pushed
	WhyRegistryError Why = "registry_error"  // the registry or the journal answered an error
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

// ErrNothingToRestore means the run has nothing to restore under the filters.
var ErrNothingToRestore = errors.New("nothing was deleted")

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
	Code         Why      `json:"reason_code,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	Result       Result   `json:"result,omitempty"`
	ResultCode   Why      `json:"result_code,omitempty"`
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
	Code         Why    `json:"reason_code,omitempty"`
	Reason       string `json:"reason,omitempty"`
	Result       Result `json:"result,omitempty"`
	ResultCode   Why    `json:"result_code,omitempty"`
	ResultReason string `json:"result_reason,omitempty"`
	// NeedsRun is the run that deleted its manifest (ActionNeedsRun).
	NeedsRun string `json:"needs_run,omitempty"`

	entries []int64
}

// RepoRestore is the restore of one repository.
type RepoRestore struct {
	Name string `json:"repository"`
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
	Kind         string        `json:"kind"`
	RunID        string        `json:"run_id"`
	DryRun       bool          `json:"dry_run"`
	Repositories []RepoRestore `json:"repositories"`
	Summary      Summary       `json:"summary"`
	// RunIDs are the runs restored together, when more than one (RunID
	// is the first).
	RunIDs []string `json:"run_ids,omitempty"`
	// NeedRuns are the other runs that deleted what some of this
	// restore needs: restore them with it (Command).
	NeedRuns []string `json:"need_runs,omitempty"`
}

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
