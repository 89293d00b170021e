package sandbox

import (
	"errors"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// errNotHTTP is what plainHTTP answers to a request that is not plain
// http.
var errNotHTTP = errors.New("registrytest: the sandbox's registries speak plain http only")

// plainHTTP is the transport of this package's own go-containerregistry
// calls (seeding, Tags, Exists, Pullable...). Every registry, token server
// and proxy of this package serves plain http on 127.0.0.1, but ggcr's
// ping tries https first on every new transport (each push, get and pull
// makes one): a TCP connection, a TLS ClientHello with fresh key shares
// and a 400 from the registry, per call. plainHTTP refuses https at once,
// without dialing, and ggcr falls back to http as it does today after the
// failed handshake. What reaches the registry is the same minus those
// failed handshakes.
type plainHTTP struct{ next http.RoundTripper }

func (p plainHTTP) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errNotHTTP
	}
	return p.next.RoundTrip(req)
}

// ggcrTransport is plainHTTP over ggcr's default transport (50 idle
// connections per host).
var ggcrTransport http.RoundTripper = plainHTTP{next: remote.DefaultTransport}

// pullTransport is plainHTTP over net/http's default transport, which
// Pullable used before.
var pullTransport http.RoundTripper = plainHTTP{next: http.DefaultTransport}

// anonClient is the client of the checks of an anonymous registry
// (Exists, Pullable), which need no ggcr transport: ggcr's would ping
// /v2/ first on every call.
var anonClient = &http.Client{Transport: pullTransport}
