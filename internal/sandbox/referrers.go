package sandbox

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ReferrersAPI fronts a registry with the OCI referrers API, which
// distribution v3 lacks and no registry that can run here has. GET
// /v2/<name>/referrers/<digest> answers an index of the descriptors added
// for that subject (an empty index when none), and counts the requests by
// subject. Everything else goes to the registry unchanged. It is a
// stand-in for that one endpoint only. With SetPageSize it answers in
// pages, each but the last with a Link rel="next" header.
type ReferrersAPI struct {
	// Host is "127.0.0.1:PORT".
	Host string

	mu    sync.Mutex
	refs  map[string][]v1.Descriptor
	asked map[string]int
	page  int
	next  http.Handler
	srv   *http.Server
	done  chan struct{}
}

// NewReferrersAPI starts a ReferrersAPI on 127.0.0.1 in front of target
// (such as Registry.URL). Close stops it.
func NewReferrersAPI(target string) (*ReferrersAPI, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	a := &ReferrersAPI{refs: map[string][]v1.Descriptor{}, asked: map[string]int{}, next: httputil.NewSingleHostReverseProxy(u), done: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a.Host = ln.Addr().String()
	a.srv = &http.Server{Handler: a, ReadHeaderTimeout: 30 * time.Second, ErrorLog: discardLogger()}
	go func() {
		defer close(a.done)
		_ = a.srv.Serve(ln)
	}()
	return a, nil
}

// Close stops the ReferrersAPI.
func (a *ReferrersAPI) Close() error {
	err := a.srv.Close()
	<-a.done
	return err
}

// Add lists d among the referrers of subject.
func (a *ReferrersAPI) Add(subject string, d v1.Descriptor) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refs[subject] = append(a.refs[subject], d)
}

// SetPageSize makes the API answer at most n descriptors a page, the next
// page named by Link rel="next" (?last=<the page's last digest>); 0 means
// one page.
func (a *ReferrersAPI) SetPageSize(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.page = n
}

// Asked returns how often the referrers of each subject were asked for.
func (a *ReferrersAPI) Asked() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int, len(a.asked))
	for s, n := range a.asked {
		out[s] = n
	}
	return out
}

// ServeHTTP implements http.Handler.
func (a *ReferrersAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := strings.Index(r.URL.Path, "/referrers/")
	if r.Method != http.MethodGet || i <= 0 {
		a.next.ServeHTTP(w, r)
		return
	}
	subject := r.URL.Path[i+len("/referrers/"):]
	a.mu.Lock()
	a.asked[subject]++
	descs := append([]v1.Descriptor{}, a.refs[subject]...)
	size := a.page
	a.mu.Unlock()
	if size > 0 {
		if last := r.URL.Query().Get("last"); last != "" {
			for i, d := range descs {
				if d.Digest.String() == last {
					descs = descs[i+1:]
					break
				}
			}
		}
		if len(descs) > size {
			descs = descs[:size]
			w.Header().Set("Link", fmt.Sprintf(`<%s?last=%s>; rel="next"`, r.URL.Path, url.QueryEscape(descs[size-1].Digest.String())))
		}
	}
	w.Header().Set("Content-Type", string(types.OCIImageIndex))
	_ = json.NewEncoder(w).Encode(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
}
