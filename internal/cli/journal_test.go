package cli_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/cli"
)

// The question before apply names the journal the run will be recorded
// in, not "journal: off" (issue 22 point 6).
func TestApplyQuestionNamesTheJournal(t *testing.T) {
	reg := seededRegistry(t)
	path := filepath.Join(t.TempDir(), "j.db")
	var stdout, stderr bytes.Buffer
	err := cli.Run(context.Background(), []string{"apply", reg.Host + "/ci/app", "--keep-tag", "latest", "--no-cache", "--journal", path},
		cli.Env{Stdout: &stdout, Stderr: &stderr, Stdin: strings.NewReader("no\n"), Interactive: true, StdoutTerminal: true})
	if err == nil {
		t.Fatal("apply without yes: no error")
	}
	out := stdout.String()
	if !strings.Contains(out, "Enter a value:") {
		t.Fatalf("not asked:\n%s", out)
	}
	if strings.Contains(out, "journal: off") || !strings.Contains(out, "journal: "+path+" (no run recorded)") {
		t.Fatalf("the question does not name the journal:\n%s", out)
	}
}

// The CronJobs set fsGroup: kubelet's default recursive change at each
// mount would make the journal's (and the cache's) directory
// group-writable, which apply refuses; OnRootMismatch changes it once.
func TestCronJobsKeepTheJournalPrivate(t *testing.T) {
	for _, file := range []string{"cronjob.yaml", "cronjob-indexed.yaml"} {
		for _, d := range yamlDocs(t, filepath.Join(repoRoot, "deploy", "kubernetes", file)) {
			if d["kind"] != "CronJob" {
				continue
			}
			sc := dig(t, d, "spec", "jobTemplate", "spec", "template", "spec", "securityContext")
			if m, _ := sc.(map[string]any); m["fsGroup"] != nil && m["fsGroupChangePolicy"] != "OnRootMismatch" {
				t.Errorf("%s: fsGroup without fsGroupChangePolicy: OnRootMismatch", file)
			}
		}
	}
}
