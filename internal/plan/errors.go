package plan

// A repository's failure as a value: Repository.Err holds the error (so
// that errors.Is finds its cause), a code says at which stage it failed,
// and its text is made only at output.

import (
	"errors"
	"fmt"
)

// ErrorCode says at which stage a repository failed, so that nothing in
// it was (or, after it, nothing more was) deleted. It is the JSON
// "error_code" of a repository.
type ErrorCode string

// Error codes.
const (
	ErrorRead         ErrorCode = "read_failed"                // the repository could not be read
	ErrorRefusedEmpty ErrorCode = "refused_empty"              // the plan would delete every image
	ErrorRecheck      ErrorCode = "recheck_failed"             // apply's re-check before deleting failed
	ErrorRecheckTags  ErrorCode = "recheck_failed_after_untag" // the re-check after removing tags failed
	ErrorGuard        ErrorCode = "guard_failed"               // the final guard could not read
	ErrorApply        ErrorCode = "apply_failed"               // apply could not work in the repository
	ErrorJournal      ErrorCode = "journal_failed"             // the journal could not be written
	ErrorOther        ErrorCode = "failed"                     // a failure read from a plan file without a code
)

// ErrRefusedEmpty is the cause of a plan refused because it would delete
// every image of a repository.
var ErrRefusedEmpty = errors.New("refusing to delete every image")

// RepoError is why nothing (more) is deleted in a repository.
type RepoError struct {
	Code ErrorCode
	Err  error
}

// Fail returns err as the failure of a repository at stage code.
func Fail(code ErrorCode, err error) error { return &RepoError{Code: code, Err: err} }

func (e *RepoError) Error() string {
	switch e.Code {
	case ErrorRecheck:
		return "re-check before deleting failed: " + e.Err.Error()
	case ErrorRecheckTags:
		return "re-check after removing tags failed: " + e.Err.Error()
	case ErrorGuard:
		return "final guard before deleting failed: " + e.Err.Error()
	case ErrorJournal:
		return "the journal could not be written, nothing deleted: " + e.Err.Error()
	}
	return e.Err.Error()
}

func (e *RepoError) Unwrap() error { return e.Err }

// CodeOf is the code of a repository's failure; "" for nil.
func CodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	var re *RepoError
	if errors.As(err, &re) {
		return re.Code
	}
	var le *loadedError
	if errors.As(err, &le) && le.code != "" {
		return le.code
	}
	return ErrorOther
}

// loadedError is a failure read from a plan file: its text and code.
type loadedError struct {
	code ErrorCode
	text string
}

func (e *loadedError) Error() string { return e.text }

func (e *loadedError) Is(target error) bool {
	return target == ErrRefusedEmpty && e.code == ErrorRefusedEmpty
}

func refusedEmpty(repo string, images int) error {
	return Fail(ErrorRefusedEmpty, fmt.Errorf("%w of %s (%d images): no rule keeps any; pass --allow-empty (allow_empty: true) if that is what you want", ErrRefusedEmpty, repo, images))
}
