package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/registrytest"
)

// applyScaleResult is regprune apply over n builds, all deleted but
// latest, at zero added latency.
type applyScaleResult struct {
	n    int
	seed time.Duration
	m    measure
}

func (r *applyScaleResult) deletions() int { return r.n - 1 }

func (r *applyScaleResult) perDeletion() time.Duration {
	return r.m.wall / time.Duration(r.deletions())
}

// cpuPerDeletion is regprune's own CPU (user and system) per deletion:
// its work, apart from the registry's.
func (r *applyScaleResult) cpuPerDeletion() time.Duration {
	return r.m.cpu / time.Duration(r.deletions())
}

// benchApplyScale runs regprune apply --keep-tag latest over each of
// c.applyScale builds, once each, on the seeded storage itself (a copy of
// 100,000 manifests costs more than the run), with no latency added: what
// is measured is regprune's own cost per deletion, and the registry's.
func benchApplyScale(ctx context.Context, c *config) error {
	var rows []*applyScaleResult
	for _, n := range c.applyScale {
		r, err := applyScaleOne(ctx, c, n)
		if err != nil {
			return fmt.Errorf("at %d builds: %w", n, err)
		}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "apply at scale N=%d: %s, %s per deletion, %d requests, peak RSS %s\n",
			n, secs(r.m.wall), perDel(r.perDeletion()), r.m.counts.Total, mib(r.m.rssKB))
		log.Printf("apply scale N=%d: regprune CPU %s per deletion", n, perDel(r.cpuPerDeletion()))
	}
	printApplyScale(os.Stdout, c, rows)
	return nil
}

func applyScaleOne(ctx context.Context, c *config, n int) (*applyScaleResult, error) {
	r := &applyScaleResult{n: n}
	dir := filepath.Join(c.work, fmt.Sprintf("apply-scale-%d", n))
	defer os.RemoveAll(dir)
	log.Printf("apply scale N=%d: seeding", n)
	start := time.Now()
	reg, err := registrytest.Start(ctx, registrytest.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	defer reg.Close()
	if err := seedMany(ctx, reg, n); err != nil {
		return nil, fmt.Errorf("seeding: %w", err)
	}
	r.seed = time.Since(start)
	log.Printf("apply scale N=%d: seeded in %s", n, r.seed.Round(time.Millisecond))
	proxy, err := registrytest.NewProxy(reg.URL, registrytest.ProxyOptions{})
	if err != nil {
		return nil, err
	}
	defer proxy.Close()
	e := &env{reg: reg, proxy: proxy, dir: dir}
	log.Printf("apply scale N=%d: regprune apply", n)
	m, sum, err := runRegprune(ctx, c, e, "apply", proxy.Host+"/"+repo, "--keep-tag", "latest", "--yes",
		"--concurrency", strconv.Itoa(c.concurrency), "--cache-dir", filepath.Join(c.work, fmt.Sprintf("cache-apply-scale-%d", n)), "-o", "json")
	if err != nil {
		return nil, err
	}
	if s := sum.Summary; s.Deleted != n-1 || s.Untagged != 0 || s.Failed+s.FailedItems+s.Skipped != 0 {
		return nil, fmt.Errorf("regprune apply: summary %+v, want %d deleted, nothing untagged, failed or skipped", s, n-1)
	}
	r.m = m
	if err := checkTags(ctx, e, "latest", strconv.Itoa(1000+n)); err != nil {
		return nil, err
	}
	return r, nil
}

// seedMany pushes one image, then n-1 more manifests that share its config
// and layer and differ by one annotation: n distinct manifests, tagged
// 1001..1000+n, the last also latest. Each further build is one manifest
// PUT, many at once, so that 100,000 builds seed in minutes.
func seedMany(ctx context.Context, reg *registrytest.Registry, n int) error {
	img, _, err := reg.PushImage(ctx, repo, registrytest.ImageSpec{Created: seedStart}, "1001")
	if err != nil {
		return err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 2 * seedWorkers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	put := func(ctx context.Context, i int) error {
		mm := make(map[string]any, len(m)+1)
		for k, v := range m {
			mm[k] = v
		}
		mm["annotations"] = map[string]string{"org.regprune.bench.build": strconv.Itoa(i)}
		body, err := json.Marshal(mm)
		if err != nil {
			return err
		}
		tags := []string{strconv.Itoa(1000 + i)}
		if i == n {
			tags = append(tags, "latest")
		}
		for _, tag := range tags {
			if err := putManifest(ctx, hc, reg.URL+"/v2/"+repo+"/manifests/"+tag, string(mt), body); err != nil {
				return err
			}
		}
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2 * seedWorkers)
	for i := 2; i <= n; i++ {
		g.Go(func() error { return put(gctx, i) })
	}
	return g.Wait()
}

func perDel(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1000)
}

func printApplyScale(w io.Writer, c *config, rows []*applyScaleResult) {
	fmt.Fprintf(w, "### Apply at scale: regprune apply --keep-tag latest, no added latency, concurrency %d\n\n", c.concurrency)
	fmt.Fprintf(w, "| builds | deletions | wall | per deletion | ÷ first row | regprune CPU per deletion | ÷ first row | requests | list / HEAD / GET m+b / DELETE / other | peak RSS | seeding |\n")
	fmt.Fprintf(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %d | %d | %s | %s | %s | %s | %s | %d | %s | %s | %s |\n", r.n, r.deletions(), secs(r.m.wall), perDel(r.perDeletion()),
			ratio(r.perDeletion(), rows[0].perDeletion()), perDel(r.cpuPerDeletion()), ratio(r.cpuPerDeletion(), rows[0].cpuPerDeletion()),
			r.m.counts.Total, breakdown(r.m.counts), mib(r.m.rssKB), secs(r.seed))
	}
	fmt.Fprintf(w, "\nStorage, cache and journal on %s. Targets: time per deletion at 100,000 within 1.2x of the time at 1,000; peak RSS under 512 MB.\n\n", c.workFS)
}
