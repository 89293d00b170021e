package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/registrytest"
)

// ECR's credentials come through Amazon's credential helper,
// docker-credential-ecr-login, named in credHelpers of the Docker config
// (vendors.md §3: GetAuthorizationToken's token is the password of the
// user AWS). A stand-in helper that answers the credential-helper
// protocol as ecr-login does (the server URL on stdin; ServerURL,
// Username "AWS" and Secret on stdout) is enough for apply to plan and
// delete, and the token appears in no output.
func TestECRCredentialHelper(t *testing.T) {
	const token = "ECR-t0ken-eyJwYXlsb2FkIjoi-7c21"
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{Auth: &registrytest.TokenAuth{Users: map[string]registrytest.TokenUser{
		"AWS": {Password: token, Actions: []string{"pull", "push", "delete"}},
	}}})
	if _, err := reg.SeedCI(ctx, "ecr/app", 3, time.Now().Add(-96*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	helper := "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread url\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"AWS\",\"Secret\":\"" + token + "\"}\\n' \"$url\"\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-ecr-login"), []byte(helper), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credHelpers": {"`+reg.Host+`": "ecr-login"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		switch k {
		case "HOME", "DOCKER_CONFIG":
			return dir
		case "XDG_STATE_HOME", "XDG_CACHE_HOME":
			return filepath.Join(dir, "state")
		}
		return ""
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	err := cli.Run(ctx, []string{"apply", reg.Host + "/ecr/app", "--keep-tag", "latest", "--no-cache", "--yes", "-vv"},
		cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
	all := stdout.String() + stderr.String()
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, all)
	}
	// The newest build is "latest": it keeps its build tag too.
	if tags, err := reg.Tags(ctx, "ecr/app"); err != nil || len(tags) != 2 || !slices.Contains(tags, "latest") {
		t.Errorf("tags %v (%v), want latest and its build tag", tags, err)
	}
	for _, s := range encodingsOf(token) {
		if strings.Contains(all, s) {
			t.Errorf("the token appears in the output")
		}
	}
}
