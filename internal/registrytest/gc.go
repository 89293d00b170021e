package registrytest

import (
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"testing"
)

// testGCPercent is the garbage collector's target in a test process that
// runs a registry, unless GOGC is set. The in-process registry allocates
// a 4 MiB read buffer for every blob it serves and much else per request;
// at Go's default of 100 the collector then takes about a third of the
// CPU of the integration tests. At 400 a test process peaks near 200 MB.
const testGCPercent = 400

var tuneGCOnce sync.Once

// tuneGC sets testGCPercent once per test process (New, Start and
// NewDist2 call it), and GOGC for the processes the test starts after it
// (distribution 2.8.2, the CLI tests' re-executed binary). It changes how
// often the collector runs, nothing a test observes. Outside a test
// binary (the benchmark, which measures the regprune it starts, time and
// peak memory) it does nothing.
func tuneGC() {
	tuneGCOnce.Do(func() {
		if testing.Testing() && os.Getenv("GOGC") == "" {
			debug.SetGCPercent(testGCPercent)
			_ = os.Setenv("GOGC", strconv.Itoa(testGCPercent))
		}
	})
}
