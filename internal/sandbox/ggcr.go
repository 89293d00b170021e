package sandbox

import (
	"context"
	"net"
	"net/http"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// FlavourGGCR is go-containerregistry's registry (`crane registry
// serve`), in memory.
const FlavourGGCR = "go-containerregistry"

// StartGGCR runs go-containerregistry's in-memory registry on 127.0.0.1
// with a random port, anonymous. It differs from distribution where
// regprune must not trust a DELETE's answer alone: a DELETE by digest
// removes the digest only, and every tag that named it still resolves.
// Seeding and inspection work as on the other flavours; GC does not (the
// registry has none).
func StartGGCR(ctx context.Context) (*Registry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: ln.Addr().String(), Flavour: FlavourGGCR, srvDone: make(chan struct{})}
	r.URL = "http://" + r.Host
	r.srv = &http.Server{Handler: ggcrregistry.New(ggcrregistry.Logger(discardLogger())), ReadHeaderTimeout: 30 * time.Second, ErrorLog: discardLogger()}
	quietLogs() // Close restores them, as for the in-process distribution
	go func() {
		defer close(r.srvDone)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}
