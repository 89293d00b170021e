//go:build unix

package journal_test

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/journal"
)

// BenchmarkJournalApplyBatch is BenchmarkJournalApply through the
// journal's Batch, as apply writes the journal now: each phase announced
// at once (Announce), eight workers waiting for each entry (Wait),
// sending the DELETE (500 µs, a stand-in) and queueing its result
// (Result), then Close and Flush. It reports the process's CPU time per
// deletion:
//
//	go test -run '^$' -bench JournalApply -count 3 ./internal/journal/
func BenchmarkJournalApplyBatch(b *testing.B) {
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
		byRef := map[string]journal.Entry{}
		var tags, digests []string
		for i := range n {
			e := entry(run, repo, i)
			tag := strconv.Itoa(10000 + i)
			byRef[e.Digest] = e
			byRef[tag] = journal.Entry{RunID: run, Repository: repo, Kind: journal.KindTag, Tag: tag, Digest: e.Digest,
				Tags: []string{tag}, ItemKind: "image", Reason: e.Reason, Manifest: e.Manifest}
			tags, digests = append(tags, tag), append(digests, e.Digest)
		}
		cpu0 := cpuTime(b)
		b.StartTimer()
		batch := j.NewBatch(func(_ context.Context, ref string) (journal.Entry, error) { return byRef[ref], nil })
		for _, phase := range [][]string{tags, digests} {
			batch.Announce(ctx, phase)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := w; i < n; i += workers {
						id, err := batch.Wait(ctx, phase[i])
						if err != nil {
							panic(err)
						}
						time.Sleep(500 * time.Microsecond) // the DELETE
						batch.Result(id, journal.ResultDeleted, "")
					}
				})
			}
			wg.Wait()
		}
		batch.Close(func(string) string { return "" })
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
