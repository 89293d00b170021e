package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/testnet"
)

// An unreachable host fails the run (exit 1) and the output names the
// cause. That it fails after one retry of the dial, not the whole retry
// budget, is TestRefusedConnectionRetriedOnce in internal/registry.
func TestUnreachableHostNamesTheCause(t *testing.T) {
	addr := testnet.RefusedAddr(t) // connections are refused there

	var out bytes.Buffer
	err := cli.Run(context.Background(), []string{"plan", addr + "/ci/app", "--keep-tag", "latest", "--no-cache"},
		cli.Env{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }})
	if code := cli.ExitCode(err); code != cli.ExitFailure {
		t.Fatalf("exit %d (%v), want %d", code, err, cli.ExitFailure)
	}
	// The operating system's words for the cause, as the user reads them.
	if !strings.Contains(out.String(), "connection refused") {
		t.Errorf("output does not name the cause:\n%s", out.String())
	}
}
