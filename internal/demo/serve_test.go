package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cli"
)

// syncBuffer is a bytes.Buffer safe for Serve's writes and the test's reads.
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

// TestServe starts the serving demo, runs the plan command it prints
// through the real CLI, and stops it by cancelling its context: no wall
// clock, the test waits on Ready and on Serve's return.
func TestServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serveCtx, stop := context.WithCancel(ctx)
	out := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Serve(serveCtx, ServeOptions{
			Options: Options{Out: out, Builds: 4},
			Ready:   func(host string) { ready <- host },
		})
	}()
	var host string
	select {
	case host = <-ready:
	case err := <-done:
		t.Fatalf("Serve returned before it was ready: %v\n%s", err, out)
	case <-ctx.Done():
		t.Fatal("Serve was not ready in time")
	}
	text := out.String()
	for _, want := range []string{host + "/" + fedora, host + "/" + ubuntu, "release-1"} {
		if !strings.Contains(text, want) {
			t.Errorf("output does not mention %q:\n%s", want, text)
		}
	}

	// The first command it suggests, as a user would paste it.
	var args []string
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "regprune" && f[1] == "plan" {
			for _, a := range f[1:] {
				args = append(args, strings.Trim(a, "'"))
			}
			break
		}
	}
	if args == nil {
		t.Fatalf("no regprune plan command in the output:\n%s", text)
	}
	var stdout, stderr bytes.Buffer
	args = append(args, "-o", "json", "--no-cache")
	if err := cli.Run(ctx, args, cli.Env{Stdout: &stdout, Stderr: &stderr}); err != nil {
		t.Fatalf("regprune %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var p struct {
		Repositories []struct {
			Repository string
			Images     []struct {
				Tags   []string
				Action string
			}
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, stdout.String())
	}
	if len(p.Repositories) != 2 {
		t.Fatalf("plan has %d repositories, want 2:\n%s", len(p.Repositories), stdout.String())
	}
	kept, deleted := map[string]bool{}, 0
	for _, r := range p.Repositories {
		for _, it := range r.Images {
			if it.Action == "delete" {
				deleted++
			}
			for _, tag := range it.Tags {
				if it.Action == "keep" {
					kept[tag] = true
				}
			}
		}
	}
	if deleted == 0 || !kept["latest"] || !kept["release-1"] {
		t.Errorf("plan deletes %d images, keeps tags %v; want deletions and latest, release-1 kept:\n%s", deleted, kept, stdout.String())
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Serve did not return after its context was cancelled")
	}
}
