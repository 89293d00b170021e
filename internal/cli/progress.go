package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/safe"
)

// progress draws the run on stderr (only on a terminal, never with
// --quiet): repositories done with rate and ETA, and the registry
// client's request counters, polled, so the pipeline itself knows nothing
// of it.
type progress struct {
	w     io.Writer
	stats *registry.Stats
	start time.Time

	mu    sync.Mutex
	p     *mpb.Progress
	bar   *mpb.Bar
	tick  *time.Ticker
	quit  chan struct{}
	final func() int64 // the last count of the running bar
	wg    sync.WaitGroup
}

func newProgress(w io.Writer, stats *registry.Stats) *progress {
	return &progress{w: w, stats: stats, start: time.Now()}
}

// counters renders the request counters since the run started.
func (pr *progress) counters() string {
	s := pr.stats.Snapshot()
	rate := float64(s.Requests) / max(time.Since(pr.start).Seconds(), 0.001)
	return fmt.Sprintf("tag pages %d · manifests %d · configs %d · deleted %d · %.0f req/s",
		s.TagList, s.Head+s.ManifestGet, s.BlobGet, s.Delete, rate)
}

// oneRepo is the progress of a run over one repository: manifests read
// and deletions done in it.
func (pr *progress) oneRepo() string {
	s := pr.stats.Snapshot()
	rate := float64(s.Requests) / max(time.Since(pr.start).Seconds(), 0.001)
	return fmt.Sprintf("1 repository: %d manifests read, %d deleted · %.0f req/s", s.Head+s.ManifestGet, s.Delete, rate)
}

func (pr *progress) container() *mpb.Progress {
	if pr.p == nil {
		pr.p = mpb.New(mpb.WithOutput(pr.w), mpb.WithAutoRefresh(), mpb.WithWidth(24), mpb.WithRefreshRate(150*time.Millisecond))
	}
	return pr.p
}

// planning starts the repositories bar.
func (pr *progress) planning(n int) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.bar != nil || n <= 0 {
		return
	}
	if n == 1 {
		// One repository: a 0/1 bar says nothing until the end, so the
		// line counts what is done in it instead.
		pr.bar = pr.container().AddBar(1,
			mpb.PrependDecorators(decor.Name("plan  "), decor.Any(func(decor.Statistics) string { return pr.oneRepo() })),
		)
		return
	}
	pr.bar = pr.container().AddBar(int64(n),
		mpb.PrependDecorators(decor.Name("plan  "), decor.CountersNoUnit("%d/%d repositories", decor.WCSyncSpace)),
		mpb.AppendDecorators(pr.eta(), decor.Any(func(decor.Statistics) string { return "  " + pr.counters() })),
	)
}

// eta estimates the time left from the average so far, and shows nothing
// before the first unit is done (an ETA of 0s would mislead).
func (pr *progress) eta() decor.Decorator {
	start := time.Now()
	return decor.Any(func(s decor.Statistics) string {
		if s.Current <= 0 || s.Completed || s.Total <= 0 {
			return ""
		}
		left := time.Duration(float64(time.Since(start)) * float64(s.Total-s.Current) / float64(s.Current))
		return "ETA " + left.Round(time.Second).String()
	}, decor.WCSyncSpace)
}

func (pr *progress) repoDone() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.bar != nil && pr.tick == nil {
		pr.bar.Increment()
	}
}

func (pr *progress) finishPlanning() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.bar != nil {
		pr.bar.SetTotal(-1, true)
		pr.bar = nil
	}
}

// applying starts the deletions bar, fed from the DELETE counter.
func (pr *progress) applying(total int, base int64) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if total <= 0 {
		return
	}
	bar := pr.container().AddBar(int64(total),
		mpb.PrependDecorators(decor.Name("apply "), decor.CountersNoUnit("%d/%d deletions", decor.WCSyncSpace)),
		mpb.AppendDecorators(pr.eta(), decor.Any(func(decor.Statistics) string { return "  " + pr.counters() })),
	)
	pr.bar, pr.tick, pr.quit = bar, time.NewTicker(150*time.Millisecond), make(chan struct{})
	pr.final = func() int64 { return min(pr.stats.Delete.Load()-base, int64(total)) }
	pr.wg.Add(1)
	tick, quit := pr.tick, pr.quit
	safe.Go(func() {
		defer pr.wg.Done()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				n := pr.stats.Delete.Load() - base
				bar.SetCurrent(min(n, int64(total)))
			}
		}
	})
}

// stop removes the display; the report follows on stdout.
func (pr *progress) stop() {
	pr.mu.Lock()
	if pr.tick != nil {
		pr.tick.Stop()
		close(pr.quit)
		pr.tick = nil
	}
	pr.mu.Unlock()
	pr.wg.Wait()
	pr.mu.Lock()
	if pr.bar != nil && pr.final != nil {
		pr.bar.SetCurrent(pr.final())
	}
	pr.mu.Unlock()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.bar != nil {
		pr.bar.Abort(false)
		pr.bar = nil
	}
	if pr.p != nil {
		pr.p.Wait()
		pr.p = nil
	}
}
