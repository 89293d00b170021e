package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The GitLab template keeps the journal's cache after a failed job, runs
// with --strict, forgets old runs, and posts the Markdown plan as a note
// from a file: a plan too long for a note (and for an argument, as with
// 400 builds) is cut to its summary plus a link to the HTML report.
func TestGitLabTemplateNote(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	doc := yamlDocs(t, filepath.Join(repoRoot, "deploy", "gitlab", "regprune.gitlab-ci.yml"))[0]
	job := dig(t, doc, "regprune").(map[string]any)
	if dig(t, job, "cache", "when") != "always" {
		t.Errorf("the cache (and the journal in it) is not saved when the job fails: when %v", dig(t, job, "cache", "when"))
	}
	script := strings.Join(strs(dig(t, job, "script")), "\n")
	for _, want := range []string{"runs prune --older-than 30d", "--strict"} {
		if !strings.Contains(script, want) {
			t.Errorf("the script lacks %q:\n%s", want, script)
		}
	}
	after := strs(dig(t, job, "after_script"))
	if len(after) != 1 {
		t.Fatalf("after_script: %d entries", len(after))
	}

	for _, tc := range []struct {
		name    string
		builds  int
		capped  bool
		maxBody int
	}{
		{"short", 5, false, 4 << 10},
		{"400 builds", 4000, true, 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var md strings.Builder
			md.WriteString("## regprune plan\n\n1 repository, summary line & 100% + more\n\n| repository |\n|---|\n| `r/app` |\n\n### `r/app`\n\n| action | tags |\n|---|---|\n")
			for i := 0; i < tc.builds; i++ {
				md.WriteString("| delete | build-" + strings.Repeat("x", 60) + " |\n")
			}
			if err := os.WriteFile(filepath.Join(dir, "regprune.md"), []byte(md.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			// A wget that records its arguments and the file it posts.
			bin := t.TempDir()
			stub := "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$WGET_LOG\"\nwhile [ $# -gt 0 ]; do [ \"$1\" = --post-file ] && cp \"$2\" \"$WGET_BODY\"; shift; done\n"
			if err := os.WriteFile(filepath.Join(bin, "wget"), []byte(stub), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(sh, "-e", "-c", after[0])
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"),
				"WGET_LOG="+filepath.Join(dir, "wget.log"), "WGET_BODY="+filepath.Join(dir, "body"),
				"REGPRUNE_NOTE_TOKEN=tok", "CI_MERGE_REQUEST_IID=7", "CI_API_V4_URL=https://gitlab.example.com/api/v4",
				"CI_PROJECT_ID=42", "CI_PROJECT_URL=https://gitlab.example.com/g/p", "CI_JOB_ID=99")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("after_script: %v\n%s", err, out)
			}
			args, err := os.ReadFile(filepath.Join(dir, "wget.log"))
			if err != nil {
				t.Fatalf("wget was not run: %v", err)
			}
			if len(args) > 4<<10 || !strings.Contains(string(args), "--post-file") {
				t.Errorf("wget's arguments (%d bytes) do not post from a file:\n%.300s", len(args), args)
			}
			body, err := os.ReadFile(filepath.Join(dir, "body"))
			if err != nil {
				t.Fatal(err)
			}
			b := string(body)
			if !strings.HasPrefix(b, "body=## regprune plan") || !strings.Contains(b, "summary line %26 100%25 %2B more") {
				t.Errorf("the note is not the form-encoded plan:\n%.300s", b)
			}
			if len(b) > tc.maxBody {
				t.Errorf("the note is %d bytes, want at most %d", len(b), tc.maxBody)
			}
			link := strings.Contains(b, "https://gitlab.example.com/g/p/-/jobs/99/artifacts/file/regprune.html")
			if link != tc.capped || strings.Contains(b, "build-") == tc.capped {
				t.Errorf("capped: link %v, rows %v; want capped %v:\n%.500s", link, strings.Contains(b, "build-"), tc.capped, b)
			}
		})
	}
}
