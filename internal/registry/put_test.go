package registry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/registry"
)

// TestPutManifest, registry.Repo.PutManifest on the in-process registry,
// is in internal/restore (registry_put_test.go), the package that pushes
// manifests back: that test binary embeds distribution anyway, and this
// one then does not (one link fewer in go test ./...).

// No registry redirects a manifest PUT, so a stand-in server does here:
// PutManifest answers the redirect as an error and does not follow it
// with the body.
func TestPutManifestNoRedirect(t *testing.T) {
	followed := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/":
			w.WriteHeader(http.StatusOK)
		case r.URL.Path == "/elsewhere":
			followed++
		default:
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	rp, err := registry.New(registry.Options{}).OpenPush(ctx, strings.TrimPrefix(srv.URL, "http://")+"/team/app")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.PutManifest(ctx, "v1", "application/vnd.oci.image.manifest.v1+json", []byte(`{}`)); err == nil || followed != 0 {
		t.Fatalf("redirect: err %v, followed %d times", err, followed)
	}
}
