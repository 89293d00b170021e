package sandbox

import (
	"context"
	"os"
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

// NewDist2 is StartDist2 for tests: where the binary is missing it skips
// the test (fails it when REGPRUNE_REQUIRE_DIST2=1), and it stops the
// registry with t.Cleanup.
func NewDist2(t testing.TB, o Options) *Registry {
	t.Helper()
	if _, err := Dist2Path(); err != nil {
		if os.Getenv(RequireDist2Env) == "1" {
			t.Fatalf("%v (%s=1 requires it)", err, RequireDist2Env)
		}
		t.Skipf("%v", err)
	}
	r, err := StartDist2(context.Background(), o)
	if err != nil {
		t.Fatalf("sandbox: start distribution 2.x: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("sandbox: stop distribution 2.x: %v", err)
		}
	})
	return r
}
