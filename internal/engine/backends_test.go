package engine_test

import (
	"testing"

	"github.com/regprune/regprune/internal/registrytest"
)

// newRegistry starts a registry of one backend for a test.
type newRegistry func(t testing.TB, o registrytest.Options) *registrytest.Registry

// backends are the real registries the integration tests run on: CNCF
// distribution v3 in process, and distribution 2.8.2 (Debian's
// docker-registry, the family GitLab's registry was forked from) as a
// child process. Where docker-registry is missing, its subtests skip and
// say how to install it (or fail with REGPRUNE_REQUIRE_DIST2=1).
var backends = []struct {
	name string
	new  newRegistry
}{
	{"v3", registrytest.New},
	{"dist2", registrytest.NewDist2},
}

// onBackends runs test once per backend, as subtests named after them.
func onBackends(t *testing.T, test func(t *testing.T, newReg newRegistry)) {
	t.Helper()
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.new) })
	}
}
