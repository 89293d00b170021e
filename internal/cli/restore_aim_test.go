package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/cli"
)

// restore --digest takes the short digest the tables print when it is
// unique in the run, with or without "sha256:".
func TestRestoreShortDigest(t *testing.T) {
	reg := seededRegistry(t)
	state := t.TempDir()
	env := func() cli.Env {
		return cli.Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(k string) string {
			if k == "XDG_STATE_HOME" {
				return state
			}
			return ""
		}}
	}
	run := func(args ...string) string {
		t.Helper()
		e := env()
		if err := cli.Run(context.Background(), args, e); err != nil {
			t.Fatalf("regprune %s: %v\n%s", strings.Join(args, " "), err, e.Stderr.(*bytes.Buffer).String())
		}
		return e.Stdout.(*bytes.Buffer).String()
	}
	out := run("apply", reg.Host+"/ci/app", "--keep-tag", "latest", "--yes", "--no-cache", "-o", "json")
	var p struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil || p.RunID == "" {
		t.Fatalf("no run id: %v\n%s", err, out)
	}
	var entries struct {
		Entries []struct {
			Kind, Digest string
			Tags         []string
		}
	}
	if err := json.Unmarshal([]byte(run("runs", "show", p.RunID, "-o", "json")), &entries); err != nil {
		t.Fatal(err)
	}
	byTag := map[string]string{}
	for _, e := range entries.Entries {
		for _, tag := range e.Tags {
			byTag[tag] = e.Digest
		}
	}
	if byTag["1002"] == "" || byTag["1004"] == "" {
		t.Fatalf("entries %+v", entries)
	}
	run("restore", p.RunID, "--digest", byTag["1002"][:len("sha256:")+12], "-y")
	run("restore", p.RunID, "--digest", strings.TrimPrefix(byTag["1004"], "sha256:")[:12], "-y")
	tags := tagsOf(t, reg)
	if !slices.Equal(tags, []string{"1002", "1004", "1005", "latest"}) {
		t.Errorf("tags %v, want 1002 and 1004 back", tags)
	}
}
