package registry

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// CredentialSource names where Keychain(getenv) takes the credentials for
// host from, in the words an operator can act on: the environment, GitLab
// CI variables, the Docker config (an auths entry or a credential helper)
// or anonymous. It never returns a credential.
func CredentialSource(getenv func(string) string, host string) string {
	if u, p := getenv("REGPRUNE_USERNAME"), getenv("REGPRUNE_PASSWORD"); u != "" && p != "" {
		if only := getenv("REGPRUNE_REGISTRY"); only == "" || sameHost(only, host) {
			return "environment REGPRUNE_USERNAME/REGPRUNE_PASSWORD"
		}
	}
	if reg := getenv("CI_REGISTRY"); reg != "" && sameHost(reg, host) {
		if u, p := getenv("CI_REGISTRY_USER"), getenv("CI_REGISTRY_PASSWORD"); u != "" && p != "" {
			return "GitLab CI variables CI_REGISTRY_USER/CI_REGISTRY_PASSWORD"
		}
	}
	dir := getenv("DOCKER_CONFIG")
	if dir == "" {
		if home := getenv("HOME"); home != "" {
			dir = filepath.Join(home, ".docker")
		}
	}
	if dir != "" {
		path := filepath.Join(dir, "config.json")
		if data, err := os.ReadFile(path); err == nil {
			var cfg struct {
				Auths       map[string]json.RawMessage `json:"auths"`
				CredHelpers map[string]string          `json:"credHelpers"`
				CredsStore  string                     `json:"credsStore"`
			}
			if json.Unmarshal(data, &cfg) == nil {
				for k, helper := range cfg.CredHelpers {
					if sameHost(k, host) {
						return "credential helper docker-credential-" + helper + " (" + path + ")"
					}
				}
				if cfg.CredsStore != "" {
					return "credential helper docker-credential-" + cfg.CredsStore + " (credsStore in " + path + ")"
				}
				for k := range cfg.Auths {
					if sameHost(strings.TrimSuffix(strings.TrimSuffix(k, "/v1/"), "/v2/"), host) {
						return "docker config " + path
					}
				}
			}
		}
	}
	return "anonymous (no REGPRUNE_USERNAME/REGPRUNE_PASSWORD, CI_REGISTRY variables or docker config entry for " + host + ")"
}
