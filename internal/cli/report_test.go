package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registrytest"
	"github.com/regprune/regprune/internal/report"
)

// The HTML report, tested in headless Chromium (Debian's chromium; .ci/run
// installs it). The test plans a registry seeded like the demo, writes the
// JSON plan and the HTML report of the same run, loads the page in
// Chromium and reads the DOM after its script ran.

var screenshot = flag.String("screenshot", "", "also write a PNG screenshot of the HTML report to this file (for docs/)")

// chromium returns the browser binary, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: install Debian's chromium package (apt-get install -y chromium) to run the HTML report test")
	return ""
}

// headless runs Chromium on url with extra flags and returns its stdout.
func headless(t *testing.T, bin, url string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir()}
	args = append(append(args, extra...), url)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// seedLikeDemo seeds CI builds (job-id tags and latest) in one repository
// and signed multi-arch builds in another, one sharing a release tag.
func seedLikeDemo(t *testing.T, reg *registrytest.Registry) {
	t.Helper()
	ctx := context.Background()
	start := time.Now().Add(-9 * 24 * time.Hour)
	if _, err := reg.SeedCI(ctx, "libinput/libinput/fedora/28", 8, start, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 8; i++ {
		created := start.Add(time.Duration(i) * 24 * time.Hour).UTC()
		tags := []string{strconv.Itoa(1000 + i)}
		if i == 2 {
			tags = append(tags, "release-1")
		}
		if i == 8 {
			tags = append(tags, "latest")
		}
		spec := func(arch string) *registrytest.ImageSpec {
			return &registrytest.ImageSpec{Created: created, Layers: 2, LayerSize: 32 << 10, Platform: &v1.Platform{OS: "linux", Architecture: arch}}
		}
		_, h, err := reg.PushIndex(ctx, "libinput/libinput/ubuntu/18.04", types.OCIImageIndex,
			[]registrytest.Child{{Spec: spec("amd64")}, {Spec: spec("arm64")}},
			map[string]string{registrytest.LabelCreated: created.Format(time.RFC3339)}, tags...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Sign(ctx, "libinput/libinput/ubuntu/18.04", h, "sig"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHTMLReportInChromium(t *testing.T) {
	t.Parallel() // its own registry, nothing global
	bin := chromium(t)
	ctx := context.Background()
	reg, err := registrytest.Start(ctx, registrytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	seedLikeDemo(t, reg)

	dir := t.TempDir()
	reportFile := filepath.Join(dir, "report.html")
	var stdout, stderr bytes.Buffer
	err = cli.Run(ctx, []string{"plan", reg.Host + "/libinput/libinput/fedora/28", reg.Host + "/libinput/libinput/ubuntu/18.04",
		"--keep-tag", "latest", "--keep-regex", "release-.*", "--no-cache", "-o", "json", "--report", reportFile},
		cli.Env{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, stderr.String())
	}
	var p plan.Plan
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(reportFile)
	if err != nil {
		t.Fatal(err)
	}
	// Self-contained: no external asset of any kind.
	if m := regexp.MustCompile(`(?i)(src|href)="(https?:)?//|@import|url\(`).Find(page); m != nil {
		t.Errorf("the report references an external asset: %s", m)
	}

	url := "file://" + reportFile
	// One Chromium for the three views (plain, #action=delete,
	// #q=release-1): each start of Chromium costs more than the rest of
	// the test.
	doms := loadViews(t, bin, reportFile, "", "#action=delete", "#q=release-1", "#sort=frees")
	dom := doms[0]
	if !strings.Contains(dom, `data-ready="1"`) {
		t.Fatalf("the page script did not run:\n%.2000s", dom)
	}
	// The totals match the JSON plan.
	for id, want := range map[string]int64{
		"total-repositories": int64(p.Summary.Repositories), "total-images": int64(p.Summary.Images),
		"total-keep": int64(p.Summary.Keep), "total-delete": int64(p.Summary.Delete),
		"total-untag": int64(p.Summary.Untag), "total-reclaimable": p.Summary.ReclaimableBytes,
	} {
		if got := dataValue(t, dom, id); got != want {
			t.Errorf("%s: page says %d, JSON %d", id, got, want)
		}
	}
	if !strings.Contains(dom, ">"+report.HumanBytes(p.Summary.ReclaimableBytes)+"<") {
		t.Errorf("the page does not show %s", report.HumanBytes(p.Summary.ReclaimableBytes))
	}
	// The chart has one bar per repository with its bytes.
	for _, r := range p.Repositories {
		bar := regexp.MustCompile(`<g class="bar" data-repository="` + regexp.QuoteMeta(r.Name) + `" data-bytes="(\d+)"`).FindStringSubmatch(dom)
		if bar == nil || bar[1] != strconv.FormatInt(r.Summary.ReclaimableBytes, 10) {
			t.Errorf("chart bar of %s: %v, want %d", r.Name, bar, r.Summary.ReclaimableBytes)
		}
	}
	// Every image is a group, children and signatures nested in it.
	groups := regexp.MustCompile(`<tbody class="group"[^>]*>`).FindAllString(dom, -1)
	if len(groups) < p.Summary.Images {
		t.Errorf("%d groups on the page, %d images in the plan", len(groups), p.Summary.Images)
	}
	if n := strings.Count(dom, `class="child"`); n == 0 {
		t.Error("no nested child or signature rows")
	}
	shown := func(dom string) (shown, hidden int) {
		for _, g := range regexp.MustCompile(`<tbody class="group"[^>]*>`).FindAllString(dom, -1) {
			if strings.Contains(g, "hidden") {
				hidden++
			} else {
				shown++
			}
		}
		return shown, hidden
	}
	if s, h := shown(dom); h != 0 || s != len(groups) {
		t.Errorf("unfiltered: %d shown, %d hidden", s, h)
	}

	// A filter from the URL fragment: only deleted images stay visible.
	dom = doms[1]
	if s, h := shown(dom); s != p.Summary.Delete || s+h != len(groups) {
		t.Errorf("#action=delete: %d shown, %d hidden; the plan deletes %d images of %d groups", s, h, p.Summary.Delete, len(groups))
	}
	// A text filter: one tag.
	dom = doms[2]
	if s, _ := shown(dom); s != 1 {
		t.Errorf("#q=release-1: %d groups shown, want 1", s)
	}
	// The first click on the size column sorts largest first.
	dom = doms[3]
	if !strings.Contains(dom, `data-key="frees" data-dir="desc"`) {
		t.Errorf("#sort=frees: the frees column is not sorted descending")
	}
	for _, sec := range strings.Split(dom, `<section class="repo"`)[1:] {
		var sizes []int64
		for _, m := range regexp.MustCompile(`<tbody class="group"[^>]* data-frees="(\d+)"`).FindAllStringSubmatch(sec, -1) {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			sizes = append(sizes, n)
		}
		for i := 1; i < len(sizes); i++ {
			if sizes[i] > sizes[i-1] {
				t.Errorf("#sort=frees: sizes %v are not largest first", sizes)
				break
			}
		}
		if len(sizes) < 2 || sizes[0] == sizes[len(sizes)-1] {
			t.Errorf("#sort=frees: sizes %v do not show an order", sizes)
		}
	}
	if *screenshot != "" {
		headless(t, bin, url, "--hide-scrollbars", "--window-size=1280,1400", "--screenshot="+*screenshot)
	}
}

func dataValue(t *testing.T, dom, id string) int64 {
	t.Helper()
	m := regexp.MustCompile(`id="` + id + `" data-value="(\d+)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no %s on the page", id)
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}
