package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/registrytest"
)

// After the garbage collector, an image whose blobs another repository of
// the same registry still holds comes back: restore mounts them
// (POST /blobs/uploads/?mount=&from=) instead of calling it unrecoverable.
// ci/app's build 1002 is also in team/copy; builds 1001, 1003 and 1004
// are nowhere else.
func TestRestoreMountsFromAnotherRepository(t *testing.T) {
	ctx := context.Background()
	reg, err := registrytest.Start(ctx, registrytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	day := 24 * time.Hour
	builds, err := reg.SeedCI(ctx, "ci/app", 5, time.Now().Add(-6*day), day)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(reg.Ref("ci/app") + "@" + builds[1].String())
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, reg.Remote()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PushExisting(ctx, "team/copy", img, "copy"); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	run := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := cli.Run(ctx, args, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
			if k == "XDG_STATE_HOME" {
				return state
			}
			return ""
		}})
		return stdout.String() + stderr.String(), err
	}
	out, err := run("apply", reg.Host+"/ci/app", "--keep-tag", "latest", "--yes", "--no-cache", "-o", "json")
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	var p struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &p); err != nil || p.RunID == "" {
		t.Fatalf("run id: %v\n%s", err, out)
	}
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	out, err = run("restore", p.RunID, "-y")
	if cli.ExitCode(err) != 3 {
		t.Fatalf("restore: exit %d (%v), want 3 (three builds are gone)\n%s", cli.ExitCode(err), err, out)
	}
	tags := tagsOf(t, reg)
	if strings.Join(tags, " ") != "1002 1005 latest" {
		t.Errorf("tags %v, want 1002 back (its blobs mounted from team/copy)\n%s", tags, out)
	}
	if err := reg.Pullable(ctx, "ci/app:1002"); err != nil {
		t.Errorf("1002 does not pull: %v", err)
	}
	if strings.Count(out, "cannot come back") < 3 {
		t.Errorf("the builds that are nowhere else are not named:\n%s", out)
	}
}
