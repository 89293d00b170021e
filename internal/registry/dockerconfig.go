package registry

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/docker/docker-credential-helpers/client"
	"github.com/docker/docker-credential-helpers/credentials"
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
		cfg, err = k.authConfig(cf, key)
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

// authConfig is cf.GetAuthConfig(key), except that a credential helper is
// run with its stderr captured, not passed through to the user's terminal
// as docker/cli does: what a helper prints may be a credential. When
// DOCKER_AUTH_CONFIG is set, docker/cli's store (which consults it first)
// answers.
func (k dockerKeychain) authConfig(cf *configfile.ConfigFile, key string) (types.AuthConfig, error) {
	helper, ok := cf.CredentialHelpers[key]
	if !ok {
		helper = cf.CredentialsStore
	}
	if helper == "" || k.getenv(configfile.DockerEnvConfigKey) != "" {
		return cf.GetAuthConfig(key)
	}
	creds, err := client.Get(func(args ...string) client.Program {
		return &helperProgram{cmd: exec.Command("docker-credential-"+helper, args...)}
	}, key)
	switch {
	case credentials.IsErrCredentialsNotFound(err):
		return types.AuthConfig{}, nil
	case err != nil:
		return types.AuthConfig{}, err
	case creds.Username == "<token>": // docker/cli's tokenUsername
		return types.AuthConfig{IdentityToken: creds.Secret}, nil
	}
	return types.AuthConfig{Username: creds.Username, Password: creds.Secret}, nil
}

// helperProgram runs a credential helper with its stderr captured: it is
// never shown, only counted in the error when the helper fails.
type helperProgram struct {
	cmd *exec.Cmd
}

func (p *helperProgram) Input(in io.Reader) { p.cmd.Stdin = in }

func (p *helperProgram) Output() ([]byte, error) {
	var stderr countingWriter
	p.cmd.Stderr = &stderr
	var stdout bytes.Buffer
	p.cmd.Stdout = &limitedBuffer{buf: &stdout, max: 1 << 20}
	err := p.cmd.Run()
	if err != nil && stderr.n > 0 {
		err = fmt.Errorf("%w (it wrote %d bytes to stderr, not shown)", err, stderr.n)
	}
	return stdout.Bytes(), err
}

// countingWriter counts and discards.
type countingWriter struct{ n int }

func (w *countingWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// limitedBuffer keeps the first max bytes and discards the rest.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (w *limitedBuffer) Write(b []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}
