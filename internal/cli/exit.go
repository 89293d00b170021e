package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/regprune/regprune/internal/engine"
)

// Exit codes of regprune.
const (
	ExitOK      = 0 // done
	ExitFailure = 1 // a runtime failure, or nothing could be done
	ExitUsage   = 2 // bad input (ErrUsage), reported before any request
	ExitPartial = 3 // finished, but some repositories or deletions failed (engine.ErrPartial)
	// ExitInterrupted is SIGINT's 128+2 (SIGTERM gives 143).
	ExitInterrupted = 130
)

// ExitCode maps the error Run returned to regprune's exit code. It prints
// nothing; the caller reports err.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrInterrupted):
		return interruptedCode(err)
	case errors.Is(err, ErrUsage):
		return ExitUsage
	case errors.Is(err, engine.ErrPartial):
		return ExitPartial
	}
	return ExitFailure
}

// usageArgs makes cobra's argument errors of c and its subcommands (an
// unknown command, arguments to a command that takes none) usage errors:
// cobra returns them as plain errors, which would exit 1.
func usageArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usagef("%v%s", err, suggestCommand(cmd, args))
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}
