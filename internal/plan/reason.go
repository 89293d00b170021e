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
// what its constructor (reasons.go: KeptReached, GuardReached, ...) takes;
// build a reason through it. The fields stay exported for reading and for
// the JSON format.
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

// String renders r: the one place reasons become English. A reason read
// from a plan file keeps its text; a policy's verdict is in its words;
// every other code has its render func (renders).
func (r Reason) String() string {
	if r.loaded != "" {
		return r.loaded
	}
	if r.Text != "" && r.Code != ReasonPolicyAlone { // a policy's verdict, in its words
		return r.Text
	}
	if render, ok := renders[r.Code]; ok {
		return render(r)
	}
	if r.Err != nil {
		return r.Err.Error()
	}
	return string(r.Code)
}

// renders holds the text of each code, built from the fields its
// constructor (reasons.go) sets. It is filled by init: a render func
// calls String for the prior reason, which reads the table.
var renders map[ReasonCode]func(Reason) string

func init() {
	renders = map[ReasonCode]func(Reason) string{
		ReasonPolicyAlone: func(r Reason) string { return "policy alone: " + r.Text },
		ReasonKeptReached: func(r Reason) string { return "kept: " + r.Relation + " of kept " + r.what() },
		ReasonDeleteReached: func(r Reason) string {
			return "delete: " + r.Relation + " of deleted " + r.what()
		},
		ReasonListedByDeleted: func(r Reason) string { return "listed by deleted " + ShortDigest(r.Digest) + ", deleted after it" },
		ReasonUntagUnkept: func(r Reason) string {
			return "untag: " + r.tags() + " held by no rule (untag_unkept); the digest stays for what keeps it"
		},
		ReasonFallbackRejected: func(r Reason) string {
			return "kept: the referrers fallback tag " + r.tag() + " names it, and it is no referrers index of " + ShortDigest(r.Digest) + " (see the warnings); nothing is decided from it"
		},
		ReasonUnreached: text("kept: reached from no image (orphan or untagged); regprune leaves it alone"),
		ReasonOrphan: func(r Reason) string {
			return "kept: " + orphanText(r.Digest) + "; pass --delete-orphan-artifacts (delete_orphan_artifacts: true) to delete it"
		},
		ReasonOrphanDeleted: func(r Reason) string { return "delete: " + orphanText(r.Digest) + "; --delete-orphan-artifacts" },
		ReasonPlanRefused:   text("kept: plan refused (it would delete every image)"),
		ReasonLeftBehind: func(r Reason) string {
			return "delete: " + r.Relation + " of " + r.Digest + ", left behind by regprune run " + r.Run +
				", which deleted " + r.Other + " (journal); finishing that run's work"
		},
		ReasonUnfinished: renderUnfinished,

		ReasonDeleted:          text(""),
		ReasonDeletedWithTag:   text("the registry deleted the manifest with its tag"),
		ReasonUntagged:         func(r Reason) string { return "removed tag " + r.tags() },
		ReasonTagsRemoved:      func(r Reason) string { return "its tags " + r.tags() + " removed, the digest not yet" },
		ReasonRepoInterrupted:  text("interrupted before this repository was started"),
		ReasonItemInterrupted:  func(r Reason) string { return r.withPrior("interrupted before this item") },
		ReasonRecheckFailed:    func(r Reason) string { return "re-check failed, nothing deleted in this repository: " + r.errText() },
		ReasonRecheckAfterTags: func(r Reason) string { return "re-check after removing tags failed: " + r.errText() },
		ReasonGuardFailed: func(r Reason) string {
			return "final guard could not read what the kept tags reach, nothing more deleted in this repository: " + r.errText()
		},
		ReasonGuardReached: func(r Reason) string {
			if r.tag() == GuardInUse {
				return r.withPrior("final guard: an image in use reaches it")
			}
			return r.withPrior("final guard: tag " + r.tag() + ", which stays, reaches it")
		},
		ReasonNotAttached: func(r Reason) string {
			return r.withPrior("final guard: the registry does not show it attached to " + ShortDigest(r.Digest) + ", with which the plan deletes it: " + r.errText())
		},
		ReasonTagMoved:    func(r Reason) string { return "changed since the plan: tag " + r.tag() + " now names " + r.Digest },
		ReasonTagAppeared: func(r Reason) string { return "changed since the plan: tag " + r.tags() + " now names it" },
		ReasonReachedByNewTag: func(r Reason) string {
			return "changed since the plan: tag " + r.tag() + ", new or moved since the plan, now reaches it through an index"
		},
		ReasonArtifactTagMoved: func(r Reason) string {
			return "changed since the plan: its signature or referrers tag " + r.tags() + " is new or moved since the plan"
		},
		ReasonStaleTagsGone:    text("stale tags already gone"),
		ReasonTagDeleteUnknown: text("tags left in place: whether the registry deletes a tag alone is unknown, as no tag of an image being deleted was removed first (none here, or interrupted); a kept image's tag is never the probe"),
		ReasonNoTagDelete:      text("the registry cannot delete a tag alone, and deleting the digest would take the kept tags with it; stale tags left in place"),
		ReasonHeldByReferrer: func(r Reason) string {
			return r.withPrior("kept for now: its referrer " + r.Digest + " stays (" + string(r.Result) + ")")
		},
		ReasonHeldBySubject: func(r Reason) string {
			return r.withPrior("kept for now: its subject " + r.Digest + " stays (" + string(r.Result) + ")")
		},
		ReasonHeldByParent: func(r Reason) string {
			return r.withPrior("kept for now: its parent " + r.Digest + " stays (" + string(r.Result) + ")")
		},
		ReasonParentStays:   func(r Reason) string { return "its parent " + r.Digest + " was not deleted" },
		ReasonReferrerStays: func(r Reason) string { return "its referrer " + r.Digest + " was not deleted" },
		ReasonRefIndexStays: func(r Reason) string {
			return "the referrers index " + r.Digest + " of its subject, which may list it, was not deleted"
		},
		ReasonAnchorStays: func(r Reason) string {
			return "the referrer " + r.Digest + " of " + r.Other + ", which it lists, was not deleted; its tag stays so that the referrer keeps a tagged subject"
		},
		ReasonAlreadyGone: text("already gone: deleted since the plan (by an earlier run, a retried request or someone else)"),
		ReasonStillServed: func(r Reason) string {
			return "the registry answered 404 to the delete but still serves the digest: " + r.errText()
		},
		ReasonGoneUnknown:  Reason.errText,
		ReasonDeleteFailed: Reason.errText,
		ReasonChildStays: func(r Reason) string {
			if r.Err != nil {
				return "kept: what it lists could not be read, and a registry that deletes deeply (Harbor) would delete its children with it: " + r.errText()
			}
			return "kept: it lists " + ShortDigest(r.Digest) + ", which stays, and a registry that deletes deeply (Harbor) would delete it with the index"
		},
		ReasonStillTagged: func(r Reason) string {
			return "the registry refuses to delete it while a tag names it (" + r.errText() + "); a tag the plan does not delete may have appeared: plan again"
		},
		ReasonStillReferenced: func(r Reason) string {
			return "the registry refuses to delete it while another manifest lists or references it (" + r.errText() + "); delete that one first, or plan again"
		},
		ReasonProtected: func(r Reason) string { return "kept: protected by the registry (" + r.errText() + ")" },
		ReasonPending: func(r Reason) string {
			return "pending: the registry retries the delete in the background; the next run verifies it (" + r.errText() + ")"
		},
		ReasonGoneAfterFailure:   func(r Reason) string { return "already gone (the delete failed: " + r.errText() + ")" },
		ReasonDeleteNotEffective: renderNotEffective,
		ReasonDeleteDenied: func(r Reason) string {
			return "the registry denied the delete (" + r.errText() + "); " + FixDenied
		},
		ReasonDeletesDisabled: func(r Reason) string {
			return "the registry refuses deletes (" + r.errText() + "); " + FixDisabledFor(r.Err)
		},
		ReasonNotAttempted: func(r Reason) string {
			p := ""
			if r.Prior != nil {
				p = r.Prior.String()
			}
			return "not attempted: an earlier delete was refused: " + p
		},
		ReasonRepoFailed:    func(r Reason) string { return "repository failed: " + r.errText() },
		ReasonJournalFailed: text("not started: the journal could not be written; nothing was deleted"),
	}
}

// text renders a code that says the same every time.
func text(s string) func(Reason) string { return func(Reason) string { return s } }

func renderUnfinished(r Reason) string {
	s := "delete: unfinished by run " + r.Run + ": "
	switch {
	case r.Digest != "":
		s += "a " + r.Relation + " of " + ShortDigest(r.Digest) + ", which that regprune run deleted or untagged to delete both"
	case len(r.Tags) > 0:
		s += "that regprune run removed its tags " + r.tags() + " to delete it"
	default:
		s += "that regprune run set out to delete it"
	}
	return s + "; nothing reaches it now (journal)"
}

func renderNotEffective(r Reason) string {
	what := "the digest"
	if r.Digest == "" {
		what = "tag " + r.tags()
	}
	s := "the registry accepted the delete, but " + what + " is still there when read back"
	if r.Err != nil {
		s += ": " + r.errText()
	}
	return s
}

// tags is r's tags, comma-separated.
func (r Reason) tags() string { return strings.Join(r.Tags, ", ") }

// tag is r's first tag, "" for none.
func (r Reason) tag() string {
	if len(r.Tags) > 0 {
		return r.Tags[0]
	}
	return ""
}

// errText is r's error's text, "" for none.
func (r Reason) errText() string {
	if r.Err != nil {
		return r.Err.Error()
	}
	return ""
}

// withPrior is s followed by what was done of the item before, if
// anything.
func (r Reason) withPrior(s string) string {
	if r.Prior != nil {
		if p := r.Prior.String(); p != "" {
			return s + " (" + p + ")"
		}
	}
	return s
}

// what names Digest, what it is (Of) and the tag through which it is
// reached.
func (r Reason) what() string {
	s := r.Of + " " + ShortDigest(r.Digest)
	if t := r.tag(); t != "" {
		s += " (tag " + t + ")"
	}
	return s
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
	return "orphan: its subject " + ShortDigest(subject) + " is in no image of this repository (it lives elsewhere or was removed)"
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
		out[i] = fromPolicy(r)
	}
	return out
}
