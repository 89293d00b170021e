package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/go-jose/go-jose/v4"
)

// TokenAuth configures Bearer token auth: distribution's real `token`
// access controller plus an in-process token server that issues JWTs for
// these users.
type TokenAuth struct {
	// Users maps a user name to its password and the actions it may be
	// granted on any repository. The user "" (with password "") grants
	// anonymous clients; without it an anonymous client gets a token that
	// grants nothing.
	Users map[string]TokenUser
	// TTL is the token lifetime; 0 means 5 minutes. The registry refuses a
	// token once TTL has passed (to within the second), however short TTL is.
	TTL time.Duration
	// Now is the token server's clock for the tokens it issues; nil means
	// time.Now. The registry checks a token's expiry against the real
	// clock, so a clock set back at least TTL+2s issues tokens the
	// registry already refuses as expired: a test of expiry needs no sleep.
	Now func() time.Time
	// MaxUses, if positive, makes a token expire by use instead of by
	// time: the registry answers its (MaxUses+1)th request 401 with a
	// Bearer challenge naming error="invalid_token", as it answers an
	// expired token, and the client must fetch a new one.
	MaxUses int
	// WildcardScope makes the registry's 401 challenges name scope="*"
	// instead of the repository's scope, as the registries of the Gitea
	// family do. The token server still grants only the repository scopes
	// a client asks for.
	WildcardScope bool
}

// TokenUser is one user of TokenAuth.
type TokenUser struct {
	Password string
	// Actions this user may be granted on any repository, e.g. {"pull"},
	// {"pull", "push", "delete"}. "*" grants every requested action,
	// including the catalog (registry:catalog:*), which needs "*".
	Actions []string
}

const (
	tokenService = "registrytest"
	tokenIssuer  = "registrytest-token-server"
)

type tokenServer struct {
	users   map[string]TokenUser
	ttl     time.Duration
	realm   string
	service string
	issuer  string

	certPath string
	signer   jose.Signer

	srv  *http.Server
	done chan struct{}

	issued atomic.Int64
	now    func() time.Time

	maxUses int
	usesMu  sync.Mutex
	uses    map[string]int // bearer token -> requests made with it; -1 for the seeding credentials' tokens

	mu      sync.Mutex
	refresh map[string]string // refresh token -> user
	asked   []string          // the scopes of every token request, in order

	wildcard bool
}

func startTokenServer(a TokenAuth, adminPass, dir string) (*tokenServer, error) {
	ts := &tokenServer{
		users:   make(map[string]TokenUser, len(a.Users)+1),
		ttl:     a.TTL,
		service: tokenService,
		issuer:  tokenIssuer,
		done:    make(chan struct{}),
		refresh: map[string]string{},
		now:     a.Now,
		maxUses: a.MaxUses,
		uses:    map[string]int{},

		wildcard: a.WildcardScope,
	}
	if ts.now == nil {
		ts.now = time.Now
	}
	if ts.ttl <= 0 {
		ts.ttl = 5 * time.Minute
	}
	for u, tu := range a.Users {
		ts.users[u] = tu
	}
	ts.users[AdminUser] = TokenUser{Password: adminPass, Actions: []string{"*"}}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "registrytest token signer"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	ts.certPath = filepath.Join(dir, "token-root.pem")
	if err := os.WriteFile(ts.certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	// The registry verifies the x5c chain against rootcertbundle.
	opts := (&jose.SignerOptions{}).WithType("JWT").
		WithHeader(jose.HeaderKey("x5c"), []string{base64.StdEncoding.EncodeToString(der)})
	ts.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	// go-containerregistry refuses a realm on a private IP literal other
	// than the registry's own host:port; "localhost" is allowed.
	ts.realm = fmt.Sprintf("http://localhost:%d/token", ln.Addr().(*net.TCPAddr).Port)
	ts.srv = &http.Server{Handler: ts, ReadHeaderTimeout: 30 * time.Second, ErrorLog: discardLogger()}
	go func() {
		defer close(ts.done)
		_ = ts.srv.Serve(ln)
	}()
	return ts, nil
}

func (ts *tokenServer) close() {
	_ = ts.srv.Close()
	<-ts.done
}

// TokenRequests reports how many tokens the token server has issued (to
// anyone, the registry's own seeding credentials included). 0 without Auth.
func (r *Registry) TokenRequests() int {
	if r.tokens == nil {
		return 0
	}
	return int(r.tokens.issued.Load())
}

// TokenScopes returns every scope the token server was asked for, in
// order, one entry per scope (a request's space-separated scopes split);
// nil without Auth.
func (r *Registry) TokenScopes() []string {
	if r.tokens == nil {
		return nil
	}
	r.tokens.mu.Lock()
	defer r.tokens.mu.Unlock()
	return slices.Clone(r.tokens.asked)
}

// TokenURL is the token endpoint (the realm of the Bearer challenge), e.g.
// "http://localhost:PORT/token"; "" without Auth.
func (r *Registry) TokenURL() string {
	if r.tokens == nil {
		return ""
	}
	return r.tokens.realm
}

// TokenService is the service name of the Bearer challenge ("" without Auth).
func (r *Registry) TokenService() string {
	if r.tokens == nil {
		return ""
	}
	return r.tokens.service
}

type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

func tokenError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="registrytest token server"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors":            []map[string]string{{"code": code, "message": msg}},
		"error":             strings.ToLower(code),
		"error_description": msg,
	})
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/token" {
		http.NotFound(w, req)
		return
	}
	var (
		user, pass string
		authed     bool
		service    string
		scopes     []string
		oauth      bool
	)
	switch req.Method {
	case http.MethodGet:
		q := req.URL.Query()
		service = q.Get("service")
		scopes = q["scope"]
		user, pass, authed = req.BasicAuth()
	case http.MethodPost:
		if err := req.ParseForm(); err != nil {
			tokenError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
			return
		}
		oauth = true
		service = req.PostForm.Get("service")
		scopes = req.PostForm["scope"]
		switch gt := req.PostForm.Get("grant_type"); gt {
		case "password":
			user, pass, authed = req.PostForm.Get("username"), req.PostForm.Get("password"), true
		case "refresh_token":
			ts.mu.Lock()
			u, ok := ts.refresh[req.PostForm.Get("refresh_token")]
			ts.mu.Unlock()
			if !ok {
				tokenError(w, http.StatusUnauthorized, "UNAUTHORIZED", "unknown refresh token")
				return
			}
			tu := ts.users[u]
			user, pass, authed = u, tu.Password, true
		default:
			tokenError(w, http.StatusBadRequest, "UNSUPPORTED_GRANT_TYPE", fmt.Sprintf("unsupported grant_type %q", gt))
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		tokenError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "method not allowed")
		return
	}
	if service != "" && service != ts.service {
		tokenError(w, http.StatusBadRequest, "INVALID_SERVICE", fmt.Sprintf("unknown service %q", service))
		return
	}
	var tu TokenUser
	if authed {
		u, ok := ts.users[user]
		if !ok || subtle.ConstantTimeCompare([]byte(u.Password), []byte(pass)) != 1 {
			tokenError(w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid username or password")
			return
		}
		tu = u
	} else {
		user = ""
		tu = ts.users[""] // zero value grants nothing
	}

	// Several scope parameters, each possibly holding several
	// space-separated scopes.
	var reqScopes []string
	for _, s := range scopes {
		reqScopes = append(reqScopes, strings.Fields(s)...)
	}
	ts.mu.Lock()
	ts.asked = append(ts.asked, reqScopes...)
	ts.mu.Unlock()
	access := grantAccess(tu.Actions, reqScopes)

	now := ts.now()
	raw, err := ts.sign(user, access, now)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "UNKNOWN", err.Error())
		return
	}
	resp := tokenResponse{
		Token:       raw,
		AccessToken: raw,
		ExpiresIn:   int(math.Ceil(ts.ttl.Seconds())),
		IssuedAt:    now.UTC().Format(time.RFC3339Nano),
	}
	if oauth && authed {
		rt := randomHex(16)
		ts.mu.Lock()
		ts.refresh[rt] = user
		ts.mu.Unlock()
		resp.RefreshToken = rt
	}
	if user == AdminUser && ts.maxUses > 0 {
		// Seeding streams upload bodies a refresh cannot replay: its
		// tokens never run out.
		ts.usesMu.Lock()
		ts.uses[raw] = -1
		ts.usesMu.Unlock()
	}
	ts.issued.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func (ts *tokenServer) sign(user string, access []*token.ResourceActions, now time.Time) (string, error) {
	// distribution accepts a token up to token.Leeway (60 s) after its exp
	// claim. To make the registry refuse the token once TTL has passed, exp
	// is set to issued+TTL-Leeway, rounded up to the second. expires_in
	// carries the real lifetime.
	expAt := now.Add(ts.ttl - token.Leeway)
	exp := expAt.Unix()
	if expAt.Nanosecond() != 0 {
		exp++
	}
	claims := token.ClaimSet{
		Issuer:     ts.issuer,
		Subject:    user,
		Audience:   token.AudienceList{ts.service},
		Expiration: exp,
		NotBefore:  now.Unix(),
		IssuedAt:   now.Unix(),
		JWTID:      randomHex(8),
		Access:     access,
	}
	if claims.Access == nil {
		claims.Access = []*token.ResourceActions{}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := ts.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// parsedScope is one "type[(class)]:name:actions" scope.
type parsedScope struct {
	Type, Class, Name string
	Actions           []string
}

// parseScope splits a scope. The name may contain colons (host:port), so
// the type ends at the first colon and the actions start after the last.
func parseScope(s string) (parsedScope, bool) {
	first := strings.IndexByte(s, ':')
	last := strings.LastIndexByte(s, ':')
	if first < 0 || last <= first {
		return parsedScope{}, false
	}
	p := parsedScope{Type: s[:first], Name: s[first+1 : last]}
	if i := strings.IndexByte(p.Type, '('); i >= 0 && strings.HasSuffix(p.Type, ")") {
		p.Class = p.Type[i+1 : len(p.Type)-1]
		p.Type = p.Type[:i]
	}
	for _, a := range strings.Split(s[last+1:], ",") {
		if a = strings.TrimSpace(a); a != "" {
			p.Actions = append(p.Actions, a)
		}
	}
	if p.Type == "" || p.Name == "" {
		return parsedScope{}, false
	}
	return p, true
}

// grantAccess narrows the requested scopes to what allowed permits: the
// intersection of requested and allowed actions on repositories, any
// requested action when allowed holds "*", and non-repository resources
// (the catalog) only with "*".
func grantAccess(allowed []string, requested []string) []*token.ResourceActions {
	all := slices.Contains(allowed, "*")
	type key struct{ typ, class, name string }
	granted := map[key]map[string]bool{}
	var order []key
	for _, s := range requested {
		p, ok := parseScope(s)
		if !ok {
			continue
		}
		k := key{p.Type, p.Class, p.Name}
		for _, a := range p.Actions {
			ok := all || (p.Type == "repository" && slices.Contains(allowed, a))
			if !ok {
				continue
			}
			if granted[k] == nil {
				granted[k] = map[string]bool{}
				order = append(order, k)
			}
			granted[k][a] = true
		}
	}
	out := make([]*token.ResourceActions, 0, len(order))
	for _, k := range order {
		acts := make([]string, 0, len(granted[k]))
		for a := range granted[k] {
			acts = append(acts, a)
		}
		sort.Strings(acts)
		out = append(out, &token.ResourceActions{Type: k.typ, Class: k.class, Name: k.name, Actions: acts})
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// limitUses wraps the registry's handler when tokens expire by use (see
// TokenAuth.MaxUses): past its budget, a Bearer token is answered as the
// registry answers an expired one.
func (ts *tokenServer) limitUses(next http.Handler) http.Handler {
	if ts.maxUses <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); ok {
			ts.usesMu.Lock()
			n := ts.uses[tok]
			if n >= 0 {
				n++
				ts.uses[tok] = n
			}
			ts.usesMu.Unlock()
			if n > ts.maxUses {
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service=%q,error="invalid_token"`, ts.realm, ts.service))
				writeRegistryError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
				return
			}
		}
		next.ServeHTTP(w, req)
	})
}

// wildcardScope wraps the registry's handler when TokenAuth.WildcardScope
// is set: every Bearer challenge of a 401 names scope="*", as Gitea's do.
func (ts *tokenServer) wildcardScope(next http.Handler) http.Handler {
	if !ts.wildcard {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		next.ServeHTTP(&wildcardWriter{ResponseWriter: w}, req)
	})
}

type wildcardWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *wildcardWriter) WriteHeader(code int) {
	if !w.wrote && code == http.StatusUnauthorized {
		h := w.Header()
		vals := h.Values("WWW-Authenticate")
		h.Del("WWW-Authenticate")
		for _, v := range vals {
			if strings.HasPrefix(strings.ToLower(v), "bearer ") {
				v = wildcardChallenge(v)
			}
			h.Add("WWW-Authenticate", v)
		}
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *wildcardWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// wildcardChallenge replaces the scope parameter of a Bearer challenge
// with scope="*", or adds it.
func wildcardChallenge(v string) string {
	i := strings.Index(v, `scope="`)
	if i < 0 {
		return v + `,scope="*"`
	}
	end := strings.IndexByte(v[i+len(`scope="`):], '"')
	if end < 0 {
		return v[:i] + `scope="*"`
	}
	return v[:i] + `scope="*"` + v[i+len(`scope="`)+end+1:]
}
