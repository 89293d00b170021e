package safe

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

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

func TestEachLimitsAndReturnsTheFirstError(t *testing.T) {
	var mu sync.Mutex
	running, most, calls := 0, 0, 0
	err := Each(context.Background(), 50, 3, func(i int) error {
		mu.Lock()
		running, calls = running+1, calls+1
		most = max(most, running)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	})
	if err != nil || calls != 50 || most > 3 {
		t.Fatalf("Each = %v after %d calls, %d at once; want nil, 50, at most 3", err, calls, most)
	}
	want := errors.New("first")
	calls = 0
	err = Each(context.Background(), 50, 1, func(i int) error {
		calls++ // limit 1: one at a time
		if i == 2 {
			return want
		}
		return nil
	})
	if err != want || calls != 3 {
		t.Fatalf("Each = %v after %d calls, want %v after 3 (none started after the error)", err, calls, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Each(ctx, 5, 1, func(int) error { t.Error("called after the cancel"); return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Each on a cancelled ctx = %v", err)
	}
}

func TestEachCrashesOnAPanic(t *testing.T) {
	got := make(chan *PanicError, 1)
	old := crash
	crash = func(p *PanicError) { got <- p }
	defer func() { crash = old }()
	var kinds []string
	SetTestHook(func(k, caller string) { kinds = append(kinds, k, caller) })
	defer SetTestHook(nil)
	err := Each(context.Background(), 1, 2, func(int) error { panic("boom") })
	p := <-got
	if p.Value != "boom" || !errors.Is(err, ErrInternal) {
		t.Fatalf("crash got %v, Each = %v", p, err)
	}
	if len(kinds) != 2 || kinds[0] != "go" || kinds[1] != "github.com/regprune/regprune/internal/safe.TestEachCrashesOnAPanic" {
		t.Fatalf("hook saw %v, want go and the caller of Each", kinds)
	}
}
