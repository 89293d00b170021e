package safe

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sync/errgroup"
)

func TestFuncRecoversIntoAnError(t *testing.T) {
	var g errgroup.Group
	g.Go(Func(func() error { panic("boom") }))
	g.Go(Func(func() error { return nil }))
	err := g.Wait()
	var p *PanicError
	if !errors.Is(err, ErrInternal) || !errors.As(err, &p) || p.Value != "boom" {
		t.Fatalf("Wait() = %v, want the recovered panic", err)
	}
	if !strings.Contains(string(p.Stack), "safe_test.go") {
		t.Errorf("the stack does not name where the panic was raised:\n%s", p.Stack)
	}
	if Recovered() == nil {
		t.Error("Recovered() = nil after a recovered panic")
	}
	want := errors.New("plain")
	if err := Func(func() error { return want })(); err != want {
		t.Errorf("Func passes %v through as %v", want, err)
	}
}

func TestGoCrashes(t *testing.T) {
	got := make(chan *PanicError, 1)
	old := crash
	crash = func(p *PanicError) { got <- p }
	defer func() { crash = old }()
	Go(func() {
		var s []int
		_ = s[len(s)] // a runtime error, recovered like any panic
	})
	p := <-got
	if !errors.Is(p, ErrInternal) || !strings.Contains(p.Error(), "index out of range") {
		t.Fatalf("crash got %v", p)
	}
}

func TestHook(t *testing.T) {
	var kinds []string
	SetTestHook(func(k, caller string) { kinds = append(kinds, k, caller) })
	defer SetTestHook(nil)
	_ = Func(func() error { return nil })()
	if len(kinds) != 2 || kinds[0] != "func" || kinds[1] != "github.com/regprune/regprune/internal/safe.TestHook" {
		t.Fatalf("hook saw %v", kinds)
	}
}
