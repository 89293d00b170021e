package main

import (
	"os"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/safe"
)

// runMainEnv makes the test binary run main() instead of the tests, so
// that tests can start the real main (signals, exit codes) without
// building a binary: a `go build` is a full link on every run.
const runMainEnv = "REGPRUNE_TEST_RUN_MAIN"

// panicEnv, with runMainEnv, makes a goroutine of regprune panic: "func"
// every one an errgroup runs (through safe.Func); any other value, a
// goroutine started with safe.Go by code whose package path contains it
// (e.g. "internal/engine."). The product binary has no such switch.
const panicEnv = "REGPRUNE_TEST_PANIC"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		if where := os.Getenv(panicEnv); where != "" {
			safe.SetTestHook(func(kind, caller string) {
				if kind == "func" && where == "func" ||
					kind == "go" && strings.Contains(caller, "github.com/regprune/regprune/"+where) {
					panic("test panic (" + panicEnv + "=" + where + ")")
				}
			})
		}
		main() // exits
	}
	os.Exit(m.Run())
}
