//go:build linux

package cli_test

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/ptytest"
)

// The real binary (testscript's regprune command, cli.Main) in a real
// pseudo-terminal: stdin is the terminal, stdout a pipe as in
// `regprune apply ... | tee log`. It asks (on stderr, since stdout is
// not a terminal), deletes only after "yes"; with no terminal and no
// --yes it exits 2 before any request.
func TestApplyAsksInAPTY(t *testing.T) {
	bin, err := exec.LookPath("regprune")
	if err != nil {
		t.Skipf("no regprune command: %v", err)
	}
	for _, tc := range []struct {
		name    string
		pty     bool
		answer  string
		args    []string
		code    int
		asked   bool
		deleted bool
	}{
		{name: "piped stdout, no", pty: true, answer: "no\n", code: 1, asked: true},
		{name: "piped stdout, yes", pty: true, answer: "yes\n", code: 0, asked: true, deleted: true},
		{name: "-y", pty: true, args: []string{"-y"}, code: 0, deleted: true},
		{name: "no terminal", pty: false, code: 2},
		{name: "no terminal --yes", pty: false, args: []string{"--yes"}, code: 0, deleted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := seededRegistry(t)
			args := append([]string{"apply", reg.Host + "/ci/app", "--keep-tag", "latest", "--no-cache"}, tc.args...)
			cmd := exec.Command(bin, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr // pipes, not terminals
			if tc.pty {
				master, tty := ptytest.Open(t)
				cmd.Stdin = tty
				// The answer waits in the terminal's line buffer until
				// regprune reads it; the echo is drained.
				if _, err := master.Write([]byte(tc.answer)); err != nil {
					t.Fatal(err)
				}
				go func() {
					buf := make([]byte, 4096)
					for {
						if _, err := master.Read(buf); err != nil {
							return
						}
					}
				}()
			}
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstderr:\n%s", code, tc.code, stderr.String())
			}
			asked := strings.Contains(stderr.String(), "Enter a value:")
			if asked != tc.asked {
				t.Errorf("asked %v, want %v\nstderr:\n%s", asked, tc.asked, stderr.String())
			}
			if strings.Contains(stdout.String(), "Enter a value:") {
				t.Errorf("the question went into the pipe:\n%s", stdout.String())
			}
			if tc.code == 2 && !strings.Contains(stderr.String(), "--yes") {
				t.Errorf("the refusal does not name --yes:\n%s", stderr.String())
			}
			tags := tagsOf(t, reg)
			if tc.deleted != slices.Equal(tags, []string{"1005", "latest"}) || !tc.deleted && len(tags) != 6 {
				t.Errorf("tags %v, deleted want %v", tags, tc.deleted)
			}
		})
	}
}
