//go:build unix

package cli

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// A FIFO where the metrics file goes is neither read (opening it to read
// would wait for a writer: the run hung past --timeout) nor replaced.
func TestMetricsFileFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "regprune.prom")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		if v := previousSuccess(fifo, "apply"); v != 0 {
			t.Errorf("previousSuccess(FIFO) = %v", v)
		}
		done <- writeMetrics(fifo, &plan.Plan{Mode: plan.ModePlan}, registry.StatsSnapshot{}, time.Second, false, time.Now())
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("writeMetrics replaced a FIFO")
		}
	case <-time.After(time.Minute): // a hang, not a timing
		t.Fatal("the metrics file's FIFO blocked")
	}
	if err := checkOutput("--metrics-file", fifo); err == nil {
		t.Error("checkOutput accepted a FIFO")
	}
}
