package cli_test

import (
	"bytes"
	"context"
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
			shown := strings.Contains(got, "repositories") && strings.Contains(got, "deletions")
			if shown != tc.want {
				t.Errorf("progress shown %v, want %v; stderr:\n%q", shown, tc.want, got)
			}
			// Off a terminal stderr holds only the GC advice after apply.
			if !tc.want && strings.Contains(got, "repositories") {
				t.Errorf("progress on stderr: %q", got)
			}
			if err := oneJSONValue(stdout.Bytes()); err != nil {
				t.Errorf("stdout: %v", err)
			}
		})
	}
}
