package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/regprune/regprune/internal/digest"
)

// ErrBadPlan is wrapped by every error of Load.
var ErrBadPlan = errors.New("invalid plan file")

// Load reads a plan written by "regprune plan -o json" and validates it.
// Results of an earlier apply are cleared: apply re-checks everything.
func Load(r io.Reader, name string) (*Plan, error) { return load(r, name, MaxFileSize) }

// load is Load with the bound of the file, in bytes (whole MiB), as a
// parameter: a test proves the bound with a small one rather than by
// reading 256 MiB.
func load(r io.Reader, name string, max int64) (*Plan, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrBadPlan, name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%w %s: larger than %d MiB, the bound of a plan file", ErrBadPlan, name, max>>20)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %s: %s", ErrBadPlan, name, fmt.Sprintf(format, a...))
	}
	// A JSON file of another kind fails the strict decode below on its
	// first unknown field; say what it is not instead.
	var head struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(data, &head) == nil && head.Kind != FormatKind {
		return nil, bad("kind %q: not a regprune plan (want %q)", head.Kind, FormatKind)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w wirePlan
	if err := dec.Decode(&w); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			// Offset counts the offending byte itself.
			line, col := position(data, se.Offset-1)
			return nil, bad("line %d, column %d: %v", line, col, err)
		}
		return nil, bad("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("data after the plan's closing brace")
	}
	p := *w.plan()
	if p.Kind != FormatKind {
		return nil, bad("kind %q: not a regprune plan (want %q)", p.Kind, FormatKind)
	}
	if p.Version < minFormatVersion || p.Version > FormatVersion {
		return nil, bad("version %d: this regprune reads plan formats %d to %d", p.Version, minFormatVersion, FormatVersion)
	}
	repoAt := map[string]int{}
	for ri := range p.Repositories {
		r := &p.Repositories[ri]
		if r.Name == "" {
			return nil, bad("repositories[%d]: no repository name", ri)
		}
		if first, ok := repoAt[r.Name]; ok {
			return nil, bad("repository %s listed twice (repositories[%d] and [%d]): a plan names each repository once", r.Name, first, ri)
		}
		repoAt[r.Name] = ri
		for t, d := range r.Tags {
			if !digest.ValidTag(t) || !digest.Digest(d).Valid() {
				return nil, bad("%s: tag %q -> %q is not a tag and a digest", r.Name, t, d)
			}
		}
		for i := range r.Items {
			it := &r.Items[i]
			if problem := checkItem(it); problem != "" {
				return nil, bad("%s images[%d]: %s", r.Name, i, problem)
			}
			it.Result, it.ResultReason = "", Reason{}
			followAction(it)
		}
		if err := consistent(r); err != "" {
			return nil, bad("%s: %s", r.Name, err)
		}
		r.recount()
	}
	p.Recount()
	return &p, nil
}

// checkItem says what in it is not valid, "" if nothing: a digest or tag
// outside the grammar (internal/digest), an unknown action or kind, an
// untag that is not one of its tags, a negative size.
func checkItem(it *Item) string {
	if !digest.Digest(it.Digest).Valid() {
		return fmt.Sprintf("digest %q is not a sha256 or sha512 digest", it.Digest)
	}
	switch it.Action {
	case ActionKeep, ActionDelete:
	default:
		return fmt.Sprintf("action %q: want keep or delete", it.Action)
	}
	switch it.Kind {
	case KindImage, KindChild, KindReferrer, KindSignature:
	default:
		return fmt.Sprintf("kind %q: want image, child, referrer or signature", it.Kind)
	}
	for _, ref := range []string{it.Parent, it.Subject} {
		if ref != "" && !digest.Digest(ref).Valid() {
			return fmt.Sprintf("%q is not a digest", ref)
		}
	}
	tags := map[string]bool{}
	for _, t := range it.Tags {
		if !digest.ValidTag(t) {
			return fmt.Sprintf("tag %q is not a valid tag", t)
		}
		tags[t] = true
	}
	for _, t := range it.Untag {
		if !tags[t] {
			return fmt.Sprintf("untag %q is not one of the item's tags", t)
		}
	}
	if len(it.Untag) > 0 && it.Action != ActionKeep {
		return "untag goes with action keep"
	}
	if it.Size < 0 {
		return fmt.Sprintf("size %d is negative", it.Size)
	}
	return ""
}

// consistent says what in r's items contradicts itself, "" if nothing: a
// digest listed twice, a tag on two items or on another digest than the
// repository's tags say, a deletion whose parent or subject the plan keeps.
// regprune never writes such a plan, and apply could not honour both
// sides of it: a kept image listed again for deletion lost its tags in
// apply's final guard (issue 19), so Load refuses the file.
func consistent(r *RepoPlan) string {
	at := make(map[string]int, len(r.Items))
	for i := range r.Items {
		d := r.Items[i].Digest
		if j, ok := at[d]; ok {
			return fmt.Sprintf("digest %s listed twice (images[%d] and images[%d]): a plan lists each manifest once", d, j, i)
		}
		at[d] = i
	}
	tagAt := map[string]int{}
	for i := range r.Items {
		it := &r.Items[i]
		for _, t := range it.Tags {
			if j, ok := tagAt[t]; ok {
				if j == i {
					return fmt.Sprintf("images[%d] (%s): tag %q listed twice", i, it.Digest, t)
				}
				return fmt.Sprintf("tag %q on two manifests, images[%d] (%s) and images[%d] (%s): a tag names one digest", t, j, r.Items[j].Digest, i, it.Digest)
			}
			tagAt[t] = i
			if d, ok := r.Tags[t]; ok && d != it.Digest {
				return fmt.Sprintf("images[%d]: tag %q on %s, but the repository's tags have it on %s", i, t, it.Digest, d)
			}
		}
	}
	for i := range r.Items {
		it := &r.Items[i]
		if it.Action != ActionDelete {
			continue
		}
		for _, rel := range []struct{ what, d string }{{"parent", it.Parent}, {"subject", it.Subject}} {
			if j, ok := at[rel.d]; ok && rel.d != "" && r.Items[j].Action == ActionKeep {
				return fmt.Sprintf("images[%d] deletes %s, but its %s %s is kept (images[%d]): what a kept manifest lists or refers to is kept", i, it.Digest, rel.what, rel.d, j)
			}
		}
	}
	return ""
}

func position(data []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}
