package cli_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/regprune/regprune/internal/cli"
)

// syncBuffer is a bytes.Buffer safe for the progress display's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Progress goes to stderr only when it is a terminal, never with --quiet,
// and never into stdout.
func TestProgressOnlyOnATerminal(t *testing.T) {
	for _, tc := range []struct {
		name     string
		terminal bool
		flags    []string
		want     bool
	}{
		{"terminal", true, nil, true},
		{"terminal --quiet", true, []string{"--quiet"}, false},
		{"not a terminal", false, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := seededRegistry(t)
			var stdout bytes.Buffer
			var stderr syncBuffer
			args := append([]string{"apply", reg.Host + "/ci/app", "--keep-tag", "latest", "--no-cache", "-o", "json", "--yes"}, tc.flags...)
			if err := cli.Run(context.Background(), args, cli.Env{Stdout: &stdout, Stderr: &stderr, StderrTerminal: tc.terminal}); err != nil {
				t.Fatal(err)
			}
			got := stderr.String()
			shown := strings.Contains(got, "repositor") && strings.Contains(got, "deletions")
			if shown != tc.want {
				t.Errorf("progress shown %v, want %v; stderr:\n%q", shown, tc.want, got)
			}
			// Off a terminal stderr holds only the GC advice after apply.
			if !tc.want && strings.Contains(got, "repositor") {
				t.Errorf("progress on stderr: %q", got)
			}
			if err := oneJSONValue(stdout.Bytes()); err != nil {
				t.Errorf("stdout: %v", err)
			}
		})
	}
}

// With one repository the plan line counts the manifests read and the
// deletions done in it, not 0/1 repositories.
func TestProgressOfOneRepository(t *testing.T) {
	reg := seededRegistry(t)
	var stdout bytes.Buffer
	var stderr syncBuffer
	args := []string{"apply", reg.Host + "/ci/app", "--keep-tag", "latest", "--no-cache", "-o", "json", "--yes"}
	if err := cli.Run(context.Background(), args, cli.Env{Stdout: &stdout, Stderr: &stderr, StderrTerminal: true}); err != nil {
		t.Fatal(err)
	}
	got := stderr.String()
	// (A buffer is no terminal: the display cuts lines at its width, so
	// the test reads their start.)
	if !regexp.MustCompile(`plan  1 repository: [1-9]`).MatchString(got) || strings.Contains(got, "0/1 repositories") {
		t.Errorf("progress of one repository:\n%q", got)
	}
}
