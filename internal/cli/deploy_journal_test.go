package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/regprune/regprune/internal/cli"
)

// checkJournalVolume checks where a CronJob keeps its journal: on a
// persistent claim, never an emptyDir (restore would be impossible); in an
// Indexed Job of several pods, on a ReadWriteMany claim (a ReadWriteOnce
// one fails with Multi-Attach across nodes) with one directory per
// completion index and --journal-no-wal (SQLite's WAL is not safe on a
// network filesystem). Its init container forgets runs of more than 30
// days, and does so on a fresh journal.
func checkJournalVolume(t *testing.T, job, pod, c any, state string, docs []map[string]any) {
	t.Helper()
	var mount map[string]any
	for _, m := range dig(t, c, "volumeMounts").([]any) {
		mp := m.(map[string]any)["mountPath"].(string)
		if mp == state || mp == filepath.Dir(state) {
			mount = m.(map[string]any)
		}
	}
	if mount == nil {
		t.Fatalf("no volume at %s", state)
	}
	var vol map[string]any
	for _, v := range dig(t, pod, "volumes").([]any) {
		if v.(map[string]any)["name"] == mount["name"] {
			vol = v.(map[string]any)
		}
	}
	if vol == nil || vol["persistentVolumeClaim"] == nil {
		t.Fatalf("the journal's volume %v is not a persistent claim: restore would find nothing", vol)
	}
	claim := dig(t, vol, "persistentVolumeClaim", "claimName")
	var modes []string
	for _, d := range docs {
		if d["kind"] == "PersistentVolumeClaim" && dig(t, d, "metadata", "name") == claim {
			modes = strs(dig(t, d, "spec", "accessModes"))
		}
	}
	args := strs(dig(t, c, "args"))
	if dig(t, job, "completionMode") == "Indexed" {
		if !slices.Contains(modes, "ReadWriteMany") {
			t.Errorf("claim %v (%v) mounted by several pods is not ReadWriteMany", claim, modes)
		}
		if sp, _ := mount["subPathExpr"].(string); !strings.Contains(sp, "$(JOB_COMPLETION_INDEX)") {
			t.Errorf("the shards share one journal directory (subPathExpr %q)", sp)
		}
		if !slices.Contains(args, "--journal-no-wal") {
			t.Errorf("a journal on a ReadWriteMany volume without --journal-no-wal: %v", args)
		}
	}
	if !slices.Contains(args, "--yes") || !slices.Contains(args, "--strict") {
		t.Errorf("the CronJob's apply lacks --yes or --strict: %v", args)
	}
	inits, _ := dig(t, pod, "initContainers").([]any)
	pruned := false
	for _, ic := range inits {
		a := strs(dig(t, ic, "args"))
		if len(a) >= 4 && a[0] == "runs" && a[1] == "prune" && slices.Contains(a, "30d") {
			pruned = true
			var out, errb bytes.Buffer
			dir := t.TempDir()
			if err := cli.Run(context.Background(), a, cli.Env{Stdout: &out, Stderr: &errb, Getenv: envOf(map[string]string{"XDG_STATE_HOME": dir})}); err != nil {
				t.Errorf("%v on a fresh journal: %v\n%s", a, err, errb.String())
			}
		}
	}
	if !pruned {
		t.Error("no init container runs 'regprune runs prune --older-than 30d'")
	}
}

// The inline Indexed Job of docs/deploy.md (once the README's) keeps its
// journal as cronjob-indexed.yaml does: no ReadWriteOnce claim mounted by
// 4 pods.
func TestREADMEIndexedExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if !strings.Contains(m[1], "completionMode: Indexed") {
			continue
		}
		found = true
		var docs []map[string]any
		dec := yaml.NewDecoder(strings.NewReader(m[1]))
		for {
			var d map[string]any
			if dec.Decode(&d) != nil {
				break
			}
			docs = append(docs, d)
		}
		var cron map[string]any
		for _, d := range docs {
			if d["kind"] == "CronJob" {
				cron = d
			}
		}
		if cron == nil {
			t.Fatalf("docs/deploy.md's Indexed example has no CronJob:\n%s", m[1])
		}
		job := dig(t, cron, "spec", "jobTemplate", "spec")
		pod := dig(t, job, "template", "spec")
		c := dig(t, pod, "containers", 0)
		state := ""
		for _, e := range dig(t, c, "env").([]any) {
			if e.(map[string]any)["name"] == "XDG_STATE_HOME" {
				state, _ = e.(map[string]any)["value"].(string)
			}
		}
		checkJournalVolume(t, job, pod, c, state, docs)
	}
	if !found {
		t.Fatal("no Indexed Job example in docs/deploy.md")
	}
}
