package plan

// The JSON form of a plan: reasons and errors are written as their text,
// as before, with their codes next to them ("reason_codes",
// "result_code", "error_code"), so that a script can match codes and a
// person reads the text. The wire types below add those keys to the
// plan's own types in one encoding pass (no marshaler re-encodes a whole
// repository), so a plan of 100,000 images renders as fast as before.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// The plan's types without their methods, embedded in the wire types.
type (
	planFields Plan
	repoFields RepoPlan
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

// WriteJSON writes p in the plan-file format (what Load reads): as
// json.Encoder with a two-space indent writes p.wire(), byte for byte, but a repository and an image at a time: the
// whole document is never held in memory (at 100,000 images the encoder's
// buffer and the wire copy were two thirds of apply's peak heap).
func WriteJSON(w io.Writer, p *Plan) error {
	bw := bufio.NewWriter(w)
	top := wirePlan{planFields: planFields(*p)}
	top.planFields.Repositories = nil
	head, err := indented(top, "")
	if err != nil {
		return err
	}
	before, after, err := splitAt(head, `"repositories": null`)
	if err != nil {
		return err
	}
	bw.Write(before)
	err = writeArray(bw, len(p.Repositories), "", func(i int) error { return writeRepo(bw, &p.Repositories[i]) })
	if err != nil {
		return err
	}
	bw.Write(after)
	bw.WriteString("\n")
	return bw.Flush()
}

// writeRepo writes one repository of renderJSON, its images one at a time.
func writeRepo(bw *bufio.Writer, r *RepoPlan) error {
	const prefix = "    "
	head, err := indented(wireRepoOf(r), prefix)
	if err != nil {
		return err
	}
	before, after, err := splitAt(head, `"images": null`)
	if err != nil {
		return err
	}
	bw.WriteString(prefix)
	bw.Write(before)
	err = writeArray(bw, len(r.Items), prefix, func(j int) error {
		b, err := indented(wireItemOf(&r.Items[j]), prefix+"    ")
		bw.WriteString(prefix + "    ")
		bw.Write(b)
		return err
	})
	bw.Write(after)
	return err
}

// writeArray writes an array of n elements, each written by elem, as
// json.Encoder indents an array that is a field of an object whose
// fields are indented by prefix+"  ".
func writeArray(bw *bufio.Writer, n int, prefix string, elem func(i int) error) error {
	if n == 0 {
		bw.WriteString("[]")
		return nil
	}
	bw.WriteString("[\n")
	for i := range n {
		if i > 0 {
			bw.WriteString(",\n")
		}
		if err := elem(i); err != nil {
			return err
		}
	}
	bw.WriteString("\n" + prefix + "  ]")
	return nil
}

// indented is v as json.Encoder writes it with prefix and a two-space
// indent, HTML left unescaped, without the final newline.
func indented(v any, prefix string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent(prefix, "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// splitAt splits b around the value of key, written as null: what comes
// before the value and what comes after it. A key's quotes are never
// unescaped inside a JSON string, so the first match is the key itself.
func splitAt(b []byte, keyNull string) ([]byte, []byte, error) {
	i := bytes.Index(b, []byte(keyNull))
	if i < 0 {
		return nil, nil, fmt.Errorf("plan: rendering JSON: no %s", keyNull)
	}
	cut := i + len(keyNull) - len("null")
	return b[:cut], b[i+len(keyNull):], nil
}

// wireRepoOf is r as written, without its images.
func wireRepoOf(r *RepoPlan) wireRepo {
	wr := wireRepo{repoFields: repoFields(*r)}
	wr.repoFields.Items = nil
	if r.Err != nil {
		wr.Error, wr.ErrorCode = r.Err.Error(), CodeOf(r.Err)
	}
	return wr
}

// wireItemOf is it as written.
func wireItemOf(it *Item) wireItem {
	wi := wireItem{itemFields: itemFields(*it)}
	if len(it.Reasons) > 0 {
		wi.ReasonCodes = Codes(it.Reasons)
	}
	wi.ResultCode = it.ResultReason.Code
	return wi
}

// wire is p as written.
func (p *Plan) wire() *wirePlan {
	w := &wirePlan{planFields: planFields(*p), Repositories: make([]wireRepo, len(p.Repositories))}
	w.planFields.Repositories = nil
	for i := range p.Repositories {
		r := &p.Repositories[i]
		wr := wireRepoOf(r)
		wr.Items = make([]wireItem, len(r.Items))
		for j := range r.Items {
			wr.Items[j] = wireItemOf(&r.Items[j])
		}
		w.Repositories[i] = wr
	}
	return w
}

// plan is the plan w holds: the codes read back next to their texts, a
// failure as an error with its code.
func (w *wirePlan) plan() *Plan {
	p := Plan(w.planFields)
	p.Repositories = make([]RepoPlan, len(w.Repositories))
	for i := range w.Repositories {
		wr := &w.Repositories[i]
		r := RepoPlan(wr.repoFields)
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
