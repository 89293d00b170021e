// Command bench measures regprune against the original CI job's algorithm
// and against an ideal client, at the protocol's limit.
//
// For each N it seeds an in-process distribution registry (internal/
// sandbox) with N builds tagged like the seed's CI (job ids
// 1001..1000+N, the last one also "latest"), then runs each contender on
// its own copy of that storage, behind a proxy that adds a set latency to
// every request and counts them:
//
//  1. regprune apply REPO --keep-tag latest: the binary built from this
//     tree, as a user runs it, with an empty cache;
//  2. the original job: bench/original-job.sh HOST REPO, its algorithm
//     written again in bash, curl and jq, one request at a time;
//  3. an ideal client: tag list pages, one HEAD per tag, then the stale
//     tags and digests deleted with the best strategy the registry allows
//     (tags first, probed once, then untagged digests), at the same
//     concurrency, with no other work. It runs twice: inside the bench
//     process, next to the registry and the proxy (its requests and their
//     answers stay within one Go scheduler), and as a process of its own,
//     as regprune and any real client run (the bench's own binary,
//     started again with idealChildArg).
//
// Each of regprune and the ideal client runs -runs times (5 by default up
// to N=1000) on fresh copies, and the tables give the median with its
// range. Everything (the registry's storage, regprune's cache and journal)
// lives in a work directory on a real disk by default, as users run it
// (under the user's cache directory); -tmpfs puts it on /dev/shm instead,
// -work-dir anywhere, and the output names the filesystem.
//
// It also runs regprune plan twice with one cache directory (cold, then
// warm) and reports both request counts against the minimum. With -scale
// it seeds a repository of that many tags sharing a few thousand digests
// and measures regprune plan's peak memory on it. With -apply-scale it
// measures regprune apply at zero added latency over that many builds, all
// deleted but latest: time per deletion and peak memory.
//
//	go run ./bench                          # the full table: N = 100, 1000, 10000
//	go run ./bench -n 100,1000              # quicker
//	go run ./bench -scale 100000 -n ''      # the memory measurement alone
//	go run ./bench -n '' -apply-scale 1000,10000,100000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/regprune/regprune/internal/sandbox"
)

// repo is the repository the bench seeds, the seed's own CI image name.
const repo = "libinput/libinput/fedora/28"

type config struct {
	ns          []int
	latency     time.Duration
	concurrency int
	scale       int
	scaleImages int
	applyScale  []int
	seedClean   string
	baselineMax int
	binary      string
	keep        bool
	serve       int
	runs        int
	workDir     string // where the work directory is made ("": the user's cache directory)
	tmpfs       bool
	work        string
	workFS      string // the filesystem of work, as printed
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	if len(os.Args) == 4 && os.Args[1] == idealChildArg {
		idealChild(os.Args[2], os.Args[3])
		return
	}
	var (
		c  config
		ns string
	)
	flag.StringVar(&ns, "n", "100,1000,10000", "comma-separated build counts; '' for none")
	flag.DurationVar(&c.latency, "latency", 5*time.Millisecond, "latency the proxy adds to every request")
	flag.IntVar(&c.concurrency, "concurrency", 8, "requests in flight for regprune and the ideal client")
	flag.IntVar(&c.scale, "scale", 0, "also plan a repository of this many tags and report peak memory (e.g. 100000)")
	flag.IntVar(&c.scaleImages, "scale-images", 2000, "distinct images the -scale tags share")
	flag.StringVar(&c.seedClean, "seed-clean", "", "the original job's script (default: bench/original-job.sh from the module root)")
	applyScale := flag.String("apply-scale", "", "comma-separated build counts for regprune apply at zero added latency, every build deleted but latest (e.g. 1000,10000,100000)")
	flag.IntVar(&c.baselineMax, "baseline-max", 1000, "skip the original job above this N (0: never skip; it needs over an hour at N=10000)")
	flag.StringVar(&c.binary, "regprune", "", "a regprune binary to measure (default: go build ./cmd/regprune)")
	flag.IntVar(&c.runs, "runs", 0, "runs of regprune and the ideal client at each N, on fresh copies; the median counts, with its range (0: 5 up to N=1000, 1 above; the original job runs once)")
	flag.StringVar(&c.workDir, "work-dir", "", "make the work directory (registry storage, regprune's cache and journal) in this directory (default: the user's cache directory, on disk as users run regprune)")
	flag.BoolVar(&c.tmpfs, "tmpfs", false, "make the work directory on tmpfs (/dev/shm), as issue 12's figures were taken")
	flag.BoolVar(&c.keep, "keep", false, "keep the work directory")
	flag.IntVar(&c.serve, "serve", 0, "seed this many builds, serve them behind the latency proxy and wait for Ctrl-C (for experiments)")
	flag.Parse()
	for _, s := range strings.Split(ns, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 {
			log.Fatalf("-n %q: want whole numbers of at least 2", s)
		}
		c.ns = append(c.ns, n)
	}
	for _, s := range strings.Split(*applyScale, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 {
			log.Fatalf("-apply-scale %q: want whole numbers of at least 2", s)
		}
		c.applyScale = append(c.applyScale, n)
	}
	if c.concurrency < 1 || c.latency < 0 || c.scaleImages < 1 || c.runs < 0 {
		log.Fatal("-concurrency, -runs and -scale-images must be positive, -latency not negative")
	}
	if c.tmpfs && c.workDir != "" {
		log.Fatal("-tmpfs and -work-dir: choose one")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, &c); err != nil {
		stop()
		log.Fatal(err)
	}
}

func run(ctx context.Context, c *config) (err error) {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	base, err := workBase(c)
	if err != nil {
		return err
	}
	c.work, err = os.MkdirTemp(base, "regprune-bench-")
	if err != nil {
		return err
	}
	c.workFS = describeFS(c.work)
	log.Printf("work directory: %s, %s", c.work, c.workFS)
	if !c.keep {
		defer os.RemoveAll(c.work)
	}
	if c.serve > 0 {
		return serve(ctx, c)
	}
	if c.binary == "" {
		c.binary = filepath.Join(c.work, "regprune")
		log.Printf("building regprune")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", c.binary, "./cmd/regprune")
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/regprune: %w", err)
		}
	}
	if c.seedClean == "" {
		c.seedClean = filepath.Join(root, "bench", "original-job.sh")
	}
	baselineWhyNot := baselineMissing(c.seedClean)
	if baselineWhyNot != "" {
		log.Printf("skipping the original job: %s", baselineWhyNot)
	}

	m := machine()
	fmt.Printf("machine: %s; load average at start: %s\n", m, loadavg())
	defer func() { fmt.Printf("load average at the end: %s\n", loadavg()) }()
	fmt.Printf("latency %s per request at the proxy, concurrency %d, repository %s\n", c.latency, c.concurrency, repo)
	fmt.Printf("work directory (the registries' storage, regprune's cache and journal): %s, %s\n\n", c.work, c.workFS)

	var rows []*row
	for _, n := range c.ns {
		r, err := benchN(ctx, c, n, baselineWhyNot)
		if err != nil {
			return fmt.Errorf("at N=%d: %w", n, err)
		}
		rows = append(rows, r)
		printRow(os.Stderr, r) // progress
	}
	if len(rows) > 0 {
		printTables(os.Stdout, c, rows)
	}
	if c.scale > 0 {
		if _, err := benchScale(ctx, c); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
	}
	if len(c.applyScale) > 0 {
		if err := benchApplyScale(ctx, c); err != nil {
			return fmt.Errorf("apply scale: %w", err)
		}
	}
	return nil
}

// moduleRoot is the directory of go.mod, so that the bench runs from
// anywhere inside the module.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the bench inside the regprune module: go run ./bench")
	}
	return filepath.Dir(mod), nil
}

// workBase is the directory the work directory is made in: -work-dir,
// /dev/shm for -tmpfs, else the user's cache directory (where regprune
// keeps its own cache), which is on disk wherever users run regprune;
// os.TempDir() is tmpfs on many systems.
func workBase(c *config) (string, error) {
	switch {
	case c.workDir != "":
		return c.workDir, os.MkdirAll(c.workDir, 0o755)
	case c.tmpfs:
		if fs := fsType("/dev/shm"); fs != "tmpfs" {
			return "", fmt.Errorf("-tmpfs: /dev/shm is not tmpfs here (%q); use -work-dir", fs)
		}
		return "/dev/shm", nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		log.Printf("no user cache directory (%v); using %s", err, os.TempDir())
		return os.TempDir(), nil
	}
	dir = filepath.Join(dir, "regprune-bench")
	return dir, os.MkdirAll(dir, 0o755)
}

// mountOf is the entry of /proc/self/mounts whose mount point holds path
// most closely: device, mount point and filesystem type.
func mountOf(path string) (dev, at, fs string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "", "", ""
	}
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	unescape := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mp := unescape.Replace(f[1])
		if mp != "/" && path != mp && !strings.HasPrefix(path, mp+"/") {
			continue
		}
		if len(mp) >= len(at) { // later mounts over the same point win
			dev, at, fs = f[0], mp, f[2]
		}
	}
	return dev, at, fs
}

func fsType(path string) string {
	_, _, fs := mountOf(path)
	return fs
}

// describeFS says which filesystem holds path, e.g. "ext4 (/dev/vda,
// mounted at /)", and whether it lives in memory.
func describeFS(path string) string {
	dev, at, fs := mountOf(path)
	if fs == "" {
		return "filesystem unknown (no /proc/self/mounts)"
	}
	s := fmt.Sprintf("%s (%s, mounted at %s)", fs, dev, at)
	if dev == fs || dev == "none" {
		s = fmt.Sprintf("%s (mounted at %s)", fs, at)
	}
	switch fs {
	case "tmpfs", "ramfs":
		s += ", in memory"
	case "overlay":
		s += ", a container's overlay"
	default:
		s += ", on disk"
	}
	return s
}

func baselineMissing(script string) string {
	if _, err := os.Stat(script); err != nil {
		return fmt.Sprintf("%s not found (-seed-clean PATH)", script)
	}
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " is not installed; the original job needs bash, curl and jq"
		}
	}
	return ""
}

// machine describes where the figures come from.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (nproc), %s, %s %s/%s", runtime.NumCPU(), cpu, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// loadavg is /proc/loadavg's 1, 5 and 15 minute averages: other work on
// the machine slows the registry, and every contender with it.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// copyStorage copies a registry's storage root. Blob data files are
// hard-linked (distribution writes a blob once and never rewrites it; only
// GC removes it, and the bench runs none); everything else, which DELETE
// and tag PUT rewrite, is copied.
func copyStorage(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		if d.Name() == "data" && strings.Contains(filepath.ToSlash(rel), "/blobs/") {
			if err := os.Link(p, out); err == nil {
				return nil
			}
		}
		return copyFile(p, out)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// env is a registry on a copy of the seeded storage, behind a latency
// proxy.
type env struct {
	reg   *sandbox.Registry
	proxy *sandbox.Proxy
	dir   string
}

func startEnv(ctx context.Context, c *config, template, name string) (*env, error) {
	dir := filepath.Join(c.work, name)
	if err := copyStorage(template, dir); err != nil {
		return nil, fmt.Errorf("copying the seeded storage: %w", err)
	}
	reg, err := sandbox.Start(ctx, sandbox.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	proxy, err := sandbox.NewProxy(reg.URL, sandbox.ProxyOptions{Latency: c.latency})
	if err != nil {
		reg.Close()
		return nil, err
	}
	return &env{reg: reg, proxy: proxy, dir: dir}, nil
}

func (e *env) close() {
	e.proxy.Close()
	e.reg.Close()
	os.RemoveAll(e.dir)
}

// serve seeds c.serve builds and serves them behind the latency proxy
// until ctx ends.
func serve(ctx context.Context, c *config) error {
	dir := filepath.Join(c.work, "serve")
	reg, err := sandbox.Start(ctx, sandbox.Options{Dir: dir})
	if err != nil {
		return err
	}
	defer reg.Close()
	log.Printf("seeding %d builds", c.serve)
	if err := seedCI(ctx, reg, c.serve); err != nil {
		return err
	}
	proxy, err := sandbox.NewProxy(reg.URL, sandbox.ProxyOptions{Latency: c.latency})
	if err != nil {
		return err
	}
	defer proxy.Close()
	fmt.Printf("%s/%s behind a %s proxy (registry itself: %s); Ctrl-C to stop\n", proxy.Host, repo, c.latency, reg.Host)
	<-ctx.Done()
	fmt.Printf("requests at the proxy: %+v\n", proxy.Counts())
	return nil
}
