package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/regprune/regprune/internal/sandbox"
)

// row is everything measured at one N.
type row struct {
	n, runs            int
	seed               time.Duration
	regprune, original measure
	ideal              measure       // in the bench process
	idealProc          measure       // in a process of its own
	idealRead          time.Duration // the ideal client's list+HEAD phase
	planCold, planWarm measure
	minimumRead        int // tag list pages + one HEAD per tag
}

func tagPages(tags int) int { return (tags + 999) / 1000 }

func benchN(ctx context.Context, c *config, n int, baselineWhyNot string) (*row, error) {
	r := &row{n: n, minimumRead: tagPages(n+1) + n + 1}
	template := filepath.Join(c.work, fmt.Sprintf("seed-%d", n))
	defer os.RemoveAll(template)
	log.Printf("N=%d: seeding %d builds", n, n)
	start := time.Now()
	reg, err := sandbox.Start(ctx, sandbox.Options{Dir: template})
	if err != nil {
		return nil, err
	}
	err = seedCI(ctx, reg, n)
	if cerr := reg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("seeding: %w", err)
	}
	r.seed = time.Since(start)
	log.Printf("N=%d: seeded in %s", n, r.seed.Round(time.Millisecond))

	// withEnv runs fn on a fresh copy of the seeded registry.
	withEnv := func(name string, fn func(*env) error) error {
		e, err := startEnv(ctx, c, template, fmt.Sprintf("%s-%d", name, n))
		if err != nil {
			return err
		}
		defer e.close()
		return fn(e)
	}
	host := func(e *env) string { return e.proxy.Host + "/" + repo }
	conc := strconv.Itoa(c.concurrency)

	best := func(dst *measure, m measure) {
		if dst.wall == 0 || m.wall < dst.wall {
			*dst = m
		}
	}
	runs := c.runs
	if runs == 0 {
		runs = 3
		if n > 1000 {
			runs = 1
		}
	}
	r.runs = runs
	for run := 1; run <= runs; run++ {
		log.Printf("N=%d: ideal client (run %d of %d)", n, run, runs)
		err = withEnv("ideal", func(e *env) error {
			m, read, err := runIdeal(ctx, c, e)
			if err != nil {
				return fmt.Errorf("ideal client: %w", err)
			}
			best(&r.ideal, m)
			if r.idealRead == 0 || read < r.idealRead {
				r.idealRead = read
			}
			return checkTags(ctx, e, "latest", strconv.Itoa(1000+n))
		})
		if err != nil {
			return nil, err
		}

		log.Printf("N=%d: ideal client in its own process (run %d of %d)", n, run, runs)
		err = withEnv("ideal-proc", func(e *env) error {
			m, _, err := runIdealProcess(ctx, c, e)
			if err != nil {
				return err
			}
			best(&r.idealProc, m)
			return checkTags(ctx, e, "latest", strconv.Itoa(1000+n))
		})
		if err != nil {
			return nil, err
		}

		log.Printf("N=%d: regprune apply, cold cache (run %d of %d)", n, run, runs)
		err = withEnv("regprune", func(e *env) error {
			m, sum, err := runRegprune(ctx, c, e, "apply", host(e), "--keep-tag", "latest", "--yes", "--concurrency", conc,
				"--cache-dir", filepath.Join(c.work, fmt.Sprintf("cache-apply-%d-%d", n, run)), "-o", "json")
			if err != nil {
				return err
			}
			if s := sum.Summary; s.Deleted != n-1 || s.Untagged != 0 || s.Failed+s.FailedItems+s.Skipped != 0 {
				return fmt.Errorf("regprune apply: summary %+v, want %d deleted, nothing untagged, failed or skipped", s, n-1)
			}
			best(&r.regprune, m)
			return checkTags(ctx, e, "latest", strconv.Itoa(1000+n))
		})
		if err != nil {
			return nil, err
		}

		log.Printf("N=%d: regprune plan, cold then warm cache (run %d of %d)", n, run, runs)
		err = withEnv("plan", func(e *env) error {
			cacheDir := filepath.Join(c.work, fmt.Sprintf("cache-plan-%d-%d", n, run))
			args := []string{"plan", host(e), "--keep-tag", "latest", "--concurrency", conc, "--cache-dir", cacheDir, "-o", "json"}
			for i, dst := range []*measure{&r.planCold, &r.planWarm} {
				m, sum, err := runRegprune(ctx, c, e, args...)
				if err != nil {
					return err
				}
				if s := sum.Summary; s.Delete != n-1 || s.Failed != 0 {
					return fmt.Errorf("regprune plan run %d: summary %+v, want %d to delete", i+1, s, n-1)
				}
				best(dst, m)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	switch {
	case baselineWhyNot != "":
		r.original.skipped = baselineWhyNot
	case c.baselineMax > 0 && n > c.baselineMax:
		r.original.skipped = fmt.Sprintf("N > -baseline-max %d", c.baselineMax)
	default:
		log.Printf("N=%d: the original job (one curl at a time)", n)
		err = withEnv("original", func(e *env) error {
			var err error
			r.original, err = runOriginal(ctx, c.seedClean, e)
			if err != nil {
				return err
			}
			// It keeps the digest of latest with all its tags.
			return checkTags(ctx, e, "latest", strconv.Itoa(1000+n))
		})
		if err != nil {
			return nil, err
		}
	}

	return r, nil
}

// scaleResult is the -scale measurement.
type scaleResult struct {
	tags, images int
	seed         time.Duration
	cold, warm   measure
}

func benchScale(ctx context.Context, c *config) (*scaleResult, error) {
	s := &scaleResult{tags: c.scale, images: min(c.scaleImages, c.scale)}
	template := filepath.Join(c.work, "seed-scale")
	defer os.RemoveAll(template)
	log.Printf("scale: seeding %d tags over %d images", s.tags, s.images)
	start := time.Now()
	reg, err := sandbox.Start(ctx, sandbox.Options{Dir: template})
	if err != nil {
		return nil, err
	}
	err = seedShared(ctx, reg, s.tags, s.images)
	if cerr := reg.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("seeding: %w", err)
	}
	s.seed = time.Since(start)
	log.Printf("scale: seeded in %s", s.seed.Round(time.Millisecond))
	e, err := startEnv(ctx, c, template, "scale")
	if err != nil {
		return nil, err
	}
	defer e.close()
	cacheDir := filepath.Join(c.work, "cache-scale")
	args := []string{"plan", e.proxy.Host + "/" + repo, "--keep-tag", "latest", "--concurrency", strconv.Itoa(c.concurrency),
		"--cache-dir", cacheDir, "-o", "json"}
	for i, m := range []*measure{&s.cold, &s.warm} {
		log.Printf("scale: regprune plan run %d", i+1)
		got, sum, err := runRegprune(ctx, c, e, args...)
		*m = got
		if err != nil {
			return nil, err
		}
		if sum.Summary.Images != s.images || sum.Summary.Delete != s.images-1 {
			return nil, fmt.Errorf("scale plan: summary %+v, want %d images, %d to delete", sum.Summary, s.images, s.images-1)
		}
	}
	// Print now: removing 100,000 tags' worth of storage takes minutes.
	printScale(os.Stdout, c, s)
	log.Printf("scale: removing the storage")
	return s, nil
}

// Formatting.

func secs(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func ratio(a, b time.Duration) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx", float64(a)/float64(b))
}

func mib(kb int64) string {
	if kb <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f MiB", float64(kb)/1024)
}

func reqs(c sandbox.Counts) string {
	return fmt.Sprintf("%d", c.Total)
}

// breakdown lists the requests by kind: list pages / HEAD / GET
// manifest+blob / DELETE / other.
func breakdown(c sandbox.Counts) string {
	return fmt.Sprintf("%d / %d / %d+%d / %d / %d", c.TagList, c.ManifestHEAD, c.ManifestGET, c.BlobGET, c.ManifestDELETE,
		c.Referrers+c.Catalog+c.Other)
}

func printRow(w io.Writer, r *row) {
	fmt.Fprintf(w, "N=%d: regprune %s (%d req), ideal %s (%d req), ideal in its own process %s", r.n, secs(r.regprune.wall), r.regprune.counts.Total,
		secs(r.ideal.wall), r.ideal.counts.Total, secs(r.idealProc.wall))
	if r.original.skipped == "" {
		fmt.Fprintf(w, ", original %s (%d req)", secs(r.original.wall), r.original.counts.Total)
	}
	fmt.Fprintf(w, "; plan cold %d req, warm %d req (minimum %d)\n", r.planCold.counts.Total, r.planWarm.counts.Total, r.minimumRead)
}

func printTables(w io.Writer, c *config, rows []*row) {
	fmt.Fprintf(w, "### Cold apply: keep `latest`, delete every other build\n\n")
	fmt.Fprintf(w, "Wall time is the fastest of the runs on fresh copies (")
	for i, r := range rows {
		if i > 0 {
			fmt.Fprintf(w, ", ")
		}
		fmt.Fprintf(w, "%d at N=%d", r.runs, r.n)
	}
	fmt.Fprintf(w, "); the original job runs once. Requests are counted at the proxy.\n\n")
	fmt.Fprintf(w, "| N | contender | wall | requests | list / HEAD / GET m+b / DELETE / other | peak RSS | original ÷ this | this ÷ ideal | this ÷ ideal in its own process |\n")
	fmt.Fprintf(w, "|---:|---|---:|---:|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		line := func(name string, m measure) {
			if m.skipped != "" {
				fmt.Fprintf(w, "| %d | %s | skipped: %s | | | | | | |\n", r.n, name, m.skipped)
				return
			}
			fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.n, name, secs(m.wall), reqs(m.counts), breakdown(m.counts),
				mib(m.rssKB), ratio(r.original.wall, m.wall), ratio(m.wall, r.ideal.wall), ratio(m.wall, r.idealProc.wall))
		}
		line("regprune apply", r.regprune)
		line("original job (original-job.sh)", r.original)
		line("ideal client, in the bench process", r.ideal)
		line("ideal client, in its own process", r.idealProc)
	}
	fmt.Fprintf(w, "\n### Plan twice with one cache: cold, then warm over the unchanged repository\n\n")
	fmt.Fprintf(w, "| N | cold plan | cold requests (list / HEAD / GET m+b / other) | warm plan | warm requests (list / HEAD / GET m+b / other) | minimum (pages + HEADs) | warm over minimum | ideal list+HEAD phase | peak RSS cold / warm |\n")
	fmt.Fprintf(w, "|---:|---:|---|---:|---|---:|---:|---:|---:|\n")
	for _, r := range rows {
		pb := func(c sandbox.Counts) string {
			return fmt.Sprintf("%d (%d / %d / %d+%d / %d)", c.Total, c.TagList, c.ManifestHEAD, c.ManifestGET, c.BlobGET, c.Referrers+c.Catalog+c.Other+c.ManifestDELETE)
		}
		over := float64(r.planWarm.counts.Total-r.minimumRead) / float64(r.minimumRead) * 100
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %d | +%.2f%% | %s | %s / %s |\n", r.n, secs(r.planCold.wall), pb(r.planCold.counts),
			secs(r.planWarm.wall), pb(r.planWarm.counts), r.minimumRead, over, secs(r.idealRead), mib(r.planCold.rssKB), mib(r.planWarm.rssKB))
	}
	fmt.Fprintf(w, "\n### Targets\n\n")
	for _, r := range rows {
		var parts []string
		if r.original.skipped == "" {
			parts = append(parts, fmt.Sprintf("cold apply %s faster than the original job (target ≥ 25x at N=1000)", ratio(r.original.wall, r.regprune.wall)))
		}
		parts = append(parts, fmt.Sprintf("%s the ideal client's time in the bench process, %s in its own process (target ≤ 1.35x at N=1000)",
			ratio(r.regprune.wall, r.ideal.wall), ratio(r.regprune.wall, r.idealProc.wall)))
		parts = append(parts, fmt.Sprintf("cold apply sends %d requests (target ≤ 4N+10 = %d)", r.regprune.counts.Total, 4*r.n+10))
		over := float64(r.planWarm.counts.Total-r.minimumRead) / float64(r.minimumRead) * 100
		parts = append(parts, fmt.Sprintf("warm plan sends %d requests, +%.2f%% over the minimum %d (target ≤ 1%%)", r.planWarm.counts.Total, over, r.minimumRead))
		fmt.Fprintf(w, "- N=%d: %s.\n", r.n, strings.Join(parts, "; "))
	}
	fmt.Fprintln(w)
}

func printScale(w io.Writer, c *config, s *scaleResult) {
	fmt.Fprintf(w, "### Scale: regprune plan over %d tags sharing %d digests (latency %s, concurrency %d)\n\n", s.tags, s.images, c.latency, c.concurrency)
	fmt.Fprintf(w, "| run | wall | requests (list / HEAD / GET m+b / other) | peak RSS |\n|---|---:|---|---:|\n")
	for _, x := range []struct {
		name string
		m    measure
	}{{"cold cache", s.cold}, {"warm cache", s.warm}} {
		c := x.m.counts
		fmt.Fprintf(w, "| %s | %s | %d (%d / %d / %d+%d / %d) | %s |\n", x.name, secs(x.m.wall), c.Total, c.TagList, c.ManifestHEAD,
			c.ManifestGET, c.BlobGET, c.Referrers+c.Catalog+c.Other+c.ManifestDELETE, mib(x.m.rssKB))
	}
	fmt.Fprintf(w, "\nSeeding took %s. Target: peak memory under 256 MB.\n\n", secs(s.seed))
}
