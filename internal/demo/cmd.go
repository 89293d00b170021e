package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
)

// errUsage marks bad flags: exit 2.
var errUsage = errors.New("bad input")

func usagef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

func newDemoCmd(stdout, stderr io.Writer, now func() time.Time) *cobra.Command {
	var (
		builds, concurrency, verbose int
		serve                        bool
	)
	cmd := &cobra.Command{
		Use:   "regprune-demo",
		Short: "Run plan, apply and the registry's GC on an in-process registry seeded like CI",
		Long: `regprune-demo starts CNCF distribution v3 in-process on 127.0.0.1, seeds it
with CI builds (job-id tags plus 'latest', multi-arch images with cosign
signatures, a release tag sharing a build's digest), shows the plan,
applies it, runs the registry's garbage collector and prints the bytes
actually freed next to the plan's estimate. Nothing leaves this machine.

With --serve it seeds the same registry, prints its repositories and a
regprune command to try, and serves until interrupted (Ctrl-C).

The demo is its own command so that the product binary, regprune, does
not carry the distribution server.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.NoArgs(cmd, args); err != nil {
				return usagef("%v", err)
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if builds < 2 || builds > 500 {
				return usagef("--builds %d: want 2 to 500", builds)
			}
			if concurrency < 1 || concurrency > 256 {
				return usagef("--concurrency %d: want 1 to 256", concurrency)
			}
			o := Options{
				Out: stdout, Builds: builds, Concurrency: concurrency,
				Logger: logger(stderr, verbose), Now: now(),
			}
			if serve {
				return Serve(cmd.Context(), ServeOptions{Options: o})
			}
			return Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&builds, "builds", 8, "CI builds to seed per repository")
	f.IntVar(&concurrency, "concurrency", 8, "requests in flight (1-256)")
	f.CountVarP(&verbose, "verbose", "v", "log regprune's progress to stderr (-v info, -vv debug)")
	f.BoolVar(&serve, "serve", false, "seed the registry, print what to try, and serve until Ctrl-C")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })
	return cmd
}

func logger(w io.Writer, verbose int) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case verbose == 1:
		level = slog.LevelInfo
	case verbose > 1:
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// Main is the command regprune-demo (cmd/regprune-demo is main calling
// it, so that its tests need no test binary of their own; they are in
// internal/cli's, demo_test.go): it executes the demo with args and
// returns the exit code: 0 done, 1 a failure, 2 bad flags.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
