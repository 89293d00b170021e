package sandbox

import (
	"context"
	"testing"
)

// New and NewTestProxy mirror registrytest's wrappers, which this package's
// own tests cannot import (registrytest imports sandbox).

func New(t testing.TB, o Options) *Registry {
	t.Helper()
	r, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("sandbox: start registry: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("sandbox: close registry: %v", err)
		}
	})
	return r
}

func NewTestProxy(t testing.TB, target string, o ProxyOptions) *Proxy {
	t.Helper()
	p, err := NewProxy(target, o)
	if err != nil {
		t.Fatalf("sandbox: start proxy: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}
