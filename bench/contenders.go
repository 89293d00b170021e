package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/regprune/regprune/internal/sandbox"
)

// measure is one contender's run.
type measure struct {
	wall    time.Duration
	counts  sandbox.Counts
	rssKB   int64         // peak resident set of the process; 0 when not measured
	cpu     time.Duration // user+system CPU of the process; 0 when not measured
	skipped string        // why it did not run
}

// regpruneSummary is the part of regprune's JSON plan the bench checks.
type regpruneSummary struct {
	Summary struct {
		Failed      int `json:"failed_repositories"`
		Images      int `json:"images"`
		Delete      int `json:"delete"`
		Deleted     int `json:"deleted"`
		Untagged    int `json:"untagged"`
		Skipped     int `json:"skipped"`
		FailedItems int `json:"failed"`
	} `json:"summary"`
}

// runRegprune runs the binary with args against e and returns its
// measure and summary. The process gets an empty DOCKER_CONFIG so that no
// credential of the user's is read.
func runRegprune(ctx context.Context, c *config, e *env, args ...string) (measure, regpruneSummary, error) {
	var sum regpruneSummary
	dockerCfg := filepath.Join(c.work, "docker-config")
	if err := os.MkdirAll(dockerCfg, 0o700); err != nil {
		return measure{}, sum, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.binary, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The journal of deletions goes to the work directory, not the user's.
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerCfg, "XDG_STATE_HOME="+filepath.Join(c.work, "state"))
	e.proxy.Reset()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	m := measure{wall: wall, counts: e.proxy.Counts()}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.rssKB = ru.Maxrss // KiB on Linux
			m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if err != nil {
		return m, sum, fmt.Errorf("regprune %s: %w\n%s", strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		return m, sum, fmt.Errorf("regprune %s: reading its JSON: %w", strings.Join(args, " "), err)
	}
	return m, sum, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// runOriginal runs the seed's script, which issues one curl at a time.
func runOriginal(ctx context.Context, script string, e *env) (measure, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script, e.proxy.Host, repo)
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	e.proxy.Reset()
	start := time.Now()
	err := cmd.Run()
	m := measure{wall: time.Since(start), counts: e.proxy.Counts()}
	if err != nil {
		return m, fmt.Errorf("%s: %w\n%s", script, err, tail(stderr.String(), 2000))
	}
	if s := stderr.String(); s != "" {
		return m, fmt.Errorf("%s reported errors:\n%s", script, tail(s, 2000))
	}
	return m, nil
}

// manifestAccept is the full Accept list: OCI index and manifest, Docker
// list and v2 manifest.
var manifestAccept = strings.Join(sandbox.ManifestAccept, ", ")

// ideal is the minimal client: it sends the tag list pages, one HEAD per
// tag and one DELETE per stale tag and stale digest, Concurrency at a
// time, and does nothing else. It probes tag deletion with one request
// and falls back to digest deletes where the registry refuses it.
type ideal struct {
	hc          *http.Client
	base        string // http://host/v2/repo
	concurrency int
}

func newIdeal(host string, concurrency int) *ideal {
	tr := &http.Transport{MaxIdleConns: 2 * concurrency, MaxIdleConnsPerHost: 2 * concurrency, IdleConnTimeout: 30 * time.Second}
	return &ideal{hc: &http.Client{Transport: tr}, base: "http://" + host + "/v2/" + repo, concurrency: concurrency}
}

func (c *ideal) close() { c.hc.CloseIdleConnections() }

func (c *ideal) do(ctx context.Context, method, u string, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// each runs fn over items with Concurrency workers; the first error wins.
func (c *ideal) each(ctx context.Context, items []string, fn func(context.Context, string) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ch := make(chan string)
	var wg sync.WaitGroup
	for range c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				if err := fn(ctx, it); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case ch <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(ch)
	wg.Wait()
	return context.Cause(ctx)
}

func (c *ideal) tags(ctx context.Context) ([]string, error) {
	var out []string
	u := c.base + "/tags/list?n=1000"
	for u != "" {
		resp, err := c.do(ctx, http.MethodGet, u, "application/json")
		if err != nil {
			return nil, err
		}
		var page struct {
			Tags []string `json:"tags"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return nil, fmt.Errorf("tag list: %s %v", resp.Status, err)
		}
		out = append(out, page.Tags...)
		u = ""
		if l := resp.Header.Get("Link"); l != "" {
			s, e := strings.IndexByte(l, '<'), strings.IndexByte(l, '>')
			if s < 0 || e < s {
				return nil, fmt.Errorf("bad Link %q", l)
			}
			ref, err := url.Parse(l[s+1 : e])
			if err != nil {
				return nil, err
			}
			u = resp.Request.URL.ResolveReference(ref).String()
		}
	}
	return out, nil
}

func (c *ideal) delete(ctx context.Context, ref string) (int, error) {
	resp, err := c.do(ctx, http.MethodDelete, c.base+"/manifests/"+ref, "")
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// run removes every tag but keep and every digest keep does not name. It
// returns how long the read phase (list and HEADs) took.
func (c *ideal) run(ctx context.Context, keep string) (read time.Duration, err error) {
	start := time.Now()
	tags, err := c.tags(ctx)
	if err != nil {
		return 0, err
	}
	var mu sync.Mutex
	digestOf := make(map[string]string, len(tags))
	err = c.each(ctx, tags, func(ctx context.Context, t string) error {
		resp, err := c.do(ctx, http.MethodHead, c.base+"/manifests/"+t, manifestAccept)
		if err != nil {
			return err
		}
		resp.Body.Close()
		d := resp.Header.Get("Docker-Content-Digest")
		if resp.StatusCode != http.StatusOK || d == "" {
			return fmt.Errorf("HEAD %s: %s", t, resp.Status)
		}
		mu.Lock()
		digestOf[t] = d
		mu.Unlock()
		return nil
	})
	if err != nil {
		return 0, err
	}
	read = time.Since(start)
	kept, ok := digestOf[keep]
	if !ok {
		return read, fmt.Errorf("no tag %s", keep)
	}
	var staleTags, staleDigests []string
	seen := map[string]bool{}
	for _, t := range tags {
		d := digestOf[t]
		if d == kept {
			// The kept image keeps every tag it has (its job-id tag too).
			continue
		}
		staleTags = append(staleTags, t)
		if !seen[d] {
			seen[d] = true
			staleDigests = append(staleDigests, d)
		}
	}
	slices.Sort(staleTags)
	slices.Sort(staleDigests)
	if len(staleTags) == 0 {
		return read, nil
	}
	deleteAll := func(refs []string) error {
		return c.each(ctx, refs, func(ctx context.Context, ref string) error {
			st, err := c.delete(ctx, ref)
			if err != nil {
				return err
			}
			if st != http.StatusAccepted && st != http.StatusNotFound {
				return fmt.Errorf("DELETE %s: %d", ref, st)
			}
			return nil
		})
	}
	// Probe once: can this registry delete a tag alone?
	st, err := c.delete(ctx, staleTags[0])
	if err != nil {
		return read, err
	}
	switch st {
	case http.StatusAccepted:
		if err := deleteAll(staleTags[1:]); err != nil {
			return read, err
		}
		return read, deleteAll(staleDigests)
	case http.StatusBadRequest, http.StatusMethodNotAllowed:
		// No tag delete: a digest delete takes its tags with it.
		return read, deleteAll(staleDigests)
	}
	return read, fmt.Errorf("DELETE tag %s: %d", staleTags[0], st)
}

func runIdeal(ctx context.Context, c *config, e *env) (measure, time.Duration, error) {
	cl := newIdeal(e.proxy.Host, c.concurrency)
	defer cl.close()
	e.proxy.Reset()
	start := time.Now()
	read, err := cl.run(ctx, "latest")
	m := measure{wall: time.Since(start), counts: e.proxy.Counts()}
	return m, read, err
}

// idealChildArg, as the first argument of the bench's own binary, runs
// the ideal client alone: bench -ideal-child HOST CONCURRENCY. It prints
// how long its read phase took, in nanoseconds.
const idealChildArg = "-ideal-child"

func idealChild(host, conc string) {
	n, err := strconv.Atoi(conc)
	if err != nil || n < 1 {
		log.Fatalf("%s: concurrency %q", idealChildArg, conc)
	}
	cl := newIdeal(host, n)
	read, err := cl.run(context.Background(), "latest")
	cl.close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(read.Nanoseconds())
}

// runIdealProcess runs the ideal client as a process of its own (the
// bench's binary, started again), timed from its start to its exit like
// regprune.
func runIdealProcess(ctx context.Context, c *config, e *env) (measure, time.Duration, error) {
	self, err := os.Executable()
	if err != nil {
		return measure{}, 0, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, self, idealChildArg, e.proxy.Host, strconv.Itoa(c.concurrency))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	e.proxy.Reset()
	start := time.Now()
	err = cmd.Run()
	m := measure{wall: time.Since(start), counts: e.proxy.Counts()}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.rssKB = ru.Maxrss
			m.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if err != nil {
		return m, 0, fmt.Errorf("ideal client process: %w\n%s", err, tail(stderr.String(), 2000))
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(stdout.String()), 10, 64)
	if err != nil {
		return m, 0, fmt.Errorf("ideal client process: %q: %w", stdout.String(), err)
	}
	return m, time.Duration(ns), nil
}

// checkTags verifies what a contender left, straight at the registry
// (uncounted).
func checkTags(ctx context.Context, e *env, want ...string) error {
	got, err := e.reg.Tags(ctx, repo)
	if err != nil {
		return err
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		if len(got) > 10 {
			got = append(got[:10], fmt.Sprintf("... (%d tags)", len(got)))
		}
		return fmt.Errorf("tags left %v, want %v", got, want)
	}
	if err := e.reg.Pullable(ctx, repo+":latest"); err != nil {
		return fmt.Errorf("latest no longer pullable: %w", err)
	}
	return nil
}
