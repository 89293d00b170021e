package cli_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/engine"
)

func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, cli.ExitOK},
		{"usage", cli.ErrUsage, cli.ExitUsage},
		{"wrapped usage", fmt.Errorf("%w: -o %q", cli.ErrUsage, "yaml"), cli.ExitUsage},
		{"partial", fmt.Errorf("%w: 1 of 2 repositories failed", engine.ErrPartial), cli.ExitPartial},
		{"nothing", fmt.Errorf("%w: 1 of 1 repositories failed", engine.ErrNothing), cli.ExitFailure},
		{"interrupted", fmt.Errorf("interrupted: %w", context.Canceled), cli.ExitFailure},
		{"runtime", errors.New("connection refused"), cli.ExitFailure},
		// Bad input wins: it is reported before anything ran.
		{"usage and partial", errors.Join(engine.ErrPartial, cli.ErrUsage), cli.ExitUsage},
	} {
		if got := cli.ExitCode(c.err); got != c.want {
			t.Errorf("%s: ExitCode(%v) = %d, want %d", c.name, c.err, got, c.want)
		}
	}
}

// Run's own errors map to the documented codes without a registry.
func TestRunExitCodes(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"version"}, cli.ExitOK},
		{[]string{"frobnicate"}, cli.ExitUsage},
		{[]string{"version", "extra"}, cli.ExitUsage},
		{[]string{"plan", "--no-such-flag"}, cli.ExitUsage},
		{[]string{"plan", "127.0.0.1:1/app"}, cli.ExitUsage},
		{[]string{"validate"}, cli.ExitUsage},
	} {
		err := cli.Run(context.Background(), c.args, cli.Env{Stdout: io.Discard, Stderr: io.Discard})
		if got := cli.ExitCode(err); got != c.want {
			t.Errorf("regprune %q: exit %d (%v), want %d", c.args, got, err, c.want)
		}
	}
}
