// Command regprune keeps container registries lean without deleting what
// is still needed. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/engine"
)

// Exit codes: 0 done; 1 a runtime failure; 2 bad input, reported before
// any request; 3 finished, but some repositories or deletions failed.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], cli.Env{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(os.Stderr, "regprune:", err)
	switch {
	case errors.Is(err, cli.ErrUsage):
		return 2
	case errors.Is(err, engine.ErrPartial):
		return 3
	}
	return 1
}
