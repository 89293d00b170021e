package cli_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/registrytest"
)

func seededRegistry(t *testing.T) *registrytest.Registry {
	t.Helper()
	ctx := context.Background()
	reg, err := registrytest.Start(ctx, registrytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	day := 24 * time.Hour
	if _, err := reg.SeedCI(ctx, "ci/app", 5, time.Now().Add(-6*day), day); err != nil {
		t.Fatal(err)
	}
	return reg
}

func tagsOf(t *testing.T, reg *registrytest.Registry) []string {
	t.Helper()
	tags, err := reg.Tags(context.Background(), "ci/app")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	return tags
}

// At a terminal, apply shows the totals and deletes only after "yes";
// --yes skips the question; off a terminal it is never asked.
func TestApplyAsksAtATerminal(t *testing.T) {
	for _, tc := range []struct {
		name        string
		interactive bool
		answer      string
		flags       []string
		asked       bool
		deleted     bool
	}{
		{name: "no", interactive: true, answer: "no\n", asked: true},
		{name: "empty", interactive: true, answer: "", asked: true},
		{name: "yes", interactive: true, answer: "yes\n", asked: true, deleted: true},
		{name: "--yes", interactive: true, flags: []string{"--yes"}, deleted: true},
		{name: "off a terminal --yes", interactive: false, answer: "no\n", flags: []string{"--yes"}, deleted: true},
		{name: "json yes", interactive: true, answer: "yes\n", flags: []string{"-o", "json"}, asked: true, deleted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := seededRegistry(t)
			var stdout, stderr bytes.Buffer
			args := append([]string{"apply", reg.Host + "/ci/app", "--keep-tag", "latest", "--no-cache"}, tc.flags...)
			err := cli.Run(context.Background(), args, cli.Env{Stdout: &stdout, Stderr: &stderr,
				Stdin: strings.NewReader(tc.answer), Interactive: tc.interactive, StdoutTerminal: tc.interactive})
			question := stdout.String()
			if slices.Contains(tc.flags, "json") {
				// The question goes to stderr; stdout is the JSON alone.
				question = stderr.String()
				if oneJSONValue(stdout.Bytes()) != nil {
					t.Errorf("stdout is not one JSON value:\n%s", stdout.String())
				}
			}
			asked := strings.Contains(question, "Enter a value:")
			if asked != tc.asked {
				t.Errorf("asked %v, want %v:\n%s", asked, tc.asked, question)
			}
			if asked && !strings.Contains(question, "regprune will delete 4 images (4 manifests) in 1 repository, freeing about") {
				t.Errorf("the question does not show the totals:\n%s", question)
			}
			tags := tagsOf(t, reg)
			if tc.deleted {
				if err != nil || !slices.Equal(tags, []string{"1005", "latest"}) {
					t.Errorf("err %v, tags %v; want deleted", err, tags)
				}
				return
			}
			if len(tags) != 6 {
				t.Errorf("tags %v: something was deleted", tags)
			}
			if cli.ExitCode(err) != cli.ExitFailure || !strings.Contains(err.Error(), "apply cancelled") {
				t.Errorf("err %v (exit %d), want apply cancelled, exit 1", err, cli.ExitCode(err))
			}
		})
	}
}
