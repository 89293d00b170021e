//go:build unix

package main

// A crash exits 1, never 2 (bad input): the real binary is built, started
// against a registry that accepts the connection and never answers, and
// made to crash with SIGQUIT (Go dumps its goroutines and exits 2). Bad
// input still exits 2.

import (
	"bytes"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "regprune")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
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
	bin := build(t)

	var stderr bytes.Buffer
	cmd := exec.Command(bin, "validate", "-f", "/dev/zero")
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
	cmd = exec.Command(bin, "plan", ln.Addr().String()+"/app", "--keep-tag", "latest", "--no-cache")
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
