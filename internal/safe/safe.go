// Package safe starts regprune's goroutines so that a panic in one never
// ends the process with Go's exit code 2, which is regprune's code for bad
// input: a crash must never look like "bad input, nothing sent".
//
// Every goroutine regprune's own code starts goes through Go, through
// Func when an errgroup runs it, or through Each, the one limited fan-out. A Go runtime fatal error (out of memory,
// a concurrent map write, a stack overflow), SIGQUIT and panics in
// goroutines of libraries are not panics regprune can recover: they still
// exit 2.
package safe

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// ErrInternal is the cause of every error a recovered panic becomes.
var ErrInternal = errors.New("internal error")

// PanicError is a recovered panic: its value and the stack it was raised
// on.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("internal error (a bug in regprune; please report it): panic: %v", e.Value)
}

func (e *PanicError) Unwrap() error { return ErrInternal }

var first atomic.Pointer[PanicError]

// Recovered is the first panic this process recovered, or nil.
func Recovered() *PanicError { return first.Load() }

// Recover turns v, a value recover returned, into a PanicError with the
// stack of the deferred call, and records it for Recovered. Call it from
// the deferred function that called recover.
func Recover(v any) *PanicError {
	p := &PanicError{Value: v, Stack: debug.Stack()}
	first.CompareAndSwap(nil, p)
	return p
}

// Print writes p and its stack to w.
func Print(w io.Writer, p *PanicError) {
	fmt.Fprintf(w, "regprune: %v\n\n%s", p, p.Stack)
}

// Func wraps fn for errgroup.Go: a panic in fn is recovered and returned
// as a *PanicError, and the caller's error path (which fails closed) takes
// it from there. The process then exits 1 (see Recovered).
func Func(fn func() error) func() error {
	caller := testCaller()
	return func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = Recover(v)
			}
		}()
		testHook("func", caller)
		return fn()
	}
}

// Go runs fn in a new goroutine. A panic in fn is recovered and ends the
// process at once with exit code 1, after "regprune: internal error ..."
// and the stack on stderr: such a goroutine has nobody to hand an error
// to, and going on without its work could block the run or leave it half
// decided. The journal copes with the process ending there as with a kill.
func Go(fn func()) {
	caller := testCaller()
	go func() {
		defer func() {
			if v := recover(); v != nil {
				crash(Recover(v))
			}
		}()
		testHook("go", caller)
		fn()
	}()
}

// crash ends the process after a panic in a goroutine of Go.
var crash = func(p *PanicError) {
	Print(os.Stderr, p)
	os.Exit(1)
}

var hook atomic.Pointer[func(kind, caller string)]

// SetTestHook makes every goroutine started by Go ("go") or run by Func
// ("func") call fn first, with the name of the function that called Go or
// Func; nil removes it. Only tests set it, to make a goroutine panic
// (cmd/regprune's TestMain, for the real binary).
func SetTestHook(fn func(kind, caller string)) {
	if fn == nil {
		hook.Store(nil)
		return
	}
	hook.Store(&fn)
}

func testHook(kind, caller string) {
	if h := hook.Load(); h != nil {
		(*h)(kind, caller)
	}
}

// testCaller names the caller of Go or Func when a test hook is set.
func testCaller() string {
	if hook.Load() == nil {
		return ""
	}
	pc, _, _, _ := runtime.Caller(2)
	if f := runtime.FuncForPC(pc); f != nil {
		return f.Name()
	}
	return ""
}
