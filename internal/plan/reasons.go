package plan

import "github.com/regprune/regprune/internal/policy"

// The constructors of reasons: one per code, taking exactly the fields
// its text uses, so that building a reason says what it involves. Product
// code builds reasons only through them; Reason's fields stay exported
// for reading and for the JSON format.

// tagsOf is tag as a one-element list, nil for "".
func tagsOf(tag string) []string {
	if tag == "" {
		return nil
	}
	return []string{tag}
}

// Why the plan keeps or deletes an item.

// PolicyAlone is what the policy alone decided (its rule and words),
// overruled because something kept reaches the image.
func PolicyAlone(rule policy.Rule, text string) Reason {
	return Reason{Code: ReasonPolicyAlone, Rule: rule, Text: text}
}

// KeptReached: the item is the relation (child, signature, referrer) of
// the kept manifest digest, which is an of (image, index, ...), reached
// through tag ("" for none).
func KeptReached(relation, of, digest, tag string) Reason {
	return Reason{Code: ReasonKeptReached, Relation: relation, Of: of, Digest: digest, Tags: tagsOf(tag)}
}

// DeleteReached: the item is the relation of the deleted manifest digest
// (an of, reached through tag), which alone reaches it.
func DeleteReached(relation, of, digest, tag string) Reason {
	return Reason{Code: ReasonDeleteReached, Relation: relation, Of: of, Digest: digest, Tags: tagsOf(tag)}
}

// ListedByDeleted: the deleted index lists the item, deleted after it.
func ListedByDeleted(index string) Reason {
	return Reason{Code: ReasonListedByDeleted, Digest: index}
}

// UntagUnkept: tags, held by no rule, go; the digest stays.
func UntagUnkept(tags []string) Reason { return Reason{Code: ReasonUntagUnkept, Tags: tags} }

// Unreached: no image reaches the item; it is left alone.
func Unreached() Reason { return Reason{Code: ReasonUnreached} }

// FallbackRejected: the referrers fallback tag of subject names the item,
// which is no referrers index of subject.
func FallbackRejected(tag, subject string) Reason {
	return Reason{Code: ReasonFallbackRejected, Tags: tagsOf(tag), Digest: subject}
}

// Orphan: a signature or referrer whose subject is in no image; kept.
func Orphan(subject string) Reason { return Reason{Code: ReasonOrphan, Digest: subject} }

// OrphanDeleted: such an orphan, deleted (delete_orphan_artifacts).
func OrphanDeleted(subject string) Reason { return Reason{Code: ReasonOrphanDeleted, Digest: subject} }

// PlanRefused: the plan would delete every image; kept.
func PlanRefused() Reason { return Reason{Code: ReasonPlanRefused} }

// LeftBehind: the relation of digest that the journal's run left behind
// when it deleted other.
func LeftBehind(relation, digest, run, other string) Reason {
	return Reason{Code: ReasonLeftBehind, Relation: relation, Digest: digest, Run: run, Other: other}
}

// Unfinished: the journal's run set out to delete the item (a relation:
// its kind) and stopped after removing its tags, or, with no tags, after
// deleting or untagging via ("" when unknown).
func Unfinished(run, relation string, tags []string, via string) Reason {
	r := Reason{Code: ReasonUnfinished, Run: run, Relation: relation}
	if len(tags) > 0 {
		r.Tags = tags
	} else {
		r.Digest = via
	}
	return r
}

// Why apply did what it did with an item.

// Deleted: deleted; no more to say.
func Deleted() Reason { return Reason{Code: ReasonDeleted} }

// DeletedWithTag: the registry deleted the manifest with its tag.
func DeletedWithTag() Reason { return Reason{Code: ReasonDeletedWithTag} }

// Untagged: tags removed.
func Untagged(tags []string) Reason { return Reason{Code: ReasonUntagged, Tags: tags} }

// TagsRemoved: tags removed, the digest not yet.
func TagsRemoved(tags []string) Reason { return Reason{Code: ReasonTagsRemoved, Tags: tags} }

// RepoInterrupted: interrupted before the repository was started.
func RepoInterrupted() Reason { return Reason{Code: ReasonRepoInterrupted} }

// ItemInterrupted: interrupted before the item; prior is what was done of
// it (nil for nothing).
func ItemInterrupted(prior *Reason) Reason {
	return Reason{Code: ReasonItemInterrupted, Prior: prior}
}

// RecheckFailed: the re-check failed; nothing deleted in the repository.
func RecheckFailed(err error) Reason { return Reason{Code: ReasonRecheckFailed, Err: err} }

// RecheckAfterTags: the re-check after removing tags failed.
func RecheckAfterTags(err error) Reason { return Reason{Code: ReasonRecheckAfterTags, Err: err} }

// GuardFailed: the final guard could not read.
func GuardFailed(err error) Reason { return Reason{Code: ReasonGuardFailed, Err: err} }

// GuardReached: tag, which stays (or GuardInUse), reaches the item.
func GuardReached(tag string, prior *Reason) Reason {
	return Reason{Code: ReasonGuardReached, Tags: tagsOf(tag), Prior: prior}
}

// NotAttached: the registry does not show the item attached to subject
// (err says how).
func NotAttached(subject string, err error, prior *Reason) Reason {
	return Reason{Code: ReasonNotAttached, Digest: subject, Err: err, Prior: prior}
}

// TagMoved: the item's tag now names digest.
func TagMoved(tag, digest string) Reason {
	return Reason{Code: ReasonTagMoved, Tags: tagsOf(tag), Digest: digest}
}

// TagAppeared: tags now name the item.
func TagAppeared(tags []string) Reason { return Reason{Code: ReasonTagAppeared, Tags: tags} }

// ReachedByNewTag: tag, new or moved, reaches the item through an index.
func ReachedByNewTag(tag string) Reason {
	return Reason{Code: ReasonReachedByNewTag, Tags: tagsOf(tag)}
}

// ArtifactTagMoved: the item's signature or referrers tags are new or
// moved.
func ArtifactTagMoved(tags []string) Reason { return Reason{Code: ReasonArtifactTagMoved, Tags: tags} }

// StaleTagsGone: the tags to remove are gone already.
func StaleTagsGone() Reason { return Reason{Code: ReasonStaleTagsGone} }

// TagDeleteUnknown: no probe told whether a tag can go alone.
func TagDeleteUnknown() Reason { return Reason{Code: ReasonTagDeleteUnknown} }

// NoTagDelete: the registry cannot delete a tag alone.
func NoTagDelete() Reason { return Reason{Code: ReasonNoTagDelete} }

// HeldByReferrer: the item's referrer stays (with its result).
func HeldByReferrer(referrer string, result Result, prior *Reason) Reason {
	return Reason{Code: ReasonHeldByReferrer, Digest: referrer, Result: result, Prior: prior}
}

// HeldBySubject: the item's subject stays (with its result).
func HeldBySubject(subject string, result Result, prior *Reason) Reason {
	return Reason{Code: ReasonHeldBySubject, Digest: subject, Result: result, Prior: prior}
}

// HeldByParent: the item's parent stays (with its result).
func HeldByParent(parent string, result Result, prior *Reason) Reason {
	return Reason{Code: ReasonHeldByParent, Digest: parent, Result: result, Prior: prior}
}

// ParentStays: the item's parent was not deleted.
func ParentStays(parent string) Reason { return Reason{Code: ReasonParentStays, Digest: parent} }

// ReferrerStays: the item's referrer was not deleted.
func ReferrerStays(referrer string) Reason {
	return Reason{Code: ReasonReferrerStays, Digest: referrer}
}

// RefIndexStays: the referrers index of the item's subject, which may
// list it, was not deleted.
func RefIndexStays(index string) Reason { return Reason{Code: ReasonRefIndexStays, Digest: index} }

// AnchorStays: the referrer of subject, which the item lists, stays.
func AnchorStays(referrer, subject string) Reason {
	return Reason{Code: ReasonAnchorStays, Digest: referrer, Other: subject}
}

// AlreadyGone: deleted since the plan.
func AlreadyGone() Reason { return Reason{Code: ReasonAlreadyGone} }

// StillServed: 404 to the DELETE (err), but HEAD finds it.
func StillServed(err error) Reason { return Reason{Code: ReasonStillServed, Err: err} }

// GoneUnknown: the DELETE failed and the check after it too (err).
func GoneUnknown(err error) Reason { return Reason{Code: ReasonGoneUnknown, Err: err} }

// GoneAfterFailure: the DELETE failed (err), but the item is gone.
func GoneAfterFailure(err error) Reason { return Reason{Code: ReasonGoneAfterFailure, Err: err} }

// DeleteFailed: the DELETE failed (err).
func DeleteFailed(err error) Reason { return Reason{Code: ReasonDeleteFailed, Err: err} }

// ChildStays: the index lists child, which stays; a deep delete (Harbor)
// would take it.
func ChildStays(child string) Reason { return Reason{Code: ReasonChildStays, Digest: child} }

// ChildUnreadable: what the index lists could not be read (err); kept as
// ChildStays.
func ChildUnreadable(err error) Reason { return Reason{Code: ReasonChildStays, Err: err} }

// StillTagged: the registry refused the digest as still tagged (err).
func StillTagged(err error) Reason { return Reason{Code: ReasonStillTagged, Err: err} }

// StillReferenced: the registry refused the digest as still listed by
// another manifest (err).
func StillReferenced(err error) Reason { return Reason{Code: ReasonStillReferenced, Err: err} }

// Protected: the registry keeps a protected or immutable tag of it (err).
func Protected(err error) Reason { return Reason{Code: ReasonProtected, Err: err} }

// Pending: the registry retries the delete in the background (err); the
// next run verifies it.
func Pending(err error) Reason { return Reason{Code: ReasonPending, Err: err} }

// DeleteDenied: 401 or 403 to a DELETE (err).
func DeleteDenied(err error) Reason { return Reason{Code: ReasonDeleteDenied, Err: err} }

// DeletesDisabled: the registry refuses deletes (err).
func DeletesDisabled(err error) Reason { return Reason{Code: ReasonDeletesDisabled, Err: err} }

// NotAttempted: an earlier delete was refused (err; prior is its reason).
func NotAttempted(err error, prior *Reason) Reason {
	return Reason{Code: ReasonNotAttempted, Err: err, Prior: prior}
}

// RepoFailed: the repository failed (err).
func RepoFailed(err error) Reason { return Reason{Code: ReasonRepoFailed, Err: err} }

// JournalFailed: the journal could not be written (err); nothing deleted.
func JournalFailed(err error) Reason { return Reason{Code: ReasonJournalFailed, Err: err} }

// DeleteNotEffective: the registry accepted the DELETE, but reading back
// finds digest ("" for a tag delete) or tags still there; err, if any,
// says more.
func DeleteNotEffective(digest string, tags []string, err error) Reason {
	return Reason{Code: ReasonDeleteNotEffective, Digest: digest, Tags: tags, Err: err}
}

// fromPolicy is one of the policy's own verdicts: the rule as code, with
// the tag a tag rule holds, in the policy's words.
func fromPolicy(r policy.Reason) Reason {
	return Reason{Code: ReasonCode(r.Rule), Tags: tagsOf(r.Tag), Text: r.Text}
}
