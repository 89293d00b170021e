package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// noRedirect reports the methods whose redirects regprune never follows:
// DELETE (a 307 could point at another repository, a 301/302/303 would
// turn the DELETE into a GET whose 200 looks like success) and PUT (no
// registry redirects a manifest PUT; following one would send the body
// elsewhere), and POST (restore's cross-repository blob mount).
func noRedirect(method string) bool {
	return method == http.MethodDelete || method == http.MethodPut || method == http.MethodPost
}

// redirectError is a DELETE or PUT answered with a redirect (see
// noRedirect).
func redirectError(resp *http.Response) error {
	loc := resp.Header.Get("Location")
	path, method := "", http.MethodDelete
	if resp.Request != nil && resp.Request.URL != nil {
		path, method = resp.Request.URL.Path, resp.Request.Method
		if u, err := resp.Request.URL.Parse(loc); err == nil && loc != "" {
			loc = redactQuery(u.String())
		}
	}
	if len(loc) > 1024 {
		loc = loc[:1024] + "…"
	}
	return fmt.Errorf("%w: %s %s answered %d redirecting to %q; regprune never follows a redirect on %s",
		ErrBadResponse, method, path, resp.StatusCode, loc, method)
}

// scopeGuard sits under go-containerregistry's token transport. It
// refuses a 401 challenge, or a token request, that asks for a scope on
// another resource than the ones the client opened with (another
// repository), so that a redirect or a hostile challenge cannot widen a
// token; and it refuses Basic credentials over plain HTTP to a host that
// is not loopback unless plainCreds allows it.
type scopeGuard struct {
	inner      http.RoundTripper
	scopes     []string // as opened: "repository:NAME:pull,delete", "registry:catalog:*"
	plainCreds bool
	secrets    *secrets // records every credential sent, for redaction
}

func (g *scopeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if a := req.Header.Get("Authorization"); a != "" && g.secrets != nil {
		g.secrets.addAuthorization(a)
	}
	if req.URL.Scheme == "http" && !g.plainCreds && !IsLoopback(req.URL.Host) && sendsCredentials(req) {
		return nil, fmt.Errorf("%w: refusing to send credentials over plain HTTP to %s; pass --insecure-plain-http-credentials to allow it", ErrInsecure, req.URL.Host)
	}
	req, err := g.narrow(req)
	if err != nil {
		return nil, err
	}
	if req.GetBody != nil && req.Body != nil && req.Body != http.NoBody {
		// go-containerregistry's token transport sends the same request
		// again after fetching a new token on a 401, its body already
		// read: every attempt sends a fresh copy of the body instead.
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		req = req.Clone(req.Context())
		req.Body = body
	}
	resp, err := g.inner.RoundTrip(req)
	if err == nil && g.secrets != nil && !strings.HasPrefix(req.URL.Path, "/v2/") && resp.StatusCode == http.StatusOK {
		// A token endpoint's answer: record the tokens it hands out.
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if rerr != nil {
			return nil, rerr
		}
		var tok struct {
			Token        string `json:"token"`
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(body, &tok) == nil {
			for _, t := range []string{tok.Token, tok.AccessToken, tok.RefreshToken} {
				if t != "" {
					g.secrets.addAuthorization("Bearer " + t)
				}
			}
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		for _, s := range challengeScopes(v) {
			if err := g.check(s, "401 challenge of "+redactQuery(req.URL.String())); err != nil {
				resp.Body.Close()
				return nil, err
			}
		}
	}
	return resp, nil
}

// narrow checks the scopes of a token request (the scope query
// parameters of a GET, the scope form field of an OAuth2 POST) and drops
// the wildcard "*": a registry of the Gitea family names scope="*" in its
// challenges, which go-containerregistry then asks the token endpoint
// for. regprune asks for exactly the scopes it opened with (and the
// actions a challenge names on that same repository), never "*"; a scope
// on another resource is refused (check).
func (g *scopeGuard) narrow(req *http.Request) (*http.Request, error) {
	where := "token request to " + req.URL.Host
	filter := func(vals []string) ([]string, bool, error) {
		var out []string
		changed := false
		for _, v := range vals {
			var keep []string
			for _, s := range strings.Fields(v) {
				if s == "*" {
					changed = true
					continue
				}
				keep = append(keep, s)
			}
			if err := g.check(strings.Join(keep, " "), where); err != nil {
				return nil, false, err
			}
			if len(keep) == 0 {
				changed = true
				continue
			}
			out = append(out, strings.Join(keep, " "))
		}
		return out, changed, nil
	}
	q := req.URL.Query()
	if scopes, ok := q["scope"]; ok {
		kept, changed, err := filter(scopes)
		if err != nil {
			return nil, err
		}
		if changed {
			q["scope"] = kept
			if len(kept) == 0 {
				delete(q, "scope")
			}
			req = req.Clone(req.Context())
			req.URL.RawQuery = q.Encode()
		}
	}
	if req.Method != http.MethodPost || strings.HasPrefix(req.URL.Path, "/v2/") || req.GetBody == nil ||
		req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		return req, nil
	}
	rc, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	rc.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		return req, nil // not a form regprune can read: sent as it is
	}
	scopes, ok := form["scope"]
	if !ok {
		return req, nil
	}
	kept, changed, err := filter(scopes)
	if err != nil || !changed {
		return req, err
	}
	form["scope"] = kept
	if len(kept) == 0 {
		delete(form, "scope")
	}
	body := []byte(form.Encode())
	req = req.Clone(req.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return req, nil
}

// sendsCredentials reports whether req carries a password: Basic
// authorization, or an OAuth2 password grant.
func sendsCredentials(req *http.Request) bool {
	if a := req.Header.Get("Authorization"); len(a) > 6 && strings.EqualFold(a[:6], "basic ") {
		return true
	}
	return req.Method == http.MethodPost && req.URL.Path != "" && req.Header.Get("Content-Type") == "application/x-www-form-urlencoded"
}

// check refuses scope (space-separated "type:name:actions" entries)
// unless every entry is within g.scopes.
func (g *scopeGuard) check(scope, where string) error {
	for _, s := range strings.Fields(scope) {
		if s == "*" {
			// Names no resource (Gitea's challenges): nothing beyond the
			// repository is asked for, since narrow drops it from the
			// token request.
			continue
		}
		if !g.allowed(s) {
			return fmt.Errorf("%w: %s asks for scope %s, beyond %s; refused", ErrBadResponse, where, quoteValue(s), strings.Join(g.scopes, " "))
		}
	}
	return nil
}

// allowed reports whether s names a resource the client opened with:
// the same type and name. Actions may differ (a registry may ask for "*"
// on a DELETE of the repository being worked on); the token server
// grants only what the credentials allow.
func (g *scopeGuard) allowed(s string) bool {
	typ, name, _, ok := splitScope(s)
	if !ok {
		return false
	}
	for _, have := range g.scopes {
		if ht, hn, _, _ := splitScope(have); ht == typ && hn == name {
			return true
		}
	}
	return false
}

// splitScope splits "type:name:actions"; name may hold a colon (a
// registry host with a port in some registries' scopes).
func splitScope(s string) (typ, name, actions string, ok bool) {
	i, j := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
	if i <= 0 || j <= i+1 || j == len(s)-1 {
		return "", "", "", false
	}
	return s[:i], s[i+1 : j], s[j+1:], true
}

// challengeScopes returns the scope parameters of a WWW-Authenticate
// value (Bearer realm="…",service="…",scope="…").
func challengeScopes(v string) []string {
	var out []string
	rest := v
	for {
		i := strings.Index(strings.ToLower(rest), "scope=")
		if i < 0 {
			return out
		}
		if i > 0 && !strings.ContainsRune(" ,", rune(rest[i-1])) {
			rest = rest[i+6:]
			continue
		}
		rest = rest[i+6:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				val, rest = rest[1:], ""
			} else {
				val, rest = rest[1:1+end], rest[2+end:]
			}
		} else {
			end := strings.IndexAny(rest, ", ")
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		if u, err := url.QueryUnescape(val); err == nil {
			val = u
		}
		out = append(out, val)
	}
}
