// Command regprune-demo runs regprune's main job end to end on an
// in-process CNCF distribution registry seeded like CI (see package
// internal/demo), or with --serve keeps such a registry up to try regprune
// on. It is separate from cmd/regprune so that the product binary does not
// carry the distribution server. The command itself is demo.Main.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/regprune/regprune/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := demo.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
