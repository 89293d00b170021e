package sandbox

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// standIn is what the vendor stand-ins (GitHubAPI, DockerHub, GitLab)
// share: a server on 127.0.0.1 in front of a real registry, a reverse
// proxy to it, and options O and request counts C under one mutex.
type standIn[O, C any] struct {
	// Host names repositories (Host/repo); URL is the API URL.
	Host, URL string

	reg   *Registry
	srv   *http.Server
	proxy *httputil.ReverseProxy

	mu     sync.Mutex
	opts   O
	counts C
}

// start listens on 127.0.0.1, proxies to reg (which must not require
// authentication) and serves h; the API is at apiPath below the host.
func (s *standIn[O, C]) start(reg *Registry, o O, h http.Handler, apiPath string) error {
	target, err := url.Parse(reg.URL)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.reg, s.opts = reg, o
	s.Host = ln.Addr().String()
	s.URL = "http://" + s.Host + apiPath
	s.proxy = httputil.NewSingleHostReverseProxy(target)
	s.proxy.ErrorLog = discardLogger()
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, ErrorLog: discardLogger()}
	go func() { _ = s.srv.Serve(ln) }()
	return nil
}

// Close stops the stand-in.
func (s *standIn[O, C]) Close() error { return s.srv.Close() }

// Ref returns Host/repo.
func (s *standIn[O, C]) Ref(repo string) string { return s.Host + "/" + repo }

// Counts returns the requests so far.
func (s *standIn[O, C]) Counts() C {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}

// SetOptions replaces the options.
func (s *standIn[O, C]) SetOptions(o O) {
	s.mu.Lock()
	s.opts = o
	s.mu.Unlock()
}
