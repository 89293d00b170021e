package plan

// The JSON form of a plan: reasons and errors are written as their text,
// as before, with their codes next to them ("reason_codes",
// "result_code", "error_code"), so that a script can match codes and a
// person reads the text. The wire types below add those keys to the
// plan's own types in one encoding pass (no marshaler re-encodes a whole
// repository), so a plan of 100,000 images renders as fast as before.

import "encoding/json"

// The plan's types without their methods, embedded in the wire types.
type (
	planFields Plan
	repoFields Repository
	itemFields Item
)

type wirePlan struct {
	planFields
	Repositories []wireRepo `json:"repositories"`
}

type wireRepo struct {
	repoFields
	Items     []wireItem `json:"images"`
	Error     string     `json:"error,omitempty"`
	ErrorCode ErrorCode  `json:"error_code,omitempty"`
}

type wireItem struct {
	itemFields
	ReasonCodes []ReasonCode `json:"reason_codes,omitempty"`
	ResultCode  ReasonCode   `json:"result_code,omitempty"`
}

// wire is p as written.
func (p *Plan) wire() *wirePlan {
	w := &wirePlan{planFields: planFields(*p), Repositories: make([]wireRepo, len(p.Repositories))}
	w.planFields.Repositories = nil
	for i := range p.Repositories {
		r := &p.Repositories[i]
		wr := &w.Repositories[i]
		wr.repoFields = repoFields(*r)
		wr.repoFields.Items = nil
		if r.Err != nil {
			wr.Error, wr.ErrorCode = r.Err.Error(), CodeOf(r.Err)
		}
		wr.Items = make([]wireItem, len(r.Items))
		for j := range r.Items {
			it := &r.Items[j]
			wi := &wr.Items[j]
			wi.itemFields = itemFields(*it)
			if len(it.Reasons) > 0 {
				wi.ReasonCodes = Codes(it.Reasons)
			}
			wi.ResultCode = it.ResultReason.Code
		}
	}
	return w
}

// plan is the plan w holds: the codes read back next to their texts, a
// failure as an error with its code.
func (w *wirePlan) plan() *Plan {
	p := Plan(w.planFields)
	p.Repositories = make([]Repository, len(w.Repositories))
	for i := range w.Repositories {
		wr := &w.Repositories[i]
		r := Repository(wr.repoFields)
		if wr.Error != "" || wr.ErrorCode != "" {
			if wr.ErrorCode == "" && r.Refused { // a version 1 file
				wr.ErrorCode = ErrorRefusedEmpty
			}
			r.Err = &loadedError{code: wr.ErrorCode, text: wr.Error}
		}
		r.Items = make([]Item, len(wr.Items))
		for j := range wr.Items {
			wi := &wr.Items[j]
			it := Item(wi.itemFields)
			if len(wi.ReasonCodes) == len(it.Reasons) {
				for k := range it.Reasons {
					it.Reasons[k].Code = wi.ReasonCodes[k]
				}
			}
			it.ResultReason.Code = wi.ResultCode
			r.Items[j] = it
		}
		p.Repositories[i] = r
	}
	return &p
}

// MarshalJSON writes p as a plan file (Render writes p.wire() itself).
func (p Plan) MarshalJSON() ([]byte, error) { return json.Marshal(p.wire()) }

// UnmarshalJSON reads a plan file without checking it (Load checks).
func (p *Plan) UnmarshalJSON(b []byte) error {
	var w wirePlan
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = *w.plan()
	return nil
}

// MarshalText writes r as its text: a plan file's "reasons" and
// "result_reason" stay strings.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads a reason's text from a plan file.
func (r *Reason) UnmarshalText(b []byte) error {
	*r = Reason{loaded: string(b)}
	return nil
}
