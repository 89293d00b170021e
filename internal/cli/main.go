package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/regprune/regprune/internal/safe"
)

// ErrInterrupted is the cause of a run stopped by SIGINT or SIGTERM.
var ErrInterrupted = errors.New("interrupted")

// signalError is ErrInterrupted for one signal.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string {
	if e.sig == syscall.SIGTERM {
		return "interrupted (SIGTERM)"
	}
	return "interrupted (SIGINT)"
}
func (e signalError) Unwrap() error { return ErrInterrupted }

// Main is regprune's main: it runs the command line of the process,
// reports an error once on stderr and returns the exit code (see
// ExitCode). cmd/regprune calls it, and so do the testscript tests, so
// that they run the real main and not a copy. The first
// SIGINT or SIGTERM cancels the run: nothing new starts, the report says
// what was done, and the exit code is 130 (143 for SIGTERM). A second one
// exits at once.
//
// regprune is one process: a signal is seen once, and killing it stops its
// work. A panic, in Main's goroutine or in one regprune starts (package
// safe), exits 1 with "internal error", never 2 (bad input).
func Main() (code int) {
	defer func() {
		if v := recover(); v != nil {
			safe.Print(os.Stderr, safe.Recover(v))
			code = ExitFailure
		}
	}()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	safe.Go(func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		cancel(signalError{s})
		if _, ok := <-sigs; ok {
			fmt.Fprintln(os.Stderr, "regprune: interrupted twice, exiting now")
			os.Exit(signalCode(s))
		}
	})
	env := Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Interactive:    isTerminal(os.Stdin),
		StdoutTerminal: isTerminal(os.Stdout),
		StderrTerminal: isTerminal(os.Stderr),
	}
	err := Run(ctx, os.Args[1:], env)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ErrInterrupted) {
		err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	code = ExitCode(err)
	if err != nil {
		reportError(os.Stderr, os.Args[1:], err, code)
	}
	if p := safe.Recovered(); p != nil {
		// A panic in an errgroup's goroutine became an error that failed
		// its repository closed; the run still ends as a crash.
		safe.Print(os.Stderr, p)
		code = ExitFailure
	}
	return code
}

// reportError prints the error a run ended with, once: a plain
// "regprune: ..." line, or a JSON log record with --log-format json.
func reportError(w io.Writer, args []string, err error, code int) {
	if !jsonLogs(args) {
		fmt.Fprintln(w, "regprune:", err)
		return
	}
	slog.New(slog.NewJSONHandler(w, nil)).Error("regprune failed", "err", err.Error(), "exit_code", code)
}

// jsonLogs reports whether args ask for --log-format json.
func jsonLogs(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--log-format=json":
			return true
		case a == "--log-format" && i+1 < len(args) && args[i+1] == "json":
			return true
		}
	}
	return false
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

func signalCode(s os.Signal) int {
	if s == syscall.SIGTERM {
		return 128 + int(syscall.SIGTERM)
	}
	return 128 + int(syscall.SIGINT)
}

// interruptedCode is the exit code of a run stopped by a signal.
func interruptedCode(err error) int {
	var se signalError
	if errors.As(err, &se) {
		return signalCode(se.sig)
	}
	return ExitInterrupted
}
