package apply

// What an item's result says: set, and the reasons for refusals and
// failures.

import (
	"errors"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// set records the result of it and why.
func set(it *plan.Item, result plan.Result, why plan.Reason) {
	it.Result, it.ResultReason = result, why
}

// refusedReason is why a delete was refused for good: denied (401, 403)
// or deletes disabled.
func refusedReason(err error) plan.Reason {
	if deniedDelete(err) {
		return plan.DeleteDenied(err)
	}
	return plan.DeletesDisabled(err)
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
		prior := refusedReason(re.err)
		set(it, plan.ResultSkipped, plan.NotAttempted(re.err, &prior))
	case errors.Is(err, registry.ErrProtected):
		// GitLab keeps a protected or immutable tag: the image stays,
		// and so does what hangs from it (hold); not a failure.
		set(it, plan.ResultSkipped, plan.Protected(err))
	case deniedDelete(err) || errors.Is(err, registry.ErrUnsupported):
		set(it, plan.ResultFailed, refusedReason(err))
	default:
		set(it, plan.ResultFailed, plan.DeleteFailed(err))
	}
}
