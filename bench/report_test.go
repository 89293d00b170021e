package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func walls(ms ...int) series {
	s := make(series, len(ms))
	for i, m := range ms {
		s[i] = measure{wall: time.Duration(m) * time.Millisecond}
		s[i].counts.Total = m // tells which run the median is
	}
	return s
}

// The tables give the median of the runs with its range; of an even
// number, the lower middle run, a run that happened.
func TestSeriesMedianAndRange(t *testing.T) {
	s := walls(500, 100, 300, 400, 200)
	if got := s.median().counts.Total; got != 300 {
		t.Errorf("median of 5: run %d, want 300", got)
	}
	if s.min() != 100*time.Millisecond || s.max() != 500*time.Millisecond {
		t.Errorf("range %s–%s, want 100ms–500ms", s.min(), s.max())
	}
	if got, want := s.walls(), "300 ms (100 ms–500 ms)"; got != want {
		t.Errorf("walls %q, want %q", got, want)
	}
	if got := walls(400, 100, 300, 200).median().counts.Total; got != 200 {
		t.Errorf("median of 4: run %d, want the lower middle one, 200", got)
	}
	if got := walls(700).walls(); got != "700 ms" {
		t.Errorf("one run: %q", got)
	}
	if (series{}).median().wall != 0 {
		t.Error("no run: a median")
	}
	// Ratios: of the medians, then the range of the runs' own ratios.
	a, b := walls(300, 200, 400), walls(200, 200, 200)
	if got, want := ratios(a, b), "1.50x (runs 1.00–2.00x)"; got != want {
		t.Errorf("ratios %q, want %q", got, want)
	}
}

// The expected count of a cold apply is the one TestColdApplyRequests
// (internal/engine) pins at 20 builds, 5N+8 with one tag list page, and
// 5N+10 at N=1000 (two pages); the ideal client's 3N+1 there.
func TestExpectedRequests(t *testing.T) {
	for _, c := range []struct{ n, apply, ideal int }{
		{20, 5*20 + 8, 3*20 - 1 + 1},
		{1000, 5010, 3001},
		{1500, 5*1500 + 10, 3*1500 - 1 + 2},
	} {
		if got := applyRequests(c.n); got != c.apply {
			t.Errorf("applyRequests(%d) = %d, want %d", c.n, got, c.apply)
		}
		if got := idealRequests(c.n); got != c.ideal {
			t.Errorf("idealRequests(%d) = %d, want %d", c.n, got, c.ideal)
		}
	}
}

// The work directory is on the user's cache directory by default, not
// os.TempDir(); -tmpfs puts it on /dev/shm, -work-dir where it says.
func TestWorkBase(t *testing.T) {
	cacheHome := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheHome)
	got, err := workBase(&config{})
	if err != nil || got != filepath.Join(cacheHome, "regprune-bench") {
		t.Errorf("default: %q %v, want %s/regprune-bench", got, err, cacheHome)
	}
	dir := filepath.Join(t.TempDir(), "w")
	if got, err := workBase(&config{workDir: dir}); err != nil || got != dir {
		t.Errorf("-work-dir: %q %v", got, err)
	}
	if fsType("/dev/shm") != "tmpfs" {
		t.Skip("/dev/shm is not tmpfs here")
	}
	if got, err := workBase(&config{tmpfs: true}); err != nil || got != "/dev/shm" {
		t.Errorf("-tmpfs: %q %v", got, err)
	}
	if d := describeFS("/dev/shm"); !strings.HasPrefix(d, "tmpfs ") || !strings.HasSuffix(d, "in memory") {
		t.Errorf("describeFS(/dev/shm) = %q", d)
	}
}
