package cli_test

// The tests of internal/demo (regprune-demo's run, --serve and flags).
// They live in this test binary, which embeds the registry server
// anyway, so that internal/demo needs no test binary of its own: each
// is a full link of distribution in go test ./... (about 1.7 CPU-s).

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/demo"
)

// The README's first command, as a test: Run plans, applies, garbage
// collects and returns an error if a kept image does not pull in full
// afterwards.
func TestDemoRun(t *testing.T) {
	var out bytes.Buffer
	if err := demo.Run(context.Background(), demo.Options{Out: &out, Builds: 3}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if out.Len() == 0 {
		t.Fatal("no output")
	}
}

// TestDemoServe starts the serving demo, runs the plan command it prints
// through the real CLI, and stops it by cancelling its context: no wall
// clock, the test waits on Ready and on Serve's return.
func TestDemoServe(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	serveCtx, stop := context.WithCancel(ctx)
	out := &syncBuffer{}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- demo.Serve(serveCtx, demo.ServeOptions{
			Options: demo.Options{Out: out, Builds: 4},
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
	for _, want := range []string{host + "/libinput/libinput/fedora/28", host + "/libinput/libinput/ubuntu/18.04", "release-1"} {
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

// regprune-demo (demo.Main): bad flags exit 2, name the bad value and start no
// registry.
func TestDemoBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--builds", "1"}, "--builds 1: want 2 to 500"},
		{[]string{"--concurrency", "0"}, "--concurrency 0: want 1 to 256"},
		{[]string{"--builds", "abc"}, `"abc"`},
		{[]string{"extra"}, `"extra"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := demo.Main(context.Background(), tc.args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tc.args, code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
			t.Errorf("%v: stdout %q, stderr %q; want %q on stderr only", tc.args, stdout.String(), stderr.String(), tc.want)
		}
	}
}
