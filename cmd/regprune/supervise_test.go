//go:build unix

package main

// A crash exits 1, never 2 (bad input): the real main (this test binary
// running main(), see TestMain) is started against a registry that accepts the connection and never answers, and
// made to crash with SIGQUIT (Go dumps its goroutines and exits 2). Bad
// input still exits 2.

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// regprune returns a command that runs the real main() with args: this
// test binary with runMainEnv set (see TestMain).
func regprune(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if err == nil {
		return 0
	}
	if !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return ee.ExitCode()
}

func TestCrashNeverExitsBadInput(t *testing.T) {
	var stderr bytes.Buffer
	cmd := regprune(t, "validate", "-f", "/dev/zero")
	cmd.Stderr = &stderr
	if code := exitCode(t, cmd.Run()); code != 2 || !strings.Contains(stderr.String(), "bound of a policy file") {
		t.Fatalf("validate -f /dev/zero: exit %d, stderr %q; want 2 naming the bound", code, stderr.String())
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	stderr.Reset()
	cmd = regprune(t, "plan", ln.Addr().String()+"/app", "--keep-tag", "latest", "--no-cache")
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept() // the child is running and waits for an answer
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	code := exitCode(t, cmd.Wait())
	if code != 1 || !strings.Contains(stderr.String(), "crashed") || !strings.Contains(stderr.String(), "SIGQUIT") {
		t.Fatalf("crash: exit %d, want 1; stderr:\n%.2000s", code, stderr.String())
	}
}
