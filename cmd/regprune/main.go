// Command regprune keeps container registries lean without deleting what
// is still needed. See README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/regprune/regprune/internal/cli"
)

// Exit codes: 0 done; 1 a runtime failure; 2 bad input, reported before
// any request; 3 finished, but some repositories or deletions failed
// (see cli.ExitCode).
func main() {
	if code, ok := supervise(); ok {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "regprune:", err)
	}
	code := cli.ExitCode(err)
	if code == cli.ExitUsage {
		markUsage()
	}
	os.Exit(code)
}
