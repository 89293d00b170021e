package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main is regprune's main: it runs the process's command line and returns
// the exit code (see ExitCode). cmd/regprune calls it, and so do the
// testscript tests, so that they run the real main and not a copy.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], Env{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "regprune:", err)
	}
	return ExitCode(err)
}
