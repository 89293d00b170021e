package plan

// Typed actions, results and modes, and structured reasons: a reason is a
// code and the tags, digests, rule text or error it involves; its English
// text comes from one function, Reason.String, called only at output.

import (
	"errors"
	"strings"

	"github.com/regprune/regprune/internal/policy"
)

// Action is what the plan does with an item.
type Action string

// Actions.
const (
	ActionKeep   Action = "keep"
	ActionDelete Action = "delete"
)

// Result is what apply did with an item.
type Result string

// Results.
const (
	ResultDeleted  Result = "deleted"
	ResultUntagged Result = "untagged"
	ResultSkipped  Result = "skipped"
	ResultFailed   Result = "failed"
)

// Mode is what a run does: plan only, or plan and apply.
type Mode string

// Modes.
const (
	ModePlan  Mode = "plan"
	ModeApply Mode = "apply"
)

// ReasonCode says why an item is kept or deleted, or why apply did what it
// did with it. The values are stable: they are the "reason_codes" and
// "result_code" of the JSON output.
type ReasonCode string

// Why the plan keeps or deletes an item (Item.Reasons).
const (
	// The policy's own verdicts have the code of their rule (policy.Rule:
	// keep_tag, keep_regex, keep_newest, keep_newer_than, keep_semver,
	// keep_group, age_unknown, not_candidate, delete_candidate,
	// expired_label, untag_unkept), with the tag a tag rule holds and
	// Text, the policy's words.

	// ReasonPolicyAlone is what the policy alone decided (Rule, Text),
	// overruled because something kept reaches the image.
	ReasonPolicyAlone ReasonCode = "policy_alone"
	// ReasonKeptReached: the item is a Relation of the kept manifest
	// Digest (an Of, reached through tag Tags[0] if any).
	ReasonKeptReached ReasonCode = "reached_from_kept"
	// ReasonDeleteReached: the item is a Relation of the deleted manifest
	// Digest, which alone reaches it.
	ReasonDeleteReached ReasonCode = "reached_from_deleted"
	// ReasonListedByDeleted: the deleted index Digest lists the item,
	// which is deleted after it.
	ReasonListedByDeleted ReasonCode = "listed_by_deleted"
	// ReasonUntagUnkept: Tags, held by no rule, go (untag_unkept); the
	// digest stays for what keeps it.
	ReasonUntagUnkept ReasonCode = "untag_unkept"
	// ReasonUnreached: no image reaches the item; it is left alone.
	ReasonUnreached ReasonCode = "unreached"
	// ReasonFallbackRejected: the referrers fallback tag Tags[0] of
	// Digest names it, and it is no referrers index of Digest (the
	// plan's warnings say why): it stays, with what it lists, and decides
	// nothing.
	ReasonFallbackRejected ReasonCode = "fallback_rejected"
	// ReasonOrphan: a signature or referrer whose subject Digest is in no
	// image of the repository; kept unless the policy opts in.
	ReasonOrphan ReasonCode = "orphan"
	// ReasonOrphanDeleted: such an orphan, deleted (delete_orphan_artifacts).
	ReasonOrphanDeleted ReasonCode = "orphan_deleted"
	// ReasonPlanRefused: the plan would delete every image; kept.
	ReasonPlanRefused ReasonCode = "plan_refused"
	// ReasonLeftBehind: a Relation of Digest that the journal's run Run
	// left behind when it deleted Other; this plan finishes that work.
	ReasonLeftBehind ReasonCode = "left_behind"
	// ReasonUnfinished: the journal's run Run set out to delete the item
	// and stopped after removing its tags (Tags), or, for a Relation of
	// Digest, after deleting or untagging Digest; nothing reaches it now,
	// and this plan finishes that work.
	ReasonUnfinished ReasonCode = "unfinished"
)

// Why apply did what it did with an item (Item.ResultReason).
const (
	ReasonDeleted          ReasonCode = "deleted"          // deleted; no more to say
	ReasonDeletedWithTag   ReasonCode = "deleted_with_tag" // the registry deleted the manifest with its tag
	ReasonUntagged         ReasonCode = "untagged"         // Tags removed
	ReasonTagsRemoved      ReasonCode = "tags_removed"     // Tags removed, the digest not yet (no result yet)
	ReasonRepoInterrupted  ReasonCode = "interrupted"      // interrupted before the repository
	ReasonItemInterrupted  ReasonCode = "interrupted_item" // interrupted before the item (Prior: what was done of it)
	ReasonRecheckFailed    ReasonCode = "recheck_failed"   // the re-check failed (Err); nothing deleted in the repository
	ReasonRecheckAfterTags ReasonCode = "recheck_failed_after_untag"
	ReasonGuardFailed      ReasonCode = "guard_failed"       // the final guard could not read (Err)
	ReasonGuardReached     ReasonCode = "guard_reached"      // tag Tags[0], which stays, reaches it (Prior)
	ReasonNotAttached      ReasonCode = "guard_not_attached" // the registry does not show it attached to its subject Digest (Err says how; Prior)
	ReasonTagMoved         ReasonCode = "changed_tag_moved"  // its tag Tags[0] now names Digest
	ReasonTagAppeared      ReasonCode = "changed_tag_added"  // Tags now name it
	ReasonReachedByNewTag  ReasonCode = "changed_reached"    // tag Tags[0], new or moved, reaches it through an index
	ReasonArtifactTagMoved ReasonCode = "changed_artifact"   // its signature or referrers tag Tags is new or moved
	ReasonStaleTagsGone    ReasonCode = "stale_tags_gone"    // the tags to remove are gone already
	ReasonTagDeleteUnknown ReasonCode = "tag_delete_unknown" // no probe told whether a tag can go alone
	ReasonNoTagDelete      ReasonCode = "tag_delete_refused" // the registry cannot delete a tag alone
	ReasonHeldByReferrer   ReasonCode = "held_by_referrer"   // its referrer Digest stays (Result)
	ReasonHeldBySubject    ReasonCode = "held_by_subject"    // its subject Digest stays (Result)
	ReasonHeldByParent     ReasonCode = "held_by_parent"     // its parent Digest stays (Result)
	ReasonParentStays      ReasonCode = "parent_not_deleted" // its parent Digest was not deleted
	ReasonReferrerStays    ReasonCode = "referrer_not_deleted"
	ReasonRefIndexStays    ReasonCode = "referrers_index_not_deleted"
	ReasonAnchorStays      ReasonCode = "anchor_referrer_not_deleted" // referrer Digest of Other, which it lists, stays
	ReasonAlreadyGone      ReasonCode = "already_gone"
	ReasonStillServed      ReasonCode = "still_served"     // 404 to the DELETE (Err), but HEAD finds it
	ReasonGoneUnknown      ReasonCode = "gone_unknown"     // the DELETE failed and the HEAD after it too (Err)
	ReasonGoneAfterFailure ReasonCode = "gone_after_error" // the DELETE failed (Err), but it is gone
	ReasonDeleteFailed     ReasonCode = "delete_failed"    // Err
	ReasonChildStays       ReasonCode = "child_stays"      // it lists Digest, which stays; a deep delete (Harbor) would take it (or Err: its manifest could not be read)
	ReasonStillTagged      ReasonCode = "still_tagged"     // the registry refused the digest as still tagged (Err), after retries
	ReasonStillReferenced  ReasonCode = "still_referenced" // the registry refused the digest as still listed by another manifest (Err), after retries
	ReasonProtected        ReasonCode = "protected"        // the registry keeps a protected or immutable tag of it (Err)
	ReasonPending          ReasonCode = "delete_pending"   // the registry retries the delete in the background (Err); the next run verifies
	ReasonDeleteDenied     ReasonCode = "delete_denied"    // 401/403 to a DELETE (Err)
	ReasonDeletesDisabled  ReasonCode = "deletes_disabled" // the registry refuses deletes (Err)
	ReasonNotAttempted     ReasonCode = "not_attempted"    // an earlier delete was refused (Prior)
	ReasonRepoFailed       ReasonCode = "repository_failed"
	ReasonJournalFailed    ReasonCode = "journal_failed"
)

// ReasonDeleteNotEffective: the registry accepted the DELETE, but reading
// the repository back afterwards finds the digest (Digest), or its tags
// Tags, still there.
const ReasonDeleteNotEffective ReasonCode = "delete_not_effective"

// Reason is why: a code and what it involves. Which fields a code uses is
// said at the code.
type Reason struct {
	Code     ReasonCode
	Tags     []string
	Digest   string
	Other    string      // a second digest
	Relation string      // what the item is to Digest: child, signature, referrer (or an item kind)
	Of       string      // what Digest is: image, index, signature, referrer
	Run      string      // a journal run
	Result   Result      // the result of Digest
	Text     string      // a policy's own words
	Rule     policy.Rule // the rule of ReasonPolicyAlone
	Err      error
	Prior    *Reason // what was done of the item before

	loaded string // the text of a reason read from a plan file
}

// String renders r: the one place reasons become English.
func (r Reason) String() string {
	if r.loaded != "" {
		return r.loaded
	}
	if r.Text != "" && r.Code != ReasonPolicyAlone { // a policy's verdict, in its words
		return r.Text
	}
	tags := strings.Join(r.Tags, ", ")
	tag := ""
	if len(r.Tags) > 0 {
		tag = r.Tags[0]
	}
	errText := ""
	if r.Err != nil {
		errText = r.Err.Error()
	}
	prior := func(s string) string {
		if r.Prior != nil {
			if p := r.Prior.String(); p != "" {
				return s + " (" + p + ")"
			}
		}
		return s
	}
	what := func() string {
		s := r.Of + " " + short(r.Digest)
		if tag != "" {
			s += " (tag " + tag + ")"
		}
		return s
	}
	switch r.Code {
	case ReasonPolicyAlone:
		return "policy alone: " + r.Text
	case ReasonKeptReached:
		return "kept: " + r.Relation + " of kept " + what()
	case ReasonDeleteReached:
		return "delete: " + r.Relation + " of deleted " + what()
	case ReasonListedByDeleted:
		return "listed by deleted " + short(r.Digest) + ", deleted after it"
	case ReasonUntagUnkept:
		return "untag: " + tags + " held by no rule (untag_unkept); the digest stays for what keeps it"
	case ReasonFallbackRejected:
		return "kept: the referrers fallback tag " + tag + " names it, and it is no referrers index of " + short(r.Digest) + " (see the warnings); nothing is decided from it"
	case ReasonUnreached:
		return "kept: reached from no image (orphan or untagged); regprune leaves it alone"
	case ReasonOrphan:
		return "kept: " + orphanText(r.Digest) + "; pass --delete-orphan-artifacts (delete_orphan_artifacts: true) to delete it"
	case ReasonOrphanDeleted:
		return "delete: " + orphanText(r.Digest) + "; --delete-orphan-artifacts"
	case ReasonPlanRefused:
		return "kept: plan refused (it would delete every image)"
	case ReasonLeftBehind:
		return "delete: " + r.Relation + " of " + r.Digest + ", left behind by regprune run " + r.Run +
			", which deleted " + r.Other + " (journal); finishing that run's work"
	case ReasonUnfinished:
		s := "delete: unfinished by run " + r.Run + ": "
		switch {
		case r.Digest != "":
			s += "a " + r.Relation + " of " + short(r.Digest) + ", which that regprune run deleted or untagged to delete both"
		case len(r.Tags) > 0:
			s += "that regprune run removed its tags " + tags + " to delete it"
		default:
			s += "that regprune run set out to delete it"
		}
		return s + "; nothing reaches it now (journal)"

	case ReasonDeleted:
		return ""
	case ReasonDeletedWithTag:
		return "the registry deleted the manifest with its tag"
	case ReasonUntagged:
		return "removed tag " + tags
	case ReasonTagsRemoved:
		return "its tags " + tags + " removed, the digest not yet"
	case ReasonRepoInterrupted:
		return "interrupted before this repository was started"
	case ReasonItemInterrupted:
		return prior("interrupted before this item")
	case ReasonRecheckFailed:
		return "re-check failed, nothing deleted in this repository: " + errText
	case ReasonRecheckAfterTags:
		return "re-check after removing tags failed: " + errText
	case ReasonGuardFailed:
		return "final guard could not read what the kept tags reach, nothing more deleted in this repository: " + errText
	case ReasonGuardReached:
		if tag == GuardInUse {
			return prior("final guard: an image in use reaches it")
		}
		return prior("final guard: tag " + tag + ", which stays, reaches it")
	case ReasonNotAttached:
		return prior("final guard: the registry does not show it attached to " + short(r.Digest) + ", with which the plan deletes it: " + errText)
	case ReasonTagMoved:
		return "changed since the plan: tag " + tag + " now names " + r.Digest
	case ReasonTagAppeared:
		return "changed since the plan: tag " + tags + " now names it"
	case ReasonReachedByNewTag:
		return "changed since the plan: tag " + tag + ", new or moved since the plan, now reaches it through an index"
	case ReasonArtifactTagMoved:
		return "changed since the plan: its signature or referrers tag " + tags + " is new or moved since the plan"
	case ReasonStaleTagsGone:
		return "stale tags already gone"
	case ReasonTagDeleteUnknown:
		return "tags left in place: whether the registry deletes a tag alone is unknown, as no tag of an image being deleted was removed first (none here, or interrupted); a kept image's tag is never the probe"
	case ReasonNoTagDelete:
		return "the registry cannot delete a tag alone, and deleting the digest would take the kept tags with it; stale tags left in place"
	case ReasonHeldByReferrer:
		return prior("kept for now: its referrer " + r.Digest + " stays (" + string(r.Result) + ")")
	case ReasonHeldBySubject:
		return prior("kept for now: its subject " + r.Digest + " stays (" + string(r.Result) + ")")
	case ReasonHeldByParent:
		return prior("kept for now: its parent " + r.Digest + " stays (" + string(r.Result) + ")")
	case ReasonParentStays:
		return "its parent " + r.Digest + " was not deleted"
	case ReasonReferrerStays:
		return "its referrer " + r.Digest + " was not deleted"
	case ReasonRefIndexStays:
		return "the referrers index " + r.Digest + " of its subject, which may list it, was not deleted"
	case ReasonAnchorStays:
		return "the referrer " + r.Digest + " of " + r.Other + ", which it lists, was not deleted; its tag stays so that the referrer keeps a tagged subject"
	case ReasonAlreadyGone:
		return "already gone: deleted since the plan (by an earlier run, a retried request or someone else)"
	case ReasonStillServed:
		return "the registry answered 404 to the delete but still serves the digest: " + errText
	case ReasonGoneUnknown, ReasonDeleteFailed:
		return errText
	case ReasonChildStays:
		if r.Err != nil {
			return "kept: what it lists could not be read, and a registry that deletes deeply (Harbor) would delete its children with it: " + errText
		}
		return "kept: it lists " + short(r.Digest) + ", which stays, and a registry that deletes deeply (Harbor) would delete it with the index"
	case ReasonStillTagged:
		return "the registry refuses to delete it while a tag names it (" + errText + "); a tag the plan does not delete may have appeared: plan again"
	case ReasonStillReferenced:
		return "the registry refuses to delete it while another manifest lists or references it (" + errText + "); delete that one first, or plan again"
	case ReasonProtected:
		return "kept: protected by the registry (" + errText + ")"
	case ReasonPending:
		return "pending: the registry retries the delete in the background; the next run verifies it (" + errText + ")"
	case ReasonGoneAfterFailure:
		return "already gone (the delete failed: " + errText + ")"
	case ReasonDeleteNotEffective:
		what := "the digest"
		if r.Digest == "" {
			what = "tag " + tags
		}
		s := "the registry accepted the delete, but " + what + " is still there when read back"
		if errText != "" {
			s += ": " + errText
		}
		return s
	case ReasonDeleteDenied:
		return "the registry denied the delete (" + errText + "); " + FixDenied
	case ReasonDeletesDisabled:
		return "the registry refuses deletes (" + errText + "); " + FixDisabledFor(r.Err)
	case ReasonNotAttempted:
		p := ""
		if r.Prior != nil {
			p = r.Prior.String()
		}
		return "not attempted: an earlier delete was refused: " + p
	case ReasonRepoFailed:
		return "repository failed: " + errText
	case ReasonJournalFailed:
		return "not started: the journal could not be written; nothing was deleted"
	}
	if errText != "" {
		return errText
	}
	return string(r.Code)
}

// GuardInUse stands for the tag of ReasonGuardReached when what reaches
// the item is an image in use (apply.Options.InUseDigests).
const GuardInUse = "(in use)"

// The fixes for refused deletes.
const (
	FixDenied   = "the credentials need the delete permission on this repository"
	FixDisabled = "enable deletes in the registry's configuration"
	// FixDisabledDistribution is FixDisabled for CNCF distribution (and
	// the registries built on it), told by its own answer.
	FixDisabledDistribution = "enable deletes in the registry (distribution: storage.delete.enabled: true, or REGISTRY_STORAGE_DELETE_ENABLED=true)"
)

// FixDisabledFor is the fix for deletes refused with err: distribution's
// setting only when the answer was distribution's own (an error with
// FromDistribution), no registry's setting otherwise.
func FixDisabledFor(err error) string {
	var d interface{ FromDistribution() bool }
	if errors.As(err, &d) && d.FromDistribution() {
		return FixDisabledDistribution
	}
	return FixDisabled
}

func orphanText(subject string) string {
	return "orphan: its subject " + short(subject) + " is in no image of this repository (it lives elsewhere or was removed)"
}

// IsZero reports whether r has no text (its code may still say something:
// a plain delete has code ReasonDeleted and no text).
func (r Reason) IsZero() bool { return r.String() == "" }

// Texts renders reasons.
func Texts(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

// Codes lists the codes of reasons.
func Codes(rs []Reason) []ReasonCode {
	out := make([]ReasonCode, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}

// HasCode reports whether one of rs has code c.
func HasCode(rs []Reason, c ReasonCode) bool {
	for _, r := range rs {
		if r.Code == c {
			return true
		}
	}
	return false
}

// FromPolicy is the plan's form of a policy's reasons: the rule as code,
// with the tag a tag rule holds, in the policy's words.
func FromPolicy(rs []policy.Reason) []Reason {
	out := make([]Reason, len(rs))
	for i, r := range rs {
		out[i] = Reason{Code: ReasonCode(r.Rule), Text: r.Text}
		if r.Tag != "" {
			out[i].Tags = []string{r.Tag}
		}
	}
	return out
}
