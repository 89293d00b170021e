package cli_test

// Secrets never leave the process: the password given through
// REGPRUNE_USERNAME/REGPRUNE_PASSWORD and every Bearer token the token
// server issued appear nowhere in stdout, stderr (at -vv), error messages,
// the saved plan file or any other file the runs wrote (the cache).

import (
	"bytes"
	"context"
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
	if _, err := run(password, "apply", repo, "--keep-tag", "latest", "-vv"); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if _, err := run(wrong, "plan", repo, "--keep-tag", "latest", "-vv"); err == nil {
		t.Fatal("plan with a wrong password succeeded")
	}
	if got, err := reg.Tags(ctx, "ci/app"); err != nil || len(got) != 2 {
		t.Fatalf("tags after apply %v %v: the runs did not do their job (want latest and its job tag)", got, err)
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
