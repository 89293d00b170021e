// Package registrytest is what tests import to run a real CNCF
// distribution v3 registry in process: thin testing.TB wrappers around
// internal/sandbox, which holds the registry, the token server, seeding,
// garbage collection, the fault-injecting proxy and the referrers
// stand-in (see its package documentation for what is real and what is
// written here).
//
// The types are aliases of sandbox's, so a *registrytest.Registry is a
// *sandbox.Registry. The wrappers fail the test on error and close what
// they start with t.Cleanup. Only tests import this package; the demo and
// the benchmark use internal/sandbox, and the product binary neither (see
// cmd/regprune/deps_test.go).
package registrytest
