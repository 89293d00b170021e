// Command regprune keeps container registries lean without deleting what
// is still needed. See README.md.
package main

import (
	"os"

	"github.com/regprune/regprune/internal/cli"
)

// Exit codes: 0 done; 1 a runtime failure, or a panic ("internal error");
// 2 bad input, reported before any request; 3 finished, but some
// repositories or deletions failed; 130 interrupted by Ctrl-C, 143 by
// SIGTERM (see cli.ExitCode). regprune is one process, so that a signal is
// seen once and killing it stops its work; package safe keeps a panic from
// exiting 2. A Go runtime fatal error (not a panic) still exits 2.
func main() {
	os.Exit(cli.Main())
}
