package config

import (
	"errors"
	"strings"
	"testing"
)

// registries: HOST: {api, api_url} sets the vendor API per host; a bad
// host, API name or URL is an error at its line.
func TestRegistries(t *testing.T) {
	const head = "version: 1\n"
	const rules = "rules:\n  - repositories: [ghcr.example.com/acme/**]\n    keep: {tags: [latest]}\n"
	c, err := Parse("p.yaml", []byte(head+"registries:\n  ghcr.example.com:\n    api: github\n    api_url: https://ghe.example.com/api/v3\n  docker.io: {api: v2}\n"+rules))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Registries["ghcr.example.com"]; got != (RegistrySpec{API: "github", APIURL: "https://ghe.example.com/api/v3"}) {
		t.Errorf("ghcr.example.com: %+v", got)
	}
	if got := c.Registries["docker.io"]; got.API != "v2" {
		t.Errorf("docker.io: %+v", got)
	}
	for _, c := range []struct{ yaml, want string }{
		{"registries:\n  ghcr.io: {api: quay}\n", `p.yaml:3:18: registries.ghcr.io.api "quay": want one of auto, v2`},
		{"registries:\n  ghcr.io: {api_url: ftp://x}\n", `p.yaml:3:22: registries.ghcr.io.api_url "ftp://x": want an http:// or https:// URL`},
		{"registries:\n  ghcr.io: {api_url: \"https://u:p@x\"}\n", `registries.ghcr.io.api_url "https://u:p@x": no credentials`},
		{"registries:\n  not_a_host: {api: v2}\n", `p.yaml:3:3: registries "not_a_host": not a registry host`},
		{"registries:\n  ghcr.io: {apiurl: x}\n", `p.yaml:3:13: registries.ghcr.io.apiurl: unknown key`},
		{"registries: [ghcr.io]\n", `p.yaml:2:13: registries: want a map`},
	} {
		_, err := Parse("p.yaml", []byte(head+c.yaml+rules))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %s", c.yaml, err, c.want)
		}
	}
}
