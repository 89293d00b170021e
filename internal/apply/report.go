package apply

// What an item's result says: set, and the reasons for refusals and
// failures.

import (
	"errors"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// set records the result of it and why.
func set(it *plan.Item, result, reason string) { it.Result, it.ResultReason = result, reason }

// refusedReason explains a delete refused for good.
func refusedReason(err error) string {
	if deniedDelete(err) {
		return "the registry denied the delete (" + err.Error() + "); the credentials need the delete permission on this repository"
	}
	return "the registry refuses deletes (" + err.Error() + "); " + fixFor(err)
}

// refusedError marks an item not attempted because an earlier delete in
// the repository was refused for good.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// failOrSkip records err on it: an item not attempted after an earlier
// refusal is skipped, the refused one itself failed.
func failOrSkip(it *plan.Item, err error) {
	var re *refusedError
	switch {
	case errors.As(err, &re):
		set(it, plan.ResultSkipped, "not attempted: an earlier delete was refused: "+refusedReason(re.err))
	case deniedDelete(err) || errors.Is(err, registry.ErrUnsupported):
		set(it, plan.ResultFailed, refusedReason(err))
	default:
		set(it, plan.ResultFailed, err.Error())
	}
}
