package registry

import (
	"encoding/base64"
	"os"
	"path/filepath"
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
