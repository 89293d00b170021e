package journal_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/journal"
)

// BenchmarkJournal10000Deletions measures the journal's size after 10,000
// deletions as apply writes them for CI images: per image a tag entry
// (its tag deleted first) and a manifest entry with the raw manifest (an
// OCI image manifest of 3 layers with annotations, about 1 KiB), each
// written ahead and then given its result. Run it with
//
//	go test -run '^$' -bench Journal10000 -benchtime 1x ./internal/journal/
//
// Eight writers run at once, like apply's deletes (default concurrency
// 8). It reports the file's size (after the last connection closes and the
// WAL is checkpointed) as bytes/10k-deletions.
func BenchmarkJournal10000Deletions(b *testing.B) {
	ctx := context.Background()
	const n = 10000
	const workers = 8 // apply's default concurrency
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "journal.db")
		j, err := journal.Open(ctx, path, journal.Options{})
		if err != nil {
			b.Fatal(err)
		}
		run := journal.NewRunID(t0)
		if err := j.BeginRun(ctx, run, "apply", t0); err != nil {
			b.Fatal(err)
		}
		var bodies atomic.Int64
		var g errgroup.Group
		for w := range workers {
			g.Go(func() error {
				for i := w; i < n; i += workers {
					e := entry(run, "registry.example.com/group/app", i)
					bodies.Add(int64(len(e.Manifest)))
					tag := strconv.Itoa(10000 + i)
					id, err := j.Record(ctx, journal.Entry{RunID: run, Repository: e.Repository, Kind: journal.KindTag, Tag: tag, Digest: e.Digest,
						Tags: []string{tag}, ItemKind: "image", Reason: e.Reason})
					if err != nil {
						return err
					}
					if err := j.Finish(ctx, id, journal.ResultDeleted, ""); err != nil {
						return err
					}
					if id, err = j.Record(ctx, e); err != nil {
						return err
					}
					if err := j.Finish(ctx, id, journal.ResultDeleted, ""); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		if err := j.FinishRun(ctx, run, 0); err != nil {
			b.Fatal(err)
		}
		if err := j.Close(); err != nil {
			b.Fatal(err)
		}
		var size int64
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if fi, err := os.Stat(path + suffix); err == nil {
				size += fi.Size()
			}
		}
		b.ReportMetric(float64(size), "bytes/10k-deletions")
		b.ReportMetric(float64(bodies.Load())/n, "manifest-bytes/deletion")
	}
}
