package config

import (
	"sort"
	"strconv"
	"strings"
)

// maxErrors bounds the errors one policy file reports.
const maxErrors = 50

// ErrorList is several FieldErrors of one policy file, in file order.
// errors.Is(err, ErrInvalid) holds, and errors.As finds the first
// *FieldError.
type ErrorList []*FieldError

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the errors.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// joinErrors returns the one error, or an ErrorList of all of them sorted
// by position (errors without a position, of whole rules, keep their place
// after the positioned ones of the same line).
func joinErrors(errs []*FieldError) error {
	// One bad value reached through an alias is reported once.
	var l ErrorList
	seen := map[string]bool{}
	for _, e := range errs {
		if k := e.Error(); !seen[k] {
			seen[k] = true
			l = append(l, e)
		}
	}
	if len(l) == 1 {
		return l[0]
	}
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Line != l[j].Line {
			return l[i].Line < l[j].Line
		}
		return l[i].Col < l[j].Col
	})
	if len(l) > maxErrors {
		more := len(l) - maxErrors
		l = append(l[:maxErrors:maxErrors], &FieldError{Source: l[0].Source, Problem: "and " + strconv.Itoa(more) + " more errors"})
	}
	return l
}

// underAny reports whether field is, contains or is inside the field of
// one of errs ("keep.regex" and "keep"; "" and "rules" are the whole
// rule).
func underAny(field string, errs []*FieldError) bool {
	for _, e := range errs {
		if e.Field == "" || e.Field == "rules" || e.Field == field || strings.HasPrefix(field, e.Field+".") || strings.HasPrefix(e.Field, field+".") {
			return true
		}
	}
	return false
}
