//go:build unix

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// A crash must never look like bad input. Go exits 2 on a panic, a fatal
// runtime error (out of memory, say) and SIGQUIT, and 2 is regprune's
// bad-input code. So regprune runs itself as a child: the child says
// "bad input" on a pipe before it exits 2, and the parent turns any other
// exit 2 into 1.

// childEnv marks the child; its value is the number of the pipe's fd.
const childEnv = "REGPRUNE_SUPERVISED_FD"

// supervise runs the child and returns the exit code regprune must exit
// with; ok is false when regprune runs in the child, or cannot start one
// (it then runs in this process).
func supervise() (code int, ok bool) {
	if os.Getenv(childEnv) != "" {
		// The pipe must not outlive this process in a credential helper
		// it runs: the parent waits for its end.
		syscall.CloseOnExec(3)
		return 0, false
	}
	self, err := os.Executable()
	if err != nil {
		return 0, false
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, false
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{w} // fd 3 in the child
	cmd.Env = append(os.Environ(), childEnv+"=3")
	// Signals the child must see come to it; a terminal's Ctrl-C reaches
	// both (the child's handling of a second interrupt is the same).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return 0, false
	}
	w.Close()
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	said, _ := io.ReadAll(io.LimitReader(r, 64))
	r.Close()
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), true
		}
		code = ee.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "regprune:", err)
		return 1, true
	}
	if code == 2 && string(said) != usageMark {
		fmt.Fprintln(os.Stderr, "regprune: crashed (this is a bug, not bad input); exit 1")
		return 1, true
	}
	return code, true
}

const usageMark = "bad input\n"

// markUsage tells the supervising parent that the exit 2 that follows is
// bad input.
func markUsage() {
	if os.Getenv(childEnv) != "3" {
		return
	}
	f := os.NewFile(3, "supervisor")
	_, _ = io.WriteString(f, usageMark)
	f.Close()
}
