package registry

import (
	"os"
	"path/filepath"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// dockerKeychain is authn.DefaultKeychain with its environment injected:
// DefaultKeychain reads HOME, DOCKER_CONFIG and the XDG variables from the
// process, so a caller (a test) could not choose the file. It differs in
// one point: an explicit $DOCKER_CONFIG wins over ~/.docker, as it does
// for the docker command.
type dockerKeychain struct{ getenv func(string) string }

func (k dockerKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	cf, err := k.load()
	if err != nil || cf == nil {
		return authn.Anonymous, err
	}
	var cfg, empty types.AuthConfig
	for _, key := range []string{target.String(), target.RegistryStr()} {
		if key == name.DefaultRegistry {
			key = authn.DefaultAuthKey
		}
		cfg, err = cf.GetAuthConfig(key)
		if err != nil {
			return nil, err
		}
		cfg.ServerAddress = "" // set by GetAuthConfig; not part of "is empty"
		if cfg != empty {
			break
		}
	}
	if cfg == empty {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: cfg.Username, Password: cfg.Password, Auth: cfg.Auth,
		IdentityToken: cfg.IdentityToken, RegistryToken: cfg.RegistryToken,
	}), nil
}

// load returns the first config file that exists, nil if none does.
func (k dockerKeychain) load() (*configfile.ConfigFile, error) {
	home := k.getenv("HOME")
	dir := k.getenv("DOCKER_CONFIG")
	if dir == "" && home != "" {
		dir = filepath.Join(home, ".docker")
	}
	if dir != "" && fileExists(filepath.Join(dir, config.ConfigFileName)) {
		return config.Load(dir)
	}
	var podman []string
	if f := k.getenv("REGISTRY_AUTH_FILE"); f != "" {
		podman = append(podman, f)
	}
	if d := k.getenv("XDG_RUNTIME_DIR"); d != "" {
		podman = append(podman, filepath.Join(d, "containers", "auth.json"))
	}
	if d := k.getenv("XDG_CONFIG_HOME"); d != "" {
		podman = append(podman, filepath.Join(d, "containers", "auth.json"))
	} else if home != "" {
		podman = append(podman, filepath.Join(home, ".config", "containers", "auth.json"))
	}
	for _, p := range podman {
		if !fileExists(p) {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return config.LoadFromReader(f)
	}
	return nil, nil
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}
