// Package registrytest is what tests import to run a real CNCF
// distribution v3 registry in process: thin testing.TB wrappers around
// internal/sandbox, which holds the registry, the token server, seeding,
// garbage collection, the fault-injecting proxy and the referrers
// stand-in (see its package documentation for what is real and what is
// written here).
//
// The types are aliases of sandbox's, so a *registrytest.Registry is a
// *sandbox.Registry. The wrappers fail the test on error and close what
// they start with t.Cleanup. Tests import this package, and so does the
// benchmark (bench/applyscale.go, through Start and NewProxy, which set
// nothing outside a test binary: tuneGC); the demo uses internal/sandbox,
// and the product binary neither (see cmd/regprune/deps_test.go).
package registrytest

import (
	"context"
	"io"
	"log"
	"net/http"
	"os"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/sandbox"
)

// The types of internal/sandbox, under the names tests use.
type (
	Options       = sandbox.Options
	Registry      = sandbox.Registry
	TokenAuth     = sandbox.TokenAuth
	TokenUser     = sandbox.TokenUser
	GCResult      = sandbox.GCResult
	ImageSpec     = sandbox.ImageSpec
	Child         = sandbox.Child
	Proxy         = sandbox.Proxy
	ProxyOptions  = sandbox.ProxyOptions
	Counts        = sandbox.Counts
	ReferrersAPI  = sandbox.ReferrersAPI
	PullSet       = sandbox.PullSet
	GitHubAPI     = sandbox.GitHubAPI
	GitHubOptions = sandbox.GitHubOptions
	GitHubCounts  = sandbox.GitHubCounts
)

// Registry flavours, and the distribution 2.x child process (see
// sandbox.StartDist2).
const (
	FlavourV3       = sandbox.FlavourV3
	FlavourDist2    = sandbox.FlavourDist2
	Dist2Binary     = sandbox.Dist2Binary
	RequireDist2Env = sandbox.RequireDist2Env
)

// ErrNoDist2 is sandbox.ErrNoDist2.
var ErrNoDist2 = sandbox.ErrNoDist2

// AdminUser is sandbox.AdminUser.
const AdminUser = sandbox.AdminUser

// LabelCreated is sandbox.LabelCreated.
const LabelCreated = sandbox.LabelCreated

// ManifestAccept is sandbox.ManifestAccept.
var ManifestAccept = sandbox.ManifestAccept

// New starts a registry (sandbox.Start), fails the test on error and closes
// the registry with t.Cleanup.
func New(t testing.TB, o Options) *Registry {
	t.Helper()
	tuneGC()
	r, err := sandbox.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("registrytest: start registry: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("registrytest: close registry: %v", err)
		}
	})
	return r
}

// Start is sandbox.Start: the caller closes the registry.
func Start(ctx context.Context, o Options) (*Registry, error) {
	tuneGC()
	return sandbox.Start(ctx, o)
}

// FlavourGGCR is sandbox.FlavourGGCR.
const FlavourGGCR = sandbox.FlavourGGCR

// NewGGCR starts go-containerregistry's in-memory registry (`crane
// registry serve`), anonymous, fails the test on error and closes it with
// t.Cleanup. It differs from distribution where regprune must not trust a
// DELETE's answer alone: a DELETE by digest removes the digest only, and
// every tag that named it still resolves. GC does not work on it.
func NewGGCR(t testing.TB) *Registry {
	t.Helper()
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	r, err := sandbox.StartHandler(context.Background(), h, sandbox.FlavourGGCR)
	if err != nil {
		t.Fatalf("registrytest: start go-containerregistry's registry: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("registrytest: close registry: %v", err)
		}
	})
	return r
}

// NewProxy is sandbox.NewProxy: the caller closes the proxy.
func NewProxy(target string, o ProxyOptions) (*Proxy, error) { return sandbox.NewProxy(target, o) }

// NewTestProxy starts a proxy in front of target (sandbox.NewProxy), fails
// the test on error and closes the proxy with t.Cleanup.
func NewTestProxy(t testing.TB, target string, o ProxyOptions) *Proxy {
	t.Helper()
	p, err := sandbox.NewProxy(target, o)
	if err != nil {
		t.Fatalf("registrytest: start proxy: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// NewTestReferrersAPI starts a ReferrersAPI in front of target (such as
// Registry.URL), closed when the test ends.
func NewTestReferrersAPI(t testing.TB, target string) *ReferrersAPI {
	t.Helper()
	a, err := sandbox.NewReferrersAPI(target)
	if err != nil {
		t.Fatalf("registrytest: start referrers API: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// BuildImage is sandbox.BuildImage.
func BuildImage(spec ImageSpec, mt types.MediaType) (v1.Image, error) {
	return sandbox.BuildImage(spec, mt)
}

// SignatureTag is sandbox.SignatureTag.
func SignatureTag(subject v1.Hash, suffix string) string {
	return sandbox.SignatureTag(subject, suffix)
}

// FallbackTag is sandbox.FallbackTag.
func FallbackTag(subject v1.Hash) string { return sandbox.FallbackTag(subject) }

// PullableAt is sandbox.PullableAt.
func PullableAt(ctx context.Context, host string, auth authn.Authenticator, ref string) error {
	return sandbox.PullableAt(ctx, host, auth, ref)
}

// PullSetAt is sandbox.PullSetAt.
func PullSetAt(host string, auth authn.Authenticator) *PullSet { return sandbox.PullSetAt(host, auth) }

// StripLink is sandbox.StripLink.
func StripLink(resp *http.Response) error { return sandbox.StripLink(resp) }

// Dist2Path is sandbox.Dist2Path.
func Dist2Path() (string, error) { return sandbox.Dist2Path() }

// StartDist2 is sandbox.StartDist2: the caller closes the registry.
func StartDist2(ctx context.Context, o Options) (*Registry, error) { return sandbox.StartDist2(ctx, o) }

// NewDist2 is StartDist2 for tests: where the binary is missing it skips
// the test (fails it when REGPRUNE_REQUIRE_DIST2=1), and it stops the
// registry with t.Cleanup.
func NewDist2(t testing.TB, o Options) *Registry {
	t.Helper()
	tuneGC()
	if _, err := sandbox.Dist2Path(); err != nil {
		if os.Getenv(RequireDist2Env) == "1" {
			t.Fatalf("%v (%s=1 requires it)", err, RequireDist2Env)
		}
		t.Skipf("%v", err)
	}
	r, err := sandbox.StartDist2(context.Background(), o)
	if err != nil {
		t.Fatalf("registrytest: start distribution 2.x: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("registrytest: stop distribution 2.x: %v", err)
		}
	})
	return r
}

// Registry quirks played by a proxy (sandbox.NewQuirkProxy).
type (
	Quirk        = sandbox.Quirk
	QuirkOptions = sandbox.QuirkOptions
	QuirkProxy   = sandbox.QuirkProxy
	QuirkCounts  = sandbox.QuirkCounts
)

// The flavours of sandbox.Quirk.
const (
	QuirkGAR    = sandbox.QuirkGAR
	QuirkECR    = sandbox.QuirkECR
	QuirkHarbor = sandbox.QuirkHarbor
	QuirkGitLab = sandbox.QuirkGitLab
)

// NewQuirkProxy starts a proxy in front of target that plays a registry's
// quirks (sandbox.NewQuirkProxy), fails the test on error and closes it
// at the end of the test.
func NewQuirkProxy(t testing.TB, target string, o QuirkOptions) *QuirkProxy {
	t.Helper()
	p, err := sandbox.NewQuirkProxy(target, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// NewGitHub starts the GHCR stand-in (sandbox.StartGitHub) in front of
// reg, closed when the test ends.
func NewGitHub(t testing.TB, reg *Registry, o GitHubOptions) *GitHubAPI {
	t.Helper()
	g, err := sandbox.StartGitHub(reg, o)
	if err != nil {
		t.Fatalf("registrytest: start GitHub stand-in: %v", err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// StartGitHub is sandbox.StartGitHub, for callers without a testing.TB.
func StartGitHub(reg *Registry, o GitHubOptions) (*GitHubAPI, error) {
	return sandbox.StartGitHub(reg, o)
}

// The Docker Hub stand-in's types.
type (
	DockerHub        = sandbox.DockerHub
	DockerHubOptions = sandbox.DockerHubOptions
	DockerHubCounts  = sandbox.DockerHubCounts
)

// NewDockerHub starts the Docker Hub stand-in (sandbox.StartDockerHub) in
// front of reg, closed when the test ends.
func NewDockerHub(t testing.TB, reg *Registry, o DockerHubOptions) *DockerHub {
	t.Helper()
	h, err := sandbox.StartDockerHub(reg, o)
	if err != nil {
		t.Fatalf("registrytest: start Docker Hub stand-in: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// The GitLab stand-in's types.
type (
	GitLab        = sandbox.GitLab
	GitLabOptions = sandbox.GitLabOptions
	GitLabCounts  = sandbox.GitLabCounts
)

// NewGitLab starts the GitLab stand-in (sandbox.StartGitLab) in front of
// reg, closed when the test ends.
func NewGitLab(t testing.TB, reg *Registry, o GitLabOptions) *GitLab {
	t.Helper()
	g, err := sandbox.StartGitLab(reg, o)
	if err != nil {
		t.Fatalf("registrytest: start GitLab stand-in: %v", err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// StartGitLab is sandbox.StartGitLab, for callers without a testing.TB.
func StartGitLab(reg *Registry, o GitLabOptions) (*GitLab, error) { return sandbox.StartGitLab(reg, o) }
