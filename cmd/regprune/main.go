// Command regprune keeps container registries lean without deleting what
// is still needed. See README.md.
package main

import (
	"os"

	"github.com/regprune/regprune/internal/cli"
)

// Exit codes: 0 done; 1 a runtime failure; 2 bad input, reported before
// any request; 3 finished, but some repositories or deletions failed;
// 130 interrupted by Ctrl-C (see cli.ExitCode).
func main() {
	if code, ok := supervise(); ok {
		os.Exit(code)
	}
	code := cli.Main()
	if code == cli.ExitUsage {
		markUsage()
	}
	os.Exit(code)
}
