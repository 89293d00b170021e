//go:build unix

package journal_test

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/journal"
)

// BenchmarkJournalApply writes the journal the way apply does for 2,000
// deleted CI images: the entries of each phase (the tags, then the
// manifests) announced in chunks of 16, 32, ... 512 (RecordAll), eight
// workers sending the DELETEs (500 µs each, a stand-in) once their chunk
// is on disk and queueing each result (FinishAsync), then Flush. It
// reports the process's CPU time (user+system) per deletion, which is
// the journal's: run it with
//
//	go test -run '^$' -bench JournalApply -count 3 ./internal/journal/
func BenchmarkJournalApply(b *testing.B) {
	ctx := context.Background()
	const n = 2000
	const workers = 8
	const repo = "registry.example.com/group/app"
	for b.Loop() {
		b.StopTimer()
		j, err := journal.Open(ctx, filepath.Join(b.TempDir(), "journal.db"), journal.Options{})
		if err != nil {
			b.Fatal(err)
		}
		run := journal.NewRunID(t0)
		if err := j.BeginRun(ctx, run, "apply", t0); err != nil {
			b.Fatal(err)
		}
		es := make([]journal.Entry, n)
		tags := make([]journal.Entry, n)
		for i := range es {
			es[i] = entry(run, repo, i)
			tag := strconv.Itoa(10000 + i)
			tags[i] = journal.Entry{RunID: run, Repository: repo, Kind: journal.KindTag, Tag: tag, Digest: es[i].Digest,
				Tags: []string{tag}, ItemKind: "image", Reason: es[i].Reason, Manifest: es[i].Manifest}
		}
		cpu0 := cpuTime(b)
		b.StartTimer()
		for _, phase := range [][]journal.Entry{tags, es} {
			ids := make([]int64, n)
			ready := make([]chan struct{}, n)
			var chunks [][2]int
			for lo, size := 0, 16; lo < n; lo, size = lo+size, min(2*size, 512) {
				hi := min(lo+size, n)
				c := make(chan struct{})
				for i := lo; i < hi; i++ {
					ready[i] = c
				}
				chunks = append(chunks, [2]int{lo, hi})
			}
			go func() {
				for _, c := range chunks {
					got, err := j.RecordAll(ctx, phase[c[0]:c[1]])
					if err != nil {
						panic(err)
					}
					copy(ids[c[0]:], got)
					close(ready[c[0]])
				}
			}()
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := w; i < n; i += workers {
						<-ready[i]
						time.Sleep(500 * time.Microsecond) // the DELETE
						j.FinishAsync(ids[i], journal.ResultDeleted, "")
					}
				})
			}
			wg.Wait()
		}
		if err := j.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/n, "cpu-µs/deletion")
		if err := j.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
