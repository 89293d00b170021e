package sandbox_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/registrytest"
)

// The test of internal/registrytest's wrappers lives here, so that
// registrytest has no test binary of its own: each one links the whole
// distribution server, which costs more than the test.
//
// The wrappers start what they wrap, and what they return works through
// the aliased types: a pushed image is listed, counted by the proxy and
// its referrers asked through the referrers stand-in.
func TestWrappers(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	_, h, err := reg.PushImage(ctx, "a/b", registrytest.ImageSpec{Layers: 1}, "latest")
	if err != nil {
		t.Fatal(err)
	}
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	if err := registrytest.PullableAt(ctx, proxy.Host, reg.Authenticator(), "a/b:latest"); err != nil {
		t.Fatal(err)
	}
	if c := proxy.Counts(); c.ManifestGET == 0 || c.BlobGET == 0 {
		t.Errorf("proxy counts %+v: the pull did not go through it", c)
	}
	api := registrytest.NewTestReferrersAPI(t, reg.URL)
	resp, err := http.Get("http://" + api.Host + "/v2/a/b/referrers/" + h.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != string(types.OCIImageIndex) || api.Asked()[h.String()] != 1 {
		t.Errorf("referrers: %s %q, asked %v", resp.Status, resp.Header.Get("Content-Type"), api.Asked())
	}
}
