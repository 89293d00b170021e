package registry

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestValidTagAndDigest(t *testing.T) {
	hex64, hex128 := strings.Repeat("a", 64), strings.Repeat("0", 128)
	for s, want := range map[string]bool{
		"latest": true, "v1.2.3-rc_1": true, "_x": true, strings.Repeat("a", 128): true,
		"": false, ".x": false, "-x": false, "sha256:" + hex64: false, "a/b": false, strings.Repeat("a", 129): false, "a b": false,
	} {
		if ValidTag(s) != want {
			t.Errorf("ValidTag(%q) = %v", s, !want)
		}
	}
	for s, want := range map[string]bool{
		"sha256:" + hex64: true, "sha512:" + hex128: true,
		"sha256:" + strings.ToUpper(hex64): false, "sha256:" + hex64[:63]: false, "sha512:" + hex64: false,
		"md5:" + hex64[:32]: false, "latest": false, "sha256:" + hex64 + "/../x": false,
	} {
		if ValidDigest(s) != want {
			t.Errorf("ValidDigest(%q) = %v", s, !want)
		}
	}
	if err := CheckRef("../victim/manifests/x"); !errors.Is(err, ErrInvalidReference) {
		t.Errorf("CheckRef of a path: %v", err)
	}
	if Verify("sha512:"+hex128, []byte("x")) || !Verify(Sha256([]byte("x")), []byte("x")) {
		t.Error("Verify")
	}
}

// The token request layer refuses a widened scope on its own, whatever
// the 401 layer did: a request for another repository never leaves.
func TestScopeGuard(t *testing.T) {
	g := &scopeGuard{scopes: []string{"repository:team/app:pull,delete"}, inner: http.DefaultTransport}
	for s, want := range map[string]bool{
		"repository:team/app:pull":           true,
		"repository:team/app:pull,delete":    true,
		"repository:team/app:*":              true,
		"repository:victim:pull":             false,
		"repository:team/app/../victim:pull": false,
		"registry:catalog:*":                 false,
		"garbage":                            false,
	} {
		if g.allowed(s) != want {
			t.Errorf("allowed(%q) = %v", s, !want)
		}
	}
	u, _ := url.Parse("http://127.0.0.1:1/token?scope=repository%3Avictim%3Adelete&service=x")
	_, err := g.RoundTrip(&http.Request{Method: "GET", URL: u, Header: http.Header{}})
	if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "repository:victim:delete") {
		t.Errorf("token request for another repository: %v", err)
	}
	got := challengeScopes(`Bearer realm="https://x/token",service="reg",scope="repository:a:pull repository:b:push"`)
	if len(got) != 1 || got[0] != "repository:a:pull repository:b:push" {
		t.Errorf("challengeScopes: %q", got)
	}
	// Basic credentials over plain HTTP to a host that is not loopback.
	u, _ = url.Parse("http://198.51.100.7/token")
	_, err = g.RoundTrip(&http.Request{Method: "GET", URL: u, Header: http.Header{"Authorization": {"Basic dTpw"}}})
	if !errors.Is(err, ErrInsecure) {
		t.Errorf("Basic over plain HTTP: %v", err)
	}
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Issue 19 point 17: the wildcard "*" of a Gitea challenge is allowed in
// a 401 and dropped from the token request (GET query and OAuth2 form),
// which then asks only for the repository's scopes; another repository's
// scope in the same request is still refused.
func TestScopeGuardDropsWildcard(t *testing.T) {
	var sent []string
	g := &scopeGuard{scopes: []string{"repository:team/app:pull"}, inner: rtFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			f, _ := url.ParseQuery(string(b))
			sent = append(sent, f["scope"]...)
		} else {
			sent = append(sent, r.URL.Query()["scope"]...)
		}
		return &http.Response{StatusCode: http.StatusUnauthorized, Header: http.Header{"Www-Authenticate": {`Bearer realm="http://127.0.0.1:1/token",scope="*"`}}, Body: http.NoBody, Request: r}, nil
	})}
	if err := g.check("*", "challenge"); err != nil {
		t.Errorf("challenge scope *: %v", err)
	}
	u, _ := url.Parse("http://127.0.0.1:1/token?scope=%2A&scope=repository%3Ateam%2Fapp%3Apull&service=x")
	if _, err := g.RoundTrip(&http.Request{Method: "GET", URL: u, Header: http.Header{}}); err != nil {
		t.Fatalf("GET: %v", err)
	}
	form := "scope=" + url.QueryEscape("* repository:team/app:pull") + "&grant_type=refresh_token"
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/token", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := g.RoundTrip(req); err != nil {
		t.Fatalf("POST: %v", err)
	}
	if want := []string{"repository:team/app:pull", "repository:team/app:pull"}; !slices.Equal(sent, want) {
		t.Errorf("token requests asked for %q, want %q", sent, want)
	}
	u, _ = url.Parse("http://127.0.0.1:1/token?scope=%2A+repository%3Avictim%3Apull")
	if _, err := g.RoundTrip(&http.Request{Method: "GET", URL: u, Header: http.Header{}}); !errors.Is(err, ErrBadResponse) {
		t.Errorf("another repository beside *: %v", err)
	}
}

func TestRedactEveryForm(t *testing.T) {
	var s secrets
	s.addCredentials("bot", "pa55word-xyz")
	s.addAuthorization("Bearer aaaa.bbbb.cccc-signature")
	for _, v := range append(encodings("pa55word-xyz"), append(encodings("bot:pa55word-xyz"), "aaaa.bbbb.cccc-signature", "cccc-signature")...) {
		if got := s.redact("x " + v + " y"); strings.Contains(got, v) {
			t.Errorf("%q survives: %q", v, got)
		}
	}
	err := s.wrap(&Error{Status: 401, Message: "bad pa55word-xyz"})
	if !errors.Is(err, ErrUnauthorized) || strings.Contains(err.Error(), "pa55word") {
		t.Errorf("wrap: %v", err)
	}
}
