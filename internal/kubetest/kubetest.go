// Package kubetest starts a real kube-apiserver and etcd on 127.0.0.1
// for tests: free ports, temporary directories, a token file, a
// self-signed serving certificate, RBAC authorization. Objects just sit
// in the API (no kubelet, no controllers), which is what the in-use
// source reads.
//
// kube-apiserver comes from scripts/kube-test-binaries.sh (cached under
// $XDG_CACHE_HOME/regprune/kube/VERSION/, or REGPRUNE_KUBE_APISERVER);
// etcd from PATH (Debian's etcd-server) or REGPRUNE_ETCD. Without them
// the test skips and says why; REGPRUNE_REQUIRE_KUBE=1 makes that a
// failure, as CI does when the binary is cached.
package kubetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the kube-apiserver the tests run.
const Version = "v1.37.2"

// Tokens of the token file: an administrator (system:masters) and users
// without any role until a test binds one.
const (
	AdminToken   = "admin-token-0123456789"
	ReaderToken  = "reader-token-0123456789" // user "regprune"
	LimitedToken = "limited-token-0123456789"
	// ExpiredToken is known to no one: what an expired kubeconfig token
	// looks like to the API server (401).
	ExpiredToken = "expired-token-0123456789"
)

// Cluster is a running API server.
type Cluster struct {
	URL    string // https://127.0.0.1:PORT
	CAData []byte // PEM of the serving certificate
	client *http.Client
	dir    string
}

// Binaries returns the kube-apiserver and etcd paths, or why they are
// missing.
func Binaries() (apiserver, etcd string, why string) {
	apiserver = os.Getenv("REGPRUNE_KUBE_APISERVER")
	if apiserver == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache")
		}
		apiserver = filepath.Join(cache, "regprune", "kube", Version, "kube-apiserver")
	}
	if _, err := os.Stat(apiserver); err != nil {
		return "", "", fmt.Sprintf("no kube-apiserver at %s (build it with scripts/kube-test-binaries.sh)", apiserver)
	}
	etcd = os.Getenv("REGPRUNE_ETCD")
	if etcd == "" {
		var err error
		if etcd, err = exec.LookPath("etcd"); err != nil {
			return "", "", "no etcd on PATH (apt-get install etcd-server, or set REGPRUNE_ETCD)"
		}
	}
	return apiserver, etcd, ""
}

// Start starts etcd and kube-apiserver, waits until the API server is
// ready, and stops both when the test ends. It skips the test when the
// binaries are absent, unless REGPRUNE_REQUIRE_KUBE=1.
func Start(t testing.TB) *Cluster {
	t.Helper()
	apiserver, etcd, why := Binaries()
	if why != "" {
		if os.Getenv("REGPRUNE_REQUIRE_KUBE") == "1" {
			t.Fatalf("REGPRUNE_REQUIRE_KUBE=1: %s", why)
		}
		t.Skipf("skipping the real API server test: %s", why)
	}
	dir := t.TempDir()
	ports := freePorts(t, 3)
	etcdClient, etcdPeer, secure := ports[0], ports[1], ports[2]

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	start := func(name string, args ...string) *bytes.Buffer {
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Stdout, cmd.Stderr = &lockedWriter{w: &out}, &lockedWriter{w: &out}
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = cmd.Wait() }()
		return &out
	}

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdClient)
	peer := "http://127.0.0.1:" + strconv.Itoa(etcdPeer)
	etcdLog := start(etcd, "--name", "test", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "test="+peer, "--log-level", "error")

	cert, key := servingCert(t)
	saKey := rsaKey(t)
	files := map[string][]byte{
		"serving.crt": cert, "serving.key": key, "sa.key": saKey,
		"tokens.csv": []byte(AdminToken + ",admin,1,system:masters\n" + ReaderToken + ",regprune,2\n" + LimitedToken + ",limited,3\n"),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	apiLog := start(apiserver,
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", strconv.Itoa(secure),
		"--tls-cert-file", filepath.Join(dir, "serving.crt"), "--tls-private-key-file", filepath.Join(dir, "serving.key"),
		"--cert-dir", filepath.Join(dir, "certs"),
		"--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(dir, "sa.key"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--endpoint-reconciler-type", "none",
		"--disable-admission-plugins", "ServiceAccount",
		"--enable-priority-and-fairness=false",
		"--anonymous-auth=false",
		"--v", "0")

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cert)
	c := &Cluster{URL: "https://127.0.0.1:" + strconv.Itoa(secure), CAData: cert, dir: dir,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	deadline := time.Now().Add(120 * time.Second)
	for {
		code, body, err := c.do("GET", "/readyz", AdminToken, nil)
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not ready after 120s (%d %s %v)\napiserver:\n%s\netcd:\n%s", code, body, err, tail(apiLog), tail(etcdLog))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 1<<20 {
		return len(p), nil
	}
	return l.w.Write(p)
}

func tail(b *bytes.Buffer) string {
	s := b.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// freePorts returns n distinct free ports on 127.0.0.1 (all held open
// until each is picked, so none is handed out twice).
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out
}

func servingCert(t testing.TB) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func rsaKey(t testing.TB) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

func (c *Cluster) do(method, path, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.URL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Create POSTs obj (decoded JSON or YAML) as the administrator to the
// collection path ("/api/v1/namespaces/prod/pods") and returns what the
// API server stored.
func (c *Cluster) Create(t testing.TB, path string, obj any) map[string]any {
	t.Helper()
	code, body, err := c.do("POST", path, AdminToken, obj)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("POST %s: %d %s %v", path, code, body, err)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// UpdateStatus PUTs obj to path's status subresource ("/api/v1/namespaces/prod/pods/web/status").
func (c *Cluster) UpdateStatus(t testing.TB, path string, obj any) {
	t.Helper()
	code, body, err := c.do("PUT", path, AdminToken, obj)
	if err != nil || code != http.StatusOK {
		t.Fatalf("PUT %s: %d %s %v", path, code, body, err)
	}
}

// Namespace creates namespace name.
func (c *Cluster) Namespace(t testing.TB, name string) {
	t.Helper()
	c.Create(t, "/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}})
}

// Kubeconfig writes a kubeconfig with one context per name in contexts,
// each a user with that token, and returns its path. The first context
// is the current one.
func (c *Cluster) Kubeconfig(t testing.TB, contexts ...[2]string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n",
		c.URL, base64.StdEncoding.EncodeToString(c.CAData))
	b.WriteString("users:\n")
	for _, ct := range contexts {
		fmt.Fprintf(&b, "- name: %s\n  user:\n    token: %s\n", ct[0], ct[1])
	}
	b.WriteString("contexts:\n")
	for _, ct := range contexts {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: test\n    user: %s\n", ct[0], ct[0])
	}
	if len(contexts) > 0 {
		fmt.Fprintf(&b, "current-context: %s\n", contexts[0][0])
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
