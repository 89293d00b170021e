package plan

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/policy"
)

// reasonCases builds each code through its constructor, beside the
// literal that product code wrote before the constructors, and the text
// that literal rendered (pinned from the renderer before it became a
// table): a constructor sets exactly its code's fields, and the table
// renders what the switch did.
func reasonCases() []struct {
	built, literal Reason
	text           string
} {
	err := errors.New("E")
	prior := &Reason{Code: ReasonTagsRemoved, Tags: []string{"t"}}
	const d1, d2 = "sha256:1111111111111111111111111111111111111111111111111111111111111111", "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	type c = struct {
		built, literal Reason
		text           string
	}
	return []c{
		{PolicyAlone(policy.RuleCandidate, "delete: x"), Reason{Code: ReasonPolicyAlone, Rule: policy.RuleCandidate, Text: "delete: x"},
			"policy alone: delete: x"},
		{KeptReached("child", "index", d1, "t"), Reason{Code: ReasonKeptReached, Relation: "child", Of: "index", Digest: d1, Tags: []string{"t"}},
			"kept: child of kept index sha256:111111111111 (tag t)"},
		{KeptReached("signature", "image", d1, ""), Reason{Code: ReasonKeptReached, Relation: "signature", Of: "image", Digest: d1},
			"kept: signature of kept image sha256:111111111111"},
		{DeleteReached("child", "index", d1, ""), Reason{Code: ReasonDeleteReached, Relation: "child", Of: "index", Digest: d1},
			"delete: child of deleted index sha256:111111111111"},
		{DeleteReached("referrer", "image", d1, "v1"), Reason{Code: ReasonDeleteReached, Relation: "referrer", Of: "image", Digest: d1, Tags: []string{"v1"}},
			"delete: referrer of deleted image sha256:111111111111 (tag v1)"},
		{ListedByDeleted(d1), Reason{Code: ReasonListedByDeleted, Digest: d1},
			"listed by deleted sha256:111111111111, deleted after it"},
		{UntagUnkept([]string{"a", "b"}), Reason{Code: ReasonUntagUnkept, Tags: []string{"a", "b"}},
			"untag: a, b held by no rule (untag_unkept); the digest stays for what keeps it"},
		{Unreached(), Reason{Code: ReasonUnreached},
			"kept: reached from no image (orphan or untagged); regprune leaves it alone"},
		{FallbackRejected("sha256-1111", d1), Reason{Code: ReasonFallbackRejected, Tags: []string{"sha256-1111"}, Digest: d1},
			"kept: the referrers fallback tag sha256-1111 names it, and it is no referrers index of sha256:111111111111 (see the warnings); nothing is decided from it"},
		{Orphan(d1), Reason{Code: ReasonOrphan, Digest: d1},
			"kept: orphan: its subject sha256:111111111111 is in no image of this repository (it lives elsewhere or was removed); pass --delete-orphan-artifacts (delete_orphan_artifacts: true) to delete it"},
		{OrphanDeleted(d1), Reason{Code: ReasonOrphanDeleted, Digest: d1},
			"delete: orphan: its subject sha256:111111111111 is in no image of this repository (it lives elsewhere or was removed); --delete-orphan-artifacts"},
		{PlanRefused(), Reason{Code: ReasonPlanRefused},
			"kept: plan refused (it would delete every image)"},
		{LeftBehind("signature", d1, "r", d2), Reason{Code: ReasonLeftBehind, Relation: "signature", Digest: d1, Run: "r", Other: d2},
			"delete: signature of sha256:1111111111111111111111111111111111111111111111111111111111111111, left behind by regprune run r, which deleted sha256:2222222222222222222222222222222222222222222222222222222222222222 (journal); finishing that run's work"},
		{Unfinished("r", KindChild, nil, d1), Reason{Code: ReasonUnfinished, Run: "r", Relation: KindChild, Digest: d1},
			"delete: unfinished by run r: a child of sha256:111111111111, which that regprune run deleted or untagged to delete both; nothing reaches it now (journal)"},
		{Unfinished("r", KindImage, []string{"a", "b"}, d1), Reason{Code: ReasonUnfinished, Run: "r", Relation: KindImage, Tags: []string{"a", "b"}},
			"delete: unfinished by run r: that regprune run removed its tags a, b to delete it; nothing reaches it now (journal)"},
		{Unfinished("r", KindImage, nil, ""), Reason{Code: ReasonUnfinished, Run: "r", Relation: KindImage},
			"delete: unfinished by run r: that regprune run set out to delete it; nothing reaches it now (journal)"},
		{Deleted(), Reason{Code: ReasonDeleted},
			""},
		{DeletedWithTag(), Reason{Code: ReasonDeletedWithTag},
			"the registry deleted the manifest with its tag"},
		{Untagged([]string{"a", "b"}), Reason{Code: ReasonUntagged, Tags: []string{"a", "b"}},
			"removed tag a, b"},
		{TagsRemoved([]string{"t"}), Reason{Code: ReasonTagsRemoved, Tags: []string{"t"}},
			"its tags t removed, the digest not yet"},
		{RepoInterrupted(), Reason{Code: ReasonRepoInterrupted},
			"interrupted before this repository was started"},
		{ItemInterrupted(prior), Reason{Code: ReasonItemInterrupted, Prior: prior},
			"interrupted before this item (its tags t removed, the digest not yet)"},
		{ItemInterrupted(nil), Reason{Code: ReasonItemInterrupted},
			"interrupted before this item"},
		{RecheckFailed(err), Reason{Code: ReasonRecheckFailed, Err: err},
			"re-check failed, nothing deleted in this repository: E"},
		{RecheckAfterTags(err), Reason{Code: ReasonRecheckAfterTags, Err: err},
			"re-check after removing tags failed: E"},
		{GuardFailed(err), Reason{Code: ReasonGuardFailed, Err: err},
			"final guard could not read what the kept tags reach, nothing more deleted in this repository: E"},
		{GuardReached("t", prior), Reason{Code: ReasonGuardReached, Tags: []string{"t"}, Prior: prior},
			"final guard: tag t, which stays, reaches it (its tags t removed, the digest not yet)"},
		{GuardReached(GuardInUse, nil), Reason{Code: ReasonGuardReached, Tags: []string{GuardInUse}},
			"final guard: an image in use reaches it"},
		{NotAttached(d1, err, prior), Reason{Code: ReasonNotAttached, Digest: d1, Err: err, Prior: prior},
			"final guard: the registry does not show it attached to sha256:111111111111, with which the plan deletes it: E (its tags t removed, the digest not yet)"},
		{TagMoved("t", d1), Reason{Code: ReasonTagMoved, Tags: []string{"t"}, Digest: d1},
			"changed since the plan: tag t now names sha256:1111111111111111111111111111111111111111111111111111111111111111"},
		{TagAppeared([]string{"a", "b"}), Reason{Code: ReasonTagAppeared, Tags: []string{"a", "b"}},
			"changed since the plan: tag a, b now names it"},
		{ReachedByNewTag("t"), Reason{Code: ReasonReachedByNewTag, Tags: []string{"t"}},
			"changed since the plan: tag t, new or moved since the plan, now reaches it through an index"},
		{ArtifactTagMoved([]string{"a.sig"}), Reason{Code: ReasonArtifactTagMoved, Tags: []string{"a.sig"}},
			"changed since the plan: its signature or referrers tag a.sig is new or moved since the plan"},
		{StaleTagsGone(), Reason{Code: ReasonStaleTagsGone},
			"stale tags already gone"},
		{TagDeleteUnknown(), Reason{Code: ReasonTagDeleteUnknown},
			"tags left in place: whether the registry deletes a tag alone is unknown, as no tag of an image being deleted was removed first (none here, or interrupted); a kept image's tag is never the probe"},
		{NoTagDelete(), Reason{Code: ReasonNoTagDelete},
			"the registry cannot delete a tag alone, and deleting the digest would take the kept tags with it; stale tags left in place"},
		{HeldByReferrer(d1, ResultSkipped, prior), Reason{Code: ReasonHeldByReferrer, Digest: d1, Result: ResultSkipped, Prior: prior},
			"kept for now: its referrer sha256:1111111111111111111111111111111111111111111111111111111111111111 stays (skipped) (its tags t removed, the digest not yet)"},
		{HeldBySubject(d1, ResultFailed, nil), Reason{Code: ReasonHeldBySubject, Digest: d1, Result: ResultFailed},
			"kept for now: its subject sha256:1111111111111111111111111111111111111111111111111111111111111111 stays (failed)"},
		{HeldByParent(d1, ResultSkipped, nil), Reason{Code: ReasonHeldByParent, Digest: d1, Result: ResultSkipped},
			"kept for now: its parent sha256:1111111111111111111111111111111111111111111111111111111111111111 stays (skipped)"},
		{ParentStays(d1), Reason{Code: ReasonParentStays, Digest: d1},
			"its parent sha256:1111111111111111111111111111111111111111111111111111111111111111 was not deleted"},
		{ReferrerStays(d1), Reason{Code: ReasonReferrerStays, Digest: d1},
			"its referrer sha256:1111111111111111111111111111111111111111111111111111111111111111 was not deleted"},
		{RefIndexStays(d1), Reason{Code: ReasonRefIndexStays, Digest: d1},
			"the referrers index sha256:1111111111111111111111111111111111111111111111111111111111111111 of its subject, which may list it, was not deleted"},
		{AnchorStays(d1, d2), Reason{Code: ReasonAnchorStays, Digest: d1, Other: d2},
			"the referrer sha256:1111111111111111111111111111111111111111111111111111111111111111 of sha256:2222222222222222222222222222222222222222222222222222222222222222, which it lists, was not deleted; its tag stays so that the referrer keeps a tagged subject"},
		{AlreadyGone(), Reason{Code: ReasonAlreadyGone},
			"already gone: deleted since the plan (by an earlier run, a retried request or someone else)"},
		{StillServed(err), Reason{Code: ReasonStillServed, Err: err},
			"the registry answered 404 to the delete but still serves the digest: E"},
		{GoneUnknown(err), Reason{Code: ReasonGoneUnknown, Err: err},
			"E"},
		{GoneAfterFailure(err), Reason{Code: ReasonGoneAfterFailure, Err: err},
			"already gone (the delete failed: E)"},
		{DeleteFailed(err), Reason{Code: ReasonDeleteFailed, Err: err},
			"E"},
		{ChildStays(d1), Reason{Code: ReasonChildStays, Digest: d1},
			"kept: it lists sha256:111111111111, which stays, and a registry that deletes deeply (Harbor) would delete it with the index"},
		{ChildUnreadable(err), Reason{Code: ReasonChildStays, Err: err},
			"kept: what it lists could not be read, and a registry that deletes deeply (Harbor) would delete its children with it: E"},
		{StillTagged(err), Reason{Code: ReasonStillTagged, Err: err},
			"the registry refuses to delete it while a tag names it (E); a tag the plan does not delete may have appeared: plan again"},
		{StillReferenced(err), Reason{Code: ReasonStillReferenced, Err: err},
			"the registry refuses to delete it while another manifest lists or references it (E); delete that one first, or plan again"},
		{Protected(err), Reason{Code: ReasonProtected, Err: err},
			"kept: protected by the registry (E)"},
		{Pending(err), Reason{Code: ReasonPending, Err: err},
			"pending: the registry retries the delete in the background; the next run verifies it (E)"},
		{DeleteDenied(err), Reason{Code: ReasonDeleteDenied, Err: err},
			"the registry denied the delete (E); the credentials need the delete permission on this repository"},
		{DeletesDisabled(err), Reason{Code: ReasonDeletesDisabled, Err: err},
			"the registry refuses deletes (E); enable deletes in the registry's configuration"},
		{NotAttempted(err, &Reason{Code: ReasonDeletesDisabled, Err: err}), Reason{Code: ReasonNotAttempted, Err: err, Prior: &Reason{Code: ReasonDeletesDisabled, Err: err}},
			"not attempted: an earlier delete was refused: the registry refuses deletes (E); enable deletes in the registry's configuration"},
		{RepoFailed(err), Reason{Code: ReasonRepoFailed, Err: err},
			"repository failed: E"},
		{JournalFailed(err), Reason{Code: ReasonJournalFailed, Err: err},
			"not started: the journal could not be written; nothing was deleted"},
		{DeleteNotEffective(d1, []string{"t"}, nil), Reason{Code: ReasonDeleteNotEffective, Digest: d1, Tags: []string{"t"}},
			"the registry accepted the delete, but the digest is still there when read back"},
		{DeleteNotEffective("", []string{"t"}, err), Reason{Code: ReasonDeleteNotEffective, Tags: []string{"t"}, Err: err},
			"the registry accepted the delete, but tag t is still there when read back: E"},
		{fromPolicy(policy.Reason{Rule: policy.RuleTag, Tag: "t", Text: "kept: tag t"}), Reason{Code: ReasonCode(policy.RuleTag), Tags: []string{"t"}, Text: "kept: tag t"},
			"kept: tag t"},
	}
}

// Each constructor builds what the literal built, and renders the text
// the literal rendered before String became a table.
func TestReasonConstructors(t *testing.T) {
	for _, c := range reasonCases() {
		if !reflect.DeepEqual(c.built, c.literal) {
			t.Errorf("constructor builds %+v, want %+v", c.built, c.literal)
		}
		if got := c.built.String(); got != c.text {
			t.Errorf("%s renders %q, want %q", c.built.Code, got, c.text)
		}
	}
}

// Every ReasonCode declared in reason.go has its render func and at
// least one constructor, and String's table is the whole of the codes.
func TestEveryCodeHasConstructorAndRender(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "reason.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[ReasonCode]bool{}
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "ReasonCode" {
				continue
			}
			for _, val := range v.Values {
				if lit, ok := val.(*ast.BasicLit); ok {
					declared[ReasonCode(strings.Trim(lit.Value, `"`))] = true
				}
			}
		}
	}
	built := map[ReasonCode]bool{}
	for _, c := range reasonCases() {
		built[c.built.Code] = true
	}
	if len(declared) < 50 {
		t.Fatalf("found only %d codes in reason.go", len(declared))
	}
	for code := range declared {
		if renders[code] == nil {
			t.Errorf("%s has no render func", code)
		}
		if !built[code] {
			t.Errorf("%s has no constructor in the cases", code)
		}
	}
	for code := range renders {
		if !declared[code] {
			t.Errorf("render func for %s, which reason.go does not declare", code)
		}
	}
}
