package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/registrytest"
)

// Issue 19 point 12: restore with credentials that may pull but not push
// fails naming the 401 and where the credentials came from (as plan and
// apply do), not "ContentLength=… with Body length 0"; after the first
// refusal nothing more is pushed in that repository; no secret is
// printed.
func TestRestoreWithoutPushNamesCredentials(t *testing.T) {
	const (
		writerPass = "Wr1ter-restore-Passw0rd-4c2d"
		readerPass = "Re4der-restore-Passw0rd-8e1f"
	)
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{Auth: &registrytest.TokenAuth{Users: map[string]registrytest.TokenUser{
		"writer": {Password: writerPass, Actions: []string{"pull", "delete"}},
		"reader": {Password: readerPass, Actions: []string{"pull"}},
	}}})
	if _, err := reg.SeedCI(ctx, "ci/app", 4, time.Now().Add(-96*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	rec := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	dir := t.TempDir()
	run := func(user, pass string, args ...string) (string, string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		getenv := func(k string) string {
			switch k {
			case "REGPRUNE_USERNAME":
				return user
			case "REGPRUNE_PASSWORD":
				return pass
			case "HOME":
				return filepath.Join(dir, "home")
			case "DOCKER_CONFIG":
				return filepath.Join(dir, "docker")
			}
			return ""
		}
		err := cli.Run(ctx, args, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
		return stdout.String(), stderr.String(), err
	}
	repo := rec.Host + "/ci/app"
	if _, _, err := run("writer", writerPass, "apply", repo, "--keep-tag", "latest", "--yes", "--no-cache"); err != nil {
		t.Fatalf("apply: %v", err)
	}
	out, _, err := run("reader", readerPass, "runs", "-o", "json")
	var runs []struct {
		ID      string
		Deleted int `json:"manifests_deleted"`
	}
	if err != nil || json.Unmarshal([]byte(out), &runs) != nil || len(runs) != 1 || runs[0].Deleted < 2 {
		t.Fatalf("runs: %v\n%s", err, out)
	}
	stdout, stderr, err := run("reader", readerPass, "restore", runs[0].ID, "--yes")
	if err == nil {
		t.Fatalf("restore without push rights succeeded:\n%s", stdout)
	}
	all := stdout + stderr + err.Error()
	t.Logf("restore: %v\n%s", err, stdout)
	if strings.Contains(all, "ContentLength") {
		t.Errorf("the output still says ContentLength:\n%s", all)
	}
	if !strings.Contains(stdout, "401 Unauthorized") || !strings.Contains(stdout, "credentials: environment REGPRUNE_USERNAME/REGPRUNE_PASSWORD") {
		t.Errorf("the output does not name the 401 and the credentials' source:\n%s", stdout)
	}
	if !strings.Contains(stdout, "not sent: the registry refused a push") {
		t.Errorf("the pushes after the first refusal were sent:\n%s", stdout)
	}
	secrets := append(rec.Credentials(), writerPass, readerPass,
		base64.StdEncoding.EncodeToString([]byte("reader:"+readerPass)))
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("the output contains a secret (%.6s…)", s)
		}
	}
	if got, err := reg.Tags(ctx, "ci/app"); err != nil || len(got) != 2 {
		t.Errorf("tags after the refused restore: %v %v", got, err)
	}
}
