package registry

import (
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Keychain returns the credentials regprune uses, first match wins:
//  1. REGPRUNE_USERNAME and REGPRUNE_PASSWORD, for every registry (or only
//     for REGPRUNE_REGISTRY when that is set);
//  2. inside GitLab CI, CI_REGISTRY_USER and CI_REGISTRY_PASSWORD for the
//     host CI_REGISTRY;
//  3. the Docker config ($DOCKER_CONFIG/config.json or
//     $HOME/.docker/config.json) with its credential helpers, else
//     Podman's auth file ($REGISTRY_AUTH_FILE,
//     $XDG_RUNTIME_DIR/containers/auth.json or
//     $XDG_CONFIG_HOME/containers/auth.json);
//  4. anonymous.
//
// getenv is os.Getenv in production; tests pass their own. Every variable,
// HOME and DOCKER_CONFIG included, is read through getenv (see
// dockerKeychain), not from the process.
func Keychain(getenv func(string) string) authn.Keychain {
	return authn.NewMultiKeychain(envKeychain{getenv}, dockerKeychain{getenv})
}

type envKeychain struct{ getenv func(string) string }

func (k envKeychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	host := res.RegistryStr()
	if u, p := k.getenv("REGPRUNE_USERNAME"), k.getenv("REGPRUNE_PASSWORD"); u != "" && p != "" {
		if only := k.getenv("REGPRUNE_REGISTRY"); only == "" || sameHost(only, host) {
			return authn.FromConfig(authn.AuthConfig{Username: u, Password: p}), nil
		}
	}
	if reg := k.getenv("CI_REGISTRY"); reg != "" && sameHost(reg, host) {
		if u, p := k.getenv("CI_REGISTRY_USER"), k.getenv("CI_REGISTRY_PASSWORD"); u != "" && p != "" {
			return authn.FromConfig(authn.AuthConfig{Username: u, Password: p}), nil
		}
	}
	return authn.Anonymous, nil
}

func sameHost(a, b string) bool {
	a = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(a, "https://"), "http://"), "/")
	return strings.EqualFold(a, b)
}
