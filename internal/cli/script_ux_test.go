package cli_test

import (
	"context"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/regprune/regprune/internal/registrytest"
)

// Script commands of the operator-experience cases (issue 13).

// authregistry starts a second registry that wants Basic auth (user ci,
// password s3cret) and sets $AUTHREG to its host:port. It is seeded like
// $REGISTRY's ci/app.
func cmdAuthRegistry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: authregistry")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg, err := registrytest.Start(ctx, registrytest.Options{Htpasswd: map[string]string{"ci": "s3cret"}})
	ts.Check(err)
	ts.Defer(func() { reg.Close() })
	day := 24 * time.Hour
	_, err = reg.SeedCI(ctx, "ci/app", 3, time.Now().Add(-4*day), day)
	ts.Check(err)
	ts.Setenv("AUTHREG", reg.Host)
}

// waitrequests N: wait until the proxy has seen at least N requests (it
// polls the proxy's counter; a background regprune is then known to be
// past its start, with its signal handler installed).
func cmdWaitRequests(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitrequests N")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	proxy := ts.Value(proxyKey{}).(*registrytest.Proxy)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for proxy.Counts().Total < n {
		select {
		case <-tick.C:
		case <-deadline:
			ts.Fatalf("the proxy saw %d requests after a minute, want %d", proxy.Counts().Total, n)
		}
	}
}
