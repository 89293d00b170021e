package engine_test

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// TestMain runs up to 2×GOMAXPROCS parallel tests at once unless
// -test.parallel is given. The integration tests spend much of their time
// waiting for a registry (the distribution 2.8.2 child process, a
// proxy, the loopback network): at the default of GOMAXPROCS the package
// keeps about one core busy.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(2*runtime.GOMAXPROCS(0)))
	}
	os.Exit(m.Run())
}
