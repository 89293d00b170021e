package sandbox

import (
	"context"
	"net"
	"net/http"
	"time"
)

// FlavourGGCR is go-containerregistry's registry (`crane registry
// serve`), in memory.
const FlavourGGCR = "go-containerregistry"

// StartHandler serves the registry h (another implementation than
// distribution, such as go-containerregistry's, whose package this one
// does not import: it pulls in net/http/httptest) on 127.0.0.1 with a
// random port, anonymous, under the name flavour. Seeding and inspection
// work as on distribution; GC does not.
func StartHandler(ctx context.Context, h http.Handler, flavour string) (*Registry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: ln.Addr().String(), Flavour: flavour, srvDone: make(chan struct{})}
	r.URL = "http://" + r.Host
	r.srv = &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, ErrorLog: discardLogger()}
	quietLogs() // Close restores them, as for the in-process distribution
	go func() {
		defer close(r.srvDone)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}
