package cli_test

// Secrets never leave the process: the password given through
// REGPRUNE_USERNAME/REGPRUNE_PASSWORD and every Bearer token the token
// server issued appear nowhere in stdout, stderr (at -vv), error messages,
// the saved plan file or any other file the runs wrote (the cache).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/registrytest"
)

func TestNoSecretInOutputLogsOrFiles(t *testing.T) {
	const (
		user     = "ci-bot"
		password = "Sup3r-s3cret-Passw0rd-6d1e"
		wrong    = "Wr0ng-s3cret-Passw0rd-90aa"
	)
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{Auth: &registrytest.TokenAuth{Users: map[string]registrytest.TokenUser{
		user: {Password: password, Actions: []string{"pull", "push", "delete"}},
	}}})
	if _, err := reg.SeedCI(ctx, "ci/app", 4, time.Now().Add(-96*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	rec := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.json")

	var captured []string // every stdout, stderr and error message
	run := func(pass string, args ...string) (string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		getenv := func(k string) string {
			switch k {
			case "REGPRUNE_USERNAME":
				return user
			case "REGPRUNE_PASSWORD":
				return pass
			case "XDG_CACHE_HOME":
				return filepath.Join(dir, "cache")
			case "HOME":
				return filepath.Join(dir, "home")
			case "DOCKER_CONFIG":
				return filepath.Join(dir, "docker")
			}
			return ""
		}
		err := cli.Run(ctx, args, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
		captured = append(captured, stdout.String(), stderr.String())
		if err != nil {
			captured = append(captured, err.Error())
		}
		return stdout.String(), err
	}

	repo := rec.Host + "/ci/app"
	out, err := run(password, "plan", repo, "--keep-tag", "latest", "-o", "json", "-vv")
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if err := os.WriteFile(planFile, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(password, "apply", "--plan", planFile, "-o", "json", "-vv"); err != nil {
		t.Fatalf("apply --plan: %v", err)
	}
	if _, err := run(password, "apply", repo, "--keep-tag", "latest", "--yes", "-vv"); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if _, err := run(wrong, "plan", repo, "--keep-tag", "latest", "-vv"); err == nil {
		t.Fatal("plan with a wrong password succeeded")
	}
	if got, err := reg.Tags(ctx, "ci/app"); err != nil || len(got) != 2 {
		t.Fatalf("tags after apply %v %v: the runs did not do their job (want latest and its job tag)", got, err)
	}
	// The journal (under HOME) is among the files scanned below, and
	// restore pushes with the same credentials.
	if _, err := os.Stat(filepath.Join(dir, "home", ".local", "state", "regprune", "journal.db")); err != nil {
		t.Fatalf("no journal: %v", err)
	}
	out, err = run(password, "runs", "-o", "json")
	var runs []struct {
		ID      string
		Deleted int `json:"manifests_deleted"`
	}
	if err != nil || json.Unmarshal([]byte(out), &runs) != nil || len(runs) != 2 || runs[1].Deleted == 0 {
		t.Fatalf("runs: %v\n%s", err, out)
	}
	if _, err := run(password, "restore", runs[1].ID, "--yes", "-vv"); err != nil {
		t.Fatalf("restore: %v", err)
	}

	secrets := rec.Credentials()
	if len(secrets) == 0 {
		t.Fatal("no Authorization header recorded: the check proves nothing")
	}
	for _, p := range []string{password, wrong} {
		secrets = append(secrets, p, base64.StdEncoding.EncodeToString([]byte(user+":"+p)))
	}
	check := func(where, text string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains a secret (%.6s…)", where, s)
			}
		}
	}
	for i, c := range captured {
		check("output "+string(rune('A'+i)), c)
	}
	var files int
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		check(path, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scanned %d outputs and %d files for %d secrets (%d recorded Authorization values)", len(captured), files, len(secrets), len(rec.Credentials()))
	if all := strings.Join(captured, "\n"); !strings.Contains(all, "level=INFO") {
		t.Error("no log at -vv: the check of stderr proves nothing")
	}
	if !strings.Contains(strings.Join(captured, "\n"), "invalid username or password") {
		t.Error("the wrong password's run does not say why it failed")
	}
}

// A hostile token endpoint echoes the credentials it received, in a
// registry error message, as a plain-text body, and in a 200 answer with
// no token: none of it reaches stdout, stderr, the error or the plan
// (issue 10 point 7). The proxy points the registry's challenge at it.
func TestNoSecretFromHostileTokenEndpoint(t *testing.T) {
	const (
		user     = "ci-bot"
		password = "H0stile-echo-Passw0rd-77aa"
	)
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{Auth: &registrytest.TokenAuth{Users: map[string]registrytest.TokenUser{
		user: {Password: password, Actions: []string{"pull", "delete"}},
	}}})
	if _, err := reg.SeedCI(ctx, "ci/app", 2, time.Now().Add(-48*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	var mode atomic.Int32
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		dec, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "Basic "))
		leak := fmt.Sprintf("you sent %s, that is %s, password %s", auth, dec, password)
		switch mode.Load() {
		case 0:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": "UNAUTHORIZED", "message": leak}}})
		case 1:
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, leak)
		default:
			_ = json.NewEncoder(w).Encode(map[string]string{"detail": leak})
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: echo, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	realm := "http://localhost:" + port + "/token"
	px := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{Rewrite: func(resp *http.Response) error {
		if v := resp.Header.Get("WWW-Authenticate"); v != "" {
			resp.Header.Set("WWW-Authenticate", strings.Replace(v, reg.TokenURL(), realm, 1))
		}
		return nil
	}})
	getenv := func(k string) string {
		return map[string]string{"REGPRUNE_USERNAME": user, "REGPRUNE_PASSWORD": password}[k]
	}
	secrets := append(encodingsOf(password), encodingsOf(user+":"+password)...)
	for m := range 3 {
		mode.Store(int32(m))
		var stdout, stderr bytes.Buffer
		err := cli.Run(ctx, []string{"plan", px.Host + "/ci/app", "--keep-tag", "latest", "-o", "json", "-vv", "--no-cache"},
			cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
		if err == nil {
			t.Fatalf("mode %d: plan succeeded against a token endpoint that grants nothing", m)
		}
		all := stdout.String() + stderr.String() + err.Error()
		if !strings.Contains(all, "token") {
			t.Errorf("mode %d: the failure does not name the token endpoint:\n%s", m, all)
		}
		for _, s := range secrets {
			if strings.Contains(all, s) {
				t.Errorf("mode %d: output contains a secret (%.6s…):\n%s", m, s, all)
			}
		}
	}
}

// encodingsOf is s and its base64 forms, std and URL, padded or not.
func encodingsOf(s string) []string {
	b := []byte(s)
	return []string{s, base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)}
}

// A failing credential helper's output (which may be a credential) is
// not echoed.
func TestCredentialHelperOutputNotEchoed(t *testing.T) {
	const leak = "helper-printed-Secr3t-0f1e"
	reg := registrytest.New(t, registrytest.Options{})
	dir := t.TempDir()
	helper := "#!/bin/sh\necho '" + leak + "'\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-evil"), []byte(helper), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"credHelpers": {%q: "evil"}}`, reg.Host)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The keychain reads HOME and DOCKER_CONFIG through Env.Getenv; the
	// helper is looked up on the process's PATH.
	getenv := func(k string) string {
		if k == "HOME" || k == "DOCKER_CONFIG" {
			return dir
		}
		return ""
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	err := cli.Run(context.Background(), []string{"plan", reg.Host + "/ci/app", "--keep-tag", "latest", "--no-cache", "-vv"},
		cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
	if err == nil {
		t.Fatal("plan succeeded with a failing credential helper")
	}
	all := stdout.String() + stderr.String() + err.Error()
	if strings.Contains(all, leak) {
		t.Errorf("the helper's output is echoed:\n%s", all)
	}
	if !strings.Contains(all, "helper's output is not shown") {
		t.Errorf("the failure does not say the helper failed:\n%s", all)
	}
}

// With --insecure, Basic credentials still do not go over plain HTTP to a
// token realm that is not loopback, unless
// --insecure-plain-http-credentials says so.
func TestNoPlainHTTPCredentialsToRemoteRealm(t *testing.T) {
	const password = "Pl4in-http-Passw0rd-19cd"
	reg := registrytest.New(t, registrytest.Options{Auth: &registrytest.TokenAuth{Users: map[string]registrytest.TokenUser{
		"bot": {Password: password, Actions: []string{"pull"}},
	}}})
	// 198.51.100.0/24 is TEST-NET-2: never dialled, the request is refused first.
	px := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{Rewrite: func(resp *http.Response) error {
		if v := resp.Header.Get("WWW-Authenticate"); v != "" {
			resp.Header.Set("WWW-Authenticate", strings.Replace(v, reg.TokenURL(), "http://198.51.100.7/token", 1))
		}
		return nil
	}})
	getenv := func(k string) string {
		return map[string]string{"REGPRUNE_USERNAME": "bot", "REGPRUNE_PASSWORD": password}[k]
	}
	var stdout, stderr bytes.Buffer
	err := cli.Run(context.Background(), []string{"plan", px.Host + "/ci/app", "--keep-tag", "latest", "--no-cache", "--insecure", "--request-timeout", "5s"},
		cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
	all := stdout.String() + stderr.String()
	if err != nil {
		all += err.Error()
	}
	if err == nil || !strings.Contains(all, "refusing to send credentials over plain HTTP to 198.51.100.7") || !strings.Contains(all, "--insecure-plain-http-credentials") {
		t.Fatalf("err %v, output:\n%s", err, all)
	}
	if px.Counts().TagList != 0 {
		t.Error("requests went on after the refusal")
	}
	if err := cli.Run(context.Background(), []string{"plan", px.Host + "/ci/app", "--keep-tag", "latest", "--insecure-plain-http-credentials"},
		cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: getenv}); !errors.Is(err, cli.ErrUsage) {
		t.Errorf("--insecure-plain-http-credentials without --insecure: %v", err)
	}
}

// The vendor API's token (GITHUB_TOKEN against the GHCR stand-in, right
// and wrong, the wrong one echoed back by the API's 401) appears in no output, log (-vv), error or file of the runs.
func TestNoVendorTokenInOutput(t *testing.T) {
	const token, wrong = "ghp_V3ndor-t0ken-5a1f2e", "ghp_Wr0ng-v3ndor-t0ken-77"
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.SeedCI(ctx, "ci/app", 3, time.Now().Add(-96*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	gh := registrytest.NewGitHub(t, reg, registrytest.GitHubOptions{Token: token, EchoCredentials: true})
	dir := t.TempDir()
	var captured []string
	var applied string
	for _, c := range []struct {
		tok  string
		args []string
	}{
		{wrong, []string{"plan", gh.Ref("ci/app"), "--keep-tag", "latest", "--api-url", gh.URL, "-vv"}},
		{token, []string{"apply", "--yes", gh.Ref("ci/app"), "--keep-tag", "latest", "--api-url", gh.URL, "-vv", "-o", "json"}},
	} {
		var stdout, stderr bytes.Buffer
		getenv := func(k string) string {
			switch k {
			case "GITHUB_TOKEN":
				return c.tok
			case "XDG_CACHE_HOME":
				return filepath.Join(dir, "cache")
			case "XDG_STATE_HOME":
				return filepath.Join(dir, "state")
			case "HOME":
				return filepath.Join(dir, "home")
			}
			return ""
		}
		err := cli.Run(ctx, c.args, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
		captured = append(captured, stdout.String(), stderr.String())
		if err != nil {
			captured = append(captured, err.Error())
		}
		applied = stdout.String()
	}
	if !strings.Contains(applied, `"deleted": 2`) {
		t.Fatalf("apply did not delete through the API: %s", applied)
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			captured = append(captured, string(b))
		}
		return nil
	})
	for _, s := range append(encodingsOf(token), encodingsOf(wrong)...) {
		for i, out := range captured {
			if strings.Contains(out, s) {
				t.Errorf("output %d holds a token form %q", i, s)
			}
		}
	}
}

// Docker Hub: the registry password and the Hub token it is exchanged for
// appear in no output, log or file of a plan and an apply.
func TestNoDockerHubSecretInOutput(t *testing.T) {
	const user, password = "acme-bot", "dckr_pat_S3cret-hub-4f1e"
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.SeedCI(ctx, "acme/app", 3, time.Now().Add(-96*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	hub := registrytest.NewDockerHub(t, reg, registrytest.DockerHubOptions{User: user, Secret: password})
	dir := t.TempDir()
	var captured []string
	var applied string
	for _, args := range [][]string{
		{"plan", hub.Ref("acme/app"), "--keep-tag", "latest", "--api", "dockerhub", "--api-url", hub.URL, "-vv"},
		{"apply", "--yes", hub.Ref("acme/app"), "--keep-tag", "latest", "--api", "dockerhub", "--api-url", hub.URL, "-vv", "-o", "json"},
	} {
		var stdout, stderr bytes.Buffer
		getenv := func(k string) string {
			return map[string]string{"REGPRUNE_USERNAME": user, "REGPRUNE_PASSWORD": password,
				"XDG_CACHE_HOME": filepath.Join(dir, "cache"), "XDG_STATE_HOME": filepath.Join(dir, "state"), "HOME": filepath.Join(dir, "home")}[k]
		}
		err := cli.Run(ctx, args, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
		if err != nil {
			captured = append(captured, err.Error())
		}
		captured = append(captured, stdout.String(), stderr.String())
		applied = stdout.String()
	}
	if !strings.Contains(applied, `"deleted": 2`) {
		t.Fatalf("apply did not delete through the Hub API: %s", applied)
	}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			captured = append(captured, string(b))
		}
		return nil
	})
	for _, s := range append(encodingsOf(password), encodingsOf(hub.Token())...) {
		for i, out := range captured {
			if strings.Contains(out, s) {
				t.Errorf("output %d holds a secret form %q", i, s)
			}
		}
	}
}
