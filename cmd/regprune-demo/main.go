// Command regprune-demo runs regprune's main job end to end on an
// in-process CNCF distribution registry seeded like CI (see package
// internal/demo), or with --serve keeps such a registry up to try regprune
// on. It is separate from cmd/regprune so that the product binary does not
// carry the distribution server.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the demo with args and returns the exit code: 0 done, 1 a
// failure, 2 bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newDemoCmd(stdout, stderr, time.Now)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "regprune-demo:", err)
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}
