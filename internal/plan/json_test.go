package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/policy"
)

var errCause = errors.New("the cause")

// codedPlan has a reason of each plan kind, an applied result, a failed
// and a refused repository.
func codedPlan() *Plan {
	a, b, c := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64), "sha256:"+strings.Repeat("c", 64)
	ok := RepoPlan{Name: "reg.example/app", Items: []Item{
		{Digest: a, Kind: KindImage, Tags: []string{"latest"}, Action: ActionKeep, Reasons: FromPolicy([]policy.Reason{{Rule: policy.RuleTag, Tag: "latest", Text: "kept: tag <latest>"}})},
		{Digest: b, Kind: KindChild, Action: ActionDelete, Parent: c,
			Reasons:      []Reason{{Code: ReasonDeleteReached, Relation: "child", Of: "index", Digest: c, Tags: []string{"v1"}}, {Code: ReasonListedByDeleted, Digest: c}},
			Result:       ResultFailed,
			ResultReason: Reason{Code: ReasonDeleteFailed, Err: fmt.Errorf("DELETE: %w", errCause)}},
	}}
	failed := Failed("reg.example/broken", fmt.Errorf("listing: %w", errCause))
	refused := RepoPlan{Name: "reg.example/all", Refused: true, Err: refusedEmpty("reg.example/all", 3), Items: []Item{}}
	return New(ModeApply, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), []RepoPlan{ok, failed, refused})
}

// JSON keeps the texts where they were and adds their codes: reasons and
// reason_codes, result_reason and result_code, error and error_code.
// Loading it back keeps the codes, and the errors still answer errors.Is.
func TestJSONTextsAndCodes(t *testing.T) {
	p := codedPlan()
	var b bytes.Buffer
	if err := WriteJSON(&b, p); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version      int `json:"version"`
		Repositories []struct {
			Error     string `json:"error"`
			ErrorCode string `json:"error_code"`
			Images    []struct {
				Reasons     []string `json:"reasons"`
				ReasonCodes []string `json:"reason_codes"`
				Result      string   `json:"result"`
				ResultCode  string   `json:"result_code"`
				ResultWhy   string   `json:"result_reason"`
			} `json:"images"`
		} `json:"repositories"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != FormatVersion {
		t.Errorf("version %d", doc.Version)
	}
	it := doc.Repositories[0].Images[1]
	if want := Texts(p.Repositories[0].Items[1].Reasons); !reflect.DeepEqual(it.Reasons, want) {
		t.Errorf("reasons %q, want %q", it.Reasons, want)
	}
	if want := []string{"reached_from_deleted", "listed_by_deleted"}; !reflect.DeepEqual(it.ReasonCodes, want) {
		t.Errorf("reason_codes %q, want %q", it.ReasonCodes, want)
	}
	if it.Result != "failed" || it.ResultCode != "delete_failed" || it.ResultWhy != "DELETE: the cause" {
		t.Errorf("result %q %q %q", it.Result, it.ResultCode, it.ResultWhy)
	}
	if got := doc.Repositories[0].Images[0].Reasons; !reflect.DeepEqual(got, []string{"kept: tag <latest>"}) {
		t.Errorf("policy reason %q: its text, not HTML-escaped", got)
	}
	for i, want := range []struct{ code, text string }{
		{"", ""},
		{"read_failed", "listing: the cause"},
		{"refused_empty", "refusing to delete every image of reg.example/all (3 images): no rule keeps any; pass --allow-empty (allow_empty: true) if that is what you want"},
	} {
		if r := doc.Repositories[i]; r.ErrorCode != want.code || r.Error != want.text {
			t.Errorf("repository %d: error %q %q, want %q %q", i, r.ErrorCode, r.Error, want.code, want.text)
		}
	}

	back, err := Load(bytes.NewReader(b.Bytes()), "plan.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := Codes(back.Repositories[0].Items[1].Reasons); !reflect.DeepEqual(got, Codes(p.Repositories[0].Items[1].Reasons)) {
		t.Errorf("loaded codes %v", got)
	}
	if got, want := Texts(back.Repositories[0].Items[1].Reasons), Texts(p.Repositories[0].Items[1].Reasons); !reflect.DeepEqual(got, want) {
		t.Errorf("loaded texts %q, want %q", got, want)
	}
	if r := back.Repositories[2]; !errors.Is(r.Err, ErrRefusedEmpty) || CodeOf(r.Err) != ErrorRefusedEmpty {
		t.Errorf("loaded refusal %v (%s)", r.Err, CodeOf(r.Err))
	}
	if r := back.Repositories[1]; CodeOf(r.Err) != ErrorRead || r.Err.Error() != "listing: the cause" {
		t.Errorf("loaded failure %v (%s)", r.Err, CodeOf(r.Err))
	}
	// json.Marshal and json.Unmarshal of a Plan give the same document.
	raw, err := json.Marshal(*p)
	if err != nil {
		t.Fatal(err)
	}
	var again Plan
	if err := json.Unmarshal(raw, &again); err != nil {
		t.Fatal(err)
	}
	if CodeOf(again.Repositories[2].Err) != ErrorRefusedEmpty || again.Repositories[0].Items[1].ResultReason.Code != ReasonDeleteFailed ||
		!reflect.DeepEqual(Codes(again.Repositories[0].Items[1].Reasons), Codes(p.Repositories[0].Items[1].Reasons)) {
		t.Errorf("json.Marshal/Unmarshal lost codes: %+v", again.Repositories)
	}
	// In memory, before any rendering, the causes are values.
	if r := p.Repositories[1]; !errors.Is(r.Err, errCause) || CodeOf(r.Err) != ErrorRead {
		t.Errorf("failure %v (%s): errors.Is lost", r.Err, CodeOf(r.Err))
	}
	if r := p.Repositories[2]; !errors.Is(r.Err, ErrRefusedEmpty) {
		t.Errorf("refusal %v: not ErrRefusedEmpty", r.Err)
	}
	if why := p.Repositories[0].Items[1].ResultReason; !errors.Is(why.Err, errCause) {
		t.Errorf("result reason %v: errors.Is lost", why.Err)
	}
}

// A version 1 plan file (texts only, no codes) still loads; its refusal
// is known as one.
func TestLoadVersion1(t *testing.T) {
	d := "sha256:" + strings.Repeat("c", 64)
	v1 := `{"kind":"regprune-plan","version":1,"generated":"2026-01-02T03:04:05Z","mode":"plan",
 "repositories":[
  {"repository":"reg.example/app","ages_read":false,"images":[
   {"digest":"` + d + `","kind":"image","tags":["old"],"action":"delete","reasons":["delete: no delete filter limits candidates; no keep rule holds it"],"created":null,"size":10}],
   "summary":{"images":1,"keep":0,"delete":1,"untag":0,"manifests":1,"delete_manifests":1,"reclaimable_bytes":10}},
  {"repository":"reg.example/all","error":"refusing to delete every image of reg.example/all (1 images): no rule keeps any","refused":true,"ages_read":false,"images":[],
   "summary":{"images":0,"keep":0,"delete":0,"untag":0,"manifests":0,"delete_manifests":0,"reclaimable_bytes":0}}],
 "reclaimable_bytes":10,"summary":{"repositories":2,"failed_repositories":1,"images":1,"keep":0,"delete":1,"untag":0,"delete_manifests":1,"reclaimable_bytes":10}}`
	p, err := Load(strings.NewReader(v1), "v1.json")
	if err != nil {
		t.Fatal(err)
	}
	it := p.Repositories[0].Items[0]
	if it.Action != ActionDelete || len(it.Reasons) != 1 || it.Reasons[0].String() != "delete: no delete filter limits candidates; no keep rule holds it" {
		t.Errorf("item %+v", it)
	}
	if r := p.Repositories[1]; !errors.Is(r.Err, ErrRefusedEmpty) || p.Summary.Failed != 1 {
		t.Errorf("refused repository %v, %d failed", r.Err, p.Summary.Failed)
	}
	if p.Mode != ModePlan {
		t.Errorf("mode %q", p.Mode)
	}
}

// Every code renders to a text of its own (ReasonDeleted alone says
// nothing more than its result), and no code is used twice.
func TestReasonCodesRender(t *testing.T) {
	err := errors.New("E")
	prior := &Reason{Code: ReasonTagsRemoved, Tags: []string{"t"}}
	seen := map[ReasonCode]bool{}
	texts := map[string]ReasonCode{}
	for _, r := range []Reason{
		{Code: ReasonCode(policy.RuleTag), Text: "kept: tag x"}, {Code: ReasonPolicyAlone, Rule: policy.RuleCandidate, Text: "delete: x"},
		{Code: ReasonKeptReached, Relation: "child", Of: "index", Digest: "sha256:1", Tags: []string{"t"}},
		{Code: ReasonDeleteReached, Relation: "child", Of: "index", Digest: "sha256:1"},
		{Code: ReasonListedByDeleted, Digest: "sha256:1"}, {Code: ReasonUntagUnkept, Tags: []string{"t"}},
		{Code: ReasonUnreached}, {Code: ReasonOrphan, Digest: "sha256:1"}, {Code: ReasonOrphanDeleted, Digest: "sha256:1"},
		{Code: ReasonPlanRefused}, {Code: ReasonLeftBehind, Relation: "signature", Digest: "sha256:1", Run: "r", Other: "sha256:2"},
		{Code: ReasonDeletedWithTag}, {Code: ReasonUntagged, Tags: []string{"t"}}, {Code: ReasonTagsRemoved, Tags: []string{"t"}},
		{Code: ReasonRepoInterrupted}, {Code: ReasonItemInterrupted, Prior: prior}, {Code: ReasonRecheckFailed, Err: err},
		{Code: ReasonRecheckAfterTags, Err: err}, {Code: ReasonGuardFailed, Err: err}, {Code: ReasonGuardReached, Tags: []string{"t"}},
		{Code: ReasonTagMoved, Tags: []string{"t"}, Digest: "sha256:1"}, {Code: ReasonTagAppeared, Tags: []string{"t"}},
		{Code: ReasonReachedByNewTag, Tags: []string{"t"}}, {Code: ReasonArtifactTagMoved, Tags: []string{"t"}},
		{Code: ReasonStaleTagsGone}, {Code: ReasonTagDeleteUnknown}, {Code: ReasonNoTagDelete},
		{Code: ReasonHeldByReferrer, Digest: "d", Result: ResultSkipped}, {Code: ReasonHeldBySubject, Digest: "d", Result: ResultSkipped},
		{Code: ReasonHeldByParent, Digest: "d", Result: ResultSkipped}, {Code: ReasonParentStays, Digest: "d"},
		{Code: ReasonReferrerStays, Digest: "d"}, {Code: ReasonRefIndexStays, Digest: "d"}, {Code: ReasonAnchorStays, Digest: "d", Other: "s"},
		{Code: ReasonAlreadyGone}, {Code: ReasonStillServed, Err: err}, {Code: ReasonGoneUnknown, Err: errors.New("E2")},
		{Code: ReasonGoneAfterFailure, Err: err}, {Code: ReasonDeleteFailed, Err: err}, {Code: ReasonDeleteDenied, Err: err},
		{Code: ReasonPending, Err: err}, {Code: ReasonProtected, Err: err},
		{Code: ReasonDeletesDisabled, Err: err}, {Code: ReasonNotAttempted, Prior: &Reason{Code: ReasonDeletesDisabled, Err: err}},
		{Code: ReasonRepoFailed, Err: err}, {Code: ReasonJournalFailed, Err: err},
	} {
		if seen[r.Code] {
			t.Errorf("code %s listed twice", r.Code)
		}
		seen[r.Code] = true
		s := r.String()
		if s == "" || s == string(r.Code) || strings.Contains(s, "%!") {
			t.Errorf("%s renders %q", r.Code, s)
		}
		if c, ok := texts[s]; ok {
			t.Errorf("%s and %s render alike: %q", c, r.Code, s)
		}
		texts[s] = r.Code
	}
	if s := (Reason{Code: ReasonDeleted}).String(); s != "" {
		t.Errorf("deleted renders %q", s)
	}
	if !(Reason{Code: ReasonDeleted}).IsZero() || (Reason{Code: ReasonAlreadyGone}).IsZero() {
		t.Error("IsZero: a plain delete says nothing more, a skip does")
	}
}
