package cli_test

// Tests of the documentation a new user reads first: the README's command
// lines run as written (as TestGitLabTemplate runs the template), every
// relative link and anchor of README.md, docs/ and bench/README.md
// resolves, and the layout in docs/architecture.md is the module's
// package list.

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/registrytest"
)

// fencedBlocks returns the bodies of the fenced code blocks of a Markdown
// text whose info string is lang ("" for any).
func fencedBlocks(md, lang string) []string {
	var out []string
	var cur []string
	in, keep := false, false
	for _, l := range strings.Split(md, "\n") {
		switch {
		case !in && strings.HasPrefix(l, "```"):
			in, cur = true, nil
			keep = lang == "" || strings.TrimSpace(strings.TrimPrefix(l, "```")) == lang
		case in && strings.HasPrefix(l, "```"):
			in = false
			if keep {
				out = append(out, strings.Join(cur, "\n"))
			}
		case in:
			cur = append(cur, l)
		}
	}
	return out
}

// TestREADMEQuickStart: the quick start is the two commands CI and the
// hooks rely on, exactly.
func TestREADMEQuickStart(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## Quick start\n")
	if i < 0 {
		t.Fatal("no Quick start section in the README")
	}
	blocks := fencedBlocks(s[i:], "sh")
	if len(blocks) == 0 {
		t.Fatal("no sh block in the Quick start")
	}
	var cmds []string
	for _, l := range strings.Split(blocks[0], "\n") {
		if c, _, _ := strings.Cut(l, "#"); strings.TrimSpace(c) != "" {
			cmds = append(cmds, strings.TrimSpace(c))
		}
	}
	if want := []string{"go run ./cmd/regprune-demo", "go test ./..."}; !slices.Equal(cmds, want) {
		t.Errorf("the quick start is %q, want %q", cmds, want)
	}
}

// TestREADMEExamples runs every regprune command line of the README's sh
// blocks, in order, as written: registry.example.com is the test
// registry, RUN_ID the run id the last apply printed, and an apply that
// asks (a terminal, no --yes) gets "yes".
func TestREADMEExamples(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reg, err := registrytest.Start(ctx, registrytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	// Every repository the README's lines name, seeded like CI.
	var lines []string
	for _, block := range fencedBlocks(string(b), "sh") {
		for _, l := range strings.Split(block, "\n") {
			if strings.HasPrefix(l, "regprune ") {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) < 6 {
		t.Fatalf("only %d regprune lines in the README's sh blocks", len(lines))
	}
	repos := map[string]bool{}
	for _, m := range regexp.MustCompile(`registry\.example\.com/([a-z0-9/._-]+)`).FindAllStringSubmatch(strings.Join(lines, "\n"), -1) {
		repos[m[1]] = true
	}
	for r := range repos {
		if _, err := reg.SeedCI(ctx, r, 12, time.Now().Add(-20*24*time.Hour), 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	work := t.TempDir()
	t.Chdir(work)
	env := map[string]string{
		"HOME": work, "XDG_CACHE_HOME": filepath.Join(work, "cache"), "XDG_STATE_HOME": filepath.Join(work, "state"),
	}
	runID := ""
	seen := map[string]bool{}
	for _, line := range lines {
		cmdline, _, _ := strings.Cut(line, " #")
		cmdline = strings.ReplaceAll(cmdline, "registry.example.com", reg.Host)
		if strings.Contains(cmdline, "RUN_ID") {
			if runID == "" {
				t.Fatalf("%q: no apply printed a run id before it", line)
			}
			cmdline = strings.ReplaceAll(cmdline, "RUN_ID", runID)
		}
		words, redirect := shellWords(t, cmdline)
		seen[words[1]] = true
		var stdout, stderr bytes.Buffer
		err := cli.Run(ctx, words[1:], cli.Env{
			Stdout: &stdout, Stderr: &stderr, Getenv: envOf(env),
			Stdin: strings.NewReader("yes\n"), Interactive: true,
		})
		if err != nil {
			t.Fatalf("%q: %v\n%s\n%s", line, err, stdout.String(), stderr.String())
		}
		if redirect != "" {
			if err := os.WriteFile(redirect, stdout.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if m := regexp.MustCompile(`run id: (\S+)`).FindStringSubmatch(stdout.String() + stderr.String()); words[1] == "apply" && m != nil {
			runID = m[1]
		}
		out := stdout.String()
		if len(out) > 1500 {
			out = out[:1500] + "…"
		}
		t.Logf("%s\n%s", cmdline, out)
	}
	for _, c := range []string{"plan", "apply", "runs", "restore"} {
		if !seen[c] {
			t.Errorf("the README shows no regprune %s line", c)
		}
	}
	// The example session ends with `restore RUN_ID --yes`: ci/app has
	// every build's tag back.
	if repos["ci/app"] {
		tags, err := reg.Tags(ctx, "ci/app")
		if err != nil {
			t.Fatal(err)
		}
		if len(tags) != 13 { // 12 builds and latest
			t.Errorf("after the README's restore, ci/app has the tags %v, want all 13", tags)
		}
	}
}

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`^#{1,6} +(.*?) *#*$`)
	slugDrop  = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// anchors returns the GitHub anchors of a Markdown file's headings.
func anchors(md string) map[string]bool {
	out := map[string]bool{}
	count := map[string]int{}
	in := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "```") {
			in = !in
			continue
		}
		m := mdHeading.FindStringSubmatch(l)
		if in || m == nil {
			continue
		}
		slug := strings.ReplaceAll(slugDrop.ReplaceAllString(strings.ToLower(m[1]), ""), " ", "-")
		if n := count[slug]; n > 0 {
			out[slug+"-"+strconv.Itoa(n)] = true
		} else {
			out[slug] = true
		}
		count[slug]++
	}
	return out
}

// stripCode drops fenced blocks and inline code spans, where a "](" is no
// link.
func stripCode(md string) string {
	var out []string
	in := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "```") {
			in = !in
			continue
		}
		if !in {
			out = append(out, regexp.MustCompile("`[^`]*`").ReplaceAllString(l, "``"))
		}
	}
	return strings.Join(out, "\n")
}

// TestDocsLinks: every relative link of README.md, docs/*.md and
// bench/README.md names a file that exists, and every #anchor a heading
// of its file.
func TestDocsLinks(t *testing.T) {
	files := []string{"README.md", "bench/README.md"}
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("docs/*.md: %v", err)
	}
	for _, d := range docs {
		rel, _ := filepath.Rel(repoRoot, d)
		files = append(files, rel)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(stripCode(string(b)), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			full := filepath.Join(repoRoot, f)
			if path != "" {
				full = filepath.Join(repoRoot, filepath.Dir(f), path)
				if _, err := os.Stat(full); err != nil {
					t.Errorf("%s: link %s: %v", f, target, err)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(full, ".md") {
				t.Errorf("%s: link %s: an anchor in a file that is not Markdown", f, target)
				continue
			}
			tb, err := os.ReadFile(full)
			if err != nil {
				t.Fatal(err)
			}
			if !anchors(string(tb))[anchor] {
				t.Errorf("%s: link %s: no heading makes #%s", f, target, anchor)
			}
		}
	}
}

// TestArchitectureLayout: the layout in docs/architecture.md (which the
// README links as its project layout) lists every Go package of the
// module (what `go list ./...` prints) and nothing that is not one, and
// its other entries exist.
func TestArchitectureLayout(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## Project layout\n")
	if i < 0 {
		t.Fatal("no Project layout section in docs/architecture.md")
	}
	blocks := fencedBlocks(s[i:], "")
	if len(blocks) == 0 {
		t.Fatal("no layout block")
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(blocks[0], "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		name := strings.TrimSuffix(f[0], "/")
		if _, err := os.Stat(filepath.Join(repoRoot, name)); err != nil {
			t.Errorf("the layout lists %s: %v", f[0], err)
		}
		if strings.HasSuffix(f[0], "/") {
			listed[name] = true
		}
	}
	pkgs := map[string]bool{}
	err = filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != repoRoot && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			rel, _ := filepath.Rel(repoRoot, filepath.Dir(p))
			pkgs[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p := range pkgs {
		if !listed[p] {
			t.Errorf("package %s is missing from the layout", p)
		}
	}
	for p := range listed {
		if !pkgs[p] && (strings.HasPrefix(p, "internal/") || strings.HasPrefix(p, "cmd/")) {
			t.Errorf("the layout lists %s, which is no package", p)
		}
	}
}
