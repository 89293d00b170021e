package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registrytest"
)

// Deletes off altogether: the 405 to the first tag delete is not read as
// "cannot delete a tag alone" (no "falling back to digest deletes", no
// tag_delete refused), and the fix names distribution's setting only
// when distribution answered. A registry that is not distribution (here
// distribution's answers rewritten as another registry's: no API version
// header, its own words) gets no other registry's setting.
func TestDeletesOffWording(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		distribution bool
	}{
		{"distribution", true},
		{"another registry", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := registrytest.Start(ctx, registrytest.Options{DeleteDisabled: true})
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			if _, err := reg.SeedCI(ctx, "ci/app", 4, time.Now().Add(-5*24*time.Hour), 24*time.Hour); err != nil {
				t.Fatal(err)
			}
			host := reg.Host
			if !tc.distribution {
				proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{Rewrite: func(resp *http.Response) error {
					resp.Header.Del("Docker-Distribution-Api-Version")
					if resp.StatusCode == http.StatusMethodNotAllowed {
						body := `{"errors":[{"code":"UNSUPPORTED","message":"delete API is disabled"}]}`
						resp.Body = io.NopCloser(strings.NewReader(body))
						resp.ContentLength = int64(len(body))
						resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
					}
					return nil
				}})
				host = proxy.Host
			}
			var stdout, stderr bytes.Buffer
			err = cli.Run(ctx, []string{"apply", host + "/ci/app", "--keep-tag", "latest", "--yes", "--no-cache", "-o", "json", "-v"},
				cli.Env{Stdout: &stdout, Stderr: &stderr})
			if cli.ExitCode(err) != cli.ExitFailure {
				t.Fatalf("exit %d (%v), want 1\n%s", cli.ExitCode(err), err, stderr.String())
			}
			var p plan.Plan
			if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			out := stderr.String() + stdout.String()
			if strings.Contains(out, "falling back") || strings.Contains(out, "cannot delete a tag alone") {
				t.Errorf("deletes off read as no tag delete:\n%s", out)
			}
			if len(p.Registries) != 1 || p.Registries[0].TagDelete == plan.CapRefused || p.Registries[0].Deletes != plan.CapRefused {
				t.Errorf("registries %+v: want deletes refused, tag_delete not refused", p.Registries)
			}
			named := strings.Contains(out, "storage.delete.enabled")
			if named != tc.distribution {
				t.Errorf("distribution's setting named %v, want %v:\n%s", named, tc.distribution, stderr.String())
			}
			if !strings.Contains(stderr.String(), "enable deletes in the registry") {
				t.Errorf("no fix on stderr:\n%s", stderr.String())
			}
		})
	}
}
