package main

import (
	"os"
	"testing"
)

// runMainEnv makes the test binary run main() instead of the tests, so
// that tests can start the real main (supervisor, child and exit codes)
// without building a binary: a `go build` is a full link on every run.
// The supervised child inherits the variable and runs main() too.
const runMainEnv = "REGPRUNE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}
