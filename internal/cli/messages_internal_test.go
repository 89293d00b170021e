package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A plain-HTTP registry reached over HTTPS (no --insecure) gets a hint:
// the real net/http answer, wrapped as the engine wraps it.
func TestPlainHTTPHint(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	_, err := http.Get("https://" + host + "/v2/")
	if err == nil {
		t.Fatal("HTTPS to a plain HTTP server worked")
	}
	// The answer of a real server, for a host that is not loopback (where
	// plain HTTP is not tried without --insecure).
	got := explain(context.Background(), func(string) string { return "" }, "registry.example.com/ci/app", fmt.Errorf("listing registry.example.com/ci/app: %w", err))
	if !strings.Contains(got.Error(), "registry.example.com speaks plain HTTP: pass --insecure") {
		t.Errorf("no hint: %v", got)
	}
	// A loopback host was tried over plain HTTP already: no hint.
	if got := explain(context.Background(), func(string) string { return "" }, host+"/ci/app", err); got != err {
		t.Errorf("hint for a loopback host: %v", got)
	}
}
