package registry_test

import (
	"context"
	"errors"
	"fmt"
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
	rp, err := registry.New(registry.Options{}).Open(ctx, strings.TrimPrefix(srv.URL, "http://")+"/team/app", registry.PullPush)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.PutManifest(ctx, "v1", "application/vnd.oci.image.manifest.v1+json", []byte(`{}`)); err == nil || followed != 0 {
		t.Fatalf("redirect: err %v, followed %d times", err, followed)
	}
}

// Issue 19 point 12: a manifest PUT gets the checks of every other
// request: a reference that is neither tag nor digest is never sent, and
// a registry that echoes the password in its error has it redacted.
func TestPutManifestChecksAndRedacts(t *testing.T) {
	const password = "Put-echo-Passw0rd-31ce"
	puts := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, p, ok := r.BasicAuth(); !ok || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPut {
			puts++
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"errors":[{"code":"MANIFEST_INVALID","message":"bad manifest from user bot password %s"}]}`, password)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ctx := context.Background()
	c := registry.New(registry.Options{Keychain: registry.Keychain(func(k string) string {
		return map[string]string{"REGPRUNE_USERNAME": "bot", "REGPRUNE_PASSWORD": password}[k]
	})})
	rp, err := c.Open(ctx, strings.TrimPrefix(srv.URL, "http://")+"/team/app", registry.PullPush)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.PutManifest(ctx, "../victim/manifests/v1", "application/vnd.oci.image.manifest.v1+json", []byte(`{}`)); !errors.Is(err, registry.ErrInvalidReference) || puts != 0 {
		t.Errorf("a path as reference: %v, %d PUTs sent", err, puts)
	}
	_, err = rp.PutManifest(ctx, "v1", "application/vnd.oci.image.manifest.v1+json", []byte(`{}`))
	if !errors.Is(err, registry.ErrBadRequest) || strings.Contains(err.Error(), password) || puts != 1 {
		t.Errorf("echoed password: %v (%d PUTs)", err, puts)
	}
}

// Issue 23 point 7: pushing is an Access of Open, not a function of its
// own. A PullPush handle asks the token server for pull and push on the
// repository, is kept apart from the pull and delete handles of the same
// repository, and is the same handle when opened again (one token
// exchange).
func TestOpenPullPush(t *testing.T) {
	var scopes []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			scopes = append(scopes, r.URL.Query()["scope"]...)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"token":"tok-23"}`)
		case "/v2/":
			if r.Header.Get("Authorization") != "Bearer tok-23" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="reg"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	c := registry.New(registry.Options{})
	name := strings.TrimPrefix(srv.URL, "http://") + "/team/app"
	push, err := c.Open(ctx, name, registry.PullPush)
	if err != nil {
		t.Fatal(err)
	}
	if len(scopes) != 1 || scopes[0] != "repository:team/app:pull,push" {
		t.Fatalf("token scopes %q, want one for pull,push", scopes)
	}
	again, err := c.Open(ctx, name, registry.PullPush)
	if err != nil || again != push || len(scopes) != 1 {
		t.Fatalf("opened again: same handle %v, err %v, scopes %q", again == push, err, scopes)
	}
	pull, err := c.Open(ctx, name, registry.Pull)
	if err != nil || pull == push {
		t.Fatalf("a pull handle: err %v, same as the push handle %v", err, pull == push)
	}
	if len(scopes) != 2 || scopes[1] != "repository:team/app:pull" {
		t.Fatalf("token scopes %q, want pull,push then pull", scopes)
	}
}
