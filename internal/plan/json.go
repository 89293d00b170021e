package plan

// The JSON form of items and repositories: reasons and errors are written
// as their text, as before, with their codes next to them
// ("reason_codes", "result_code", "error_code"), so that a script can
// match codes and a person reads the text.

import (
	"bytes"
	"encoding/json"
)

type itemCodes struct {
	ReasonCodes []ReasonCode `json:"reason_codes,omitempty"`
	ResultCode  ReasonCode   `json:"result_code,omitempty"`
}

// MarshalJSON writes it with its reasons' codes.
func (it Item) MarshalJSON() ([]byte, error) {
	type item Item
	var c itemCodes
	if len(it.Reasons) > 0 {
		c.ReasonCodes = Codes(it.Reasons)
	}
	c.ResultCode = it.ResultReason.Code
	return marshal(struct {
		item
		itemCodes
	}{item(it), c})
}

// UnmarshalJSON reads an item of a plan file, unknown fields refused.
func (it *Item) UnmarshalJSON(b []byte) error {
	type item Item
	var v struct {
		item
		itemCodes
	}
	if err := strictDecode(b, &v); err != nil {
		return err
	}
	*it = Item(v.item)
	if len(v.ReasonCodes) == len(it.Reasons) {
		for i := range it.Reasons {
			it.Reasons[i].Code = v.ReasonCodes[i]
		}
	}
	it.ResultReason.Code = v.ResultCode
	return nil
}

type repoError struct {
	Error     string    `json:"error,omitempty"`
	ErrorCode ErrorCode `json:"error_code,omitempty"`
}

// MarshalJSON writes r with its failure's text and code.
func (r Repository) MarshalJSON() ([]byte, error) {
	type repo Repository
	var e repoError
	if r.Err != nil {
		e = repoError{Error: r.Err.Error(), ErrorCode: CodeOf(r.Err)}
	}
	return marshal(struct {
		repo
		repoError
	}{repo(r), e})
}

// UnmarshalJSON reads a repository of a plan file, unknown fields refused.
func (r *Repository) UnmarshalJSON(b []byte) error {
	type repo Repository
	var v struct {
		repo
		repoError
	}
	if err := strictDecode(b, &v); err != nil {
		return err
	}
	*r = Repository(v.repo)
	if v.Error != "" || v.ErrorCode != "" {
		if v.ErrorCode == "" && r.Refused { // a version 1 file
			v.ErrorCode = ErrorRefusedEmpty
		}
		r.Err = &loadedError{code: v.ErrorCode, text: v.Error}
	}
	return nil
}

// marshal is json.Marshal without HTML escaping: the encoder of Render
// does not escape, and it keeps a marshaler's "\u003c" as it is.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
