package registry

import (
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func writeDockerConfig(t *testing.T, path, host, user, pass string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	data := `{"auths":{"` + host + `":{"auth":"` + auth + `"}}}`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The Docker config is found through the injected environment only: the
// process's HOME and DOCKER_CONFIG (here pointing at other credentials)
// are not read.
func TestDockerKeychainUsesInjectedEnv(t *testing.T) {
	const host = "registry.example.com"
	tmp := t.TempDir()
	process := filepath.Join(tmp, "process")
	writeDockerConfig(t, filepath.Join(process, "config.json"), host, "process-user", "process-pass")
	t.Setenv("DOCKER_CONFIG", process)
	t.Setenv("HOME", filepath.Join(tmp, "process-home"))
	writeDockerConfig(t, filepath.Join(tmp, "process-home", ".docker", "config.json"), host, "process-user", "process-pass")

	explicit := filepath.Join(tmp, "explicit")
	writeDockerConfig(t, filepath.Join(explicit, "config.json"), host, "explicit-user", "explicit-pass")
	home := filepath.Join(tmp, "home")
	writeDockerConfig(t, filepath.Join(home, ".docker", "config.json"), host, "home-user", "home-pass")
	podman := filepath.Join(tmp, "auth.json")
	writeDockerConfig(t, podman, host, "podman-user", "podman-pass")
	writeDockerConfig(t, filepath.Join(tmp, "xdg", "containers", "auth.json"), host, "xdg-user", "xdg-pass")

	repo, err := name.NewRepository(host + "/app")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		user string // "" = anonymous
	}{
		{"nothing", nil, ""},
		{"DOCKER_CONFIG", map[string]string{"DOCKER_CONFIG": explicit, "HOME": home}, "explicit-user"},
		{"HOME", map[string]string{"HOME": home}, "home-user"},
		{"empty DOCKER_CONFIG dir falls back to podman", map[string]string{"DOCKER_CONFIG": filepath.Join(tmp, "none"), "REGISTRY_AUTH_FILE": podman}, "podman-user"},
		{"XDG_RUNTIME_DIR", map[string]string{"XDG_RUNTIME_DIR": filepath.Join(tmp, "xdg")}, "xdg-user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc := Keychain(func(k string) string { return tc.env[k] })
			a, err := kc.Resolve(repo)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if tc.user == "" {
				if a != authn.Anonymous {
					t.Errorf("got credentials of %q, want anonymous", cfg.Username)
				}
				return
			}
			if cfg.Username != tc.user {
				t.Errorf("user %q, want %q", cfg.Username, tc.user)
			}
		})
	}
}

// A credential helper's stderr never reaches the user's terminal (it may
// print a credential there): it is captured, and a failure only says how
// much it wrote. Its answer on stdout still gives the credentials.
func TestCredentialHelperStderrCaptured(t *testing.T) {
	const host, leak = "registry.example.com", "stderr-Secr3t-9a7b"
	dir := t.TempDir()
	helper := `#!/bin/sh
read server
echo "` + leak + `" >&2
case "$server" in
ok.example.com) echo '{"ServerURL":"ok.example.com","Username":"bot","Secret":"pw"}' ;;
token.example.com) echo '{"ServerURL":"token.example.com","Username":"<token>","Secret":"idtoken"}' ;;
missing.example.com) echo 'credentials not found in native keychain'; exit 1 ;;
*) echo "` + leak + `-stdout"; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-leaky"), []byte(helper), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := `{"credHelpers": {"` + host + `": "leaky", "ok.example.com": "leaky", "token.example.com": "leaky", "missing.example.com": "leaky"}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	k := dockerKeychain{getenv: func(v string) string { return map[string]string{"DOCKER_CONFIG": dir}[v] }}

	// The process's stderr, as the helper would inherit it.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	resolve := func(h string) (authn.AuthConfig, error) {
		repo, err := name.NewRepository(h + "/app")
		if err != nil {
			t.Fatal(err)
		}
		a, err := k.Resolve(repo)
		if err != nil {
			return authn.AuthConfig{}, err
		}
		c, err := a.Authorization()
		if err != nil {
			return authn.AuthConfig{}, err
		}
		return *c, nil
	}
	_, failErr := resolve(host)
	ok, okErr := resolve("ok.example.com")
	tok, tokErr := resolve("token.example.com")
	none, noneErr := resolve("missing.example.com")
	os.Stderr = saved
	w.Close()
	passed, _ := io.ReadAll(r)
	r.Close()

	if len(passed) != 0 {
		t.Errorf("the helper's stderr reached the process's stderr: %q", passed)
	}
	if failErr != nil {
		failErr = helperOutput(failErr) // as Client.Open shows it
	}
	if failErr == nil || strings.Contains(failErr.Error(), leak) || !strings.Contains(failErr.Error(), "bytes to stderr, not shown") {
		t.Errorf("failing helper: %v", failErr)
	}
	if okErr != nil || ok.Username != "bot" || ok.Password != "pw" {
		t.Errorf("helper's credentials: %+v, %v", ok, okErr)
	}
	if tokErr != nil || tok.IdentityToken != "idtoken" {
		t.Errorf("helper's identity token: %+v, %v", tok, tokErr)
	}
	if noneErr != nil || none != (authn.AuthConfig{}) {
		t.Errorf("credentials not found: %+v, %v; want anonymous", none, noneErr)
	}
}
