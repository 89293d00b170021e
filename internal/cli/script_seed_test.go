package cli_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/registrytest"
)

// seedScriptRegistry seeds, once for all scripts, the storage every
// script's registries start from: ci/app with 5 CI builds (tags
// 1001..1005, "latest" on 1005), built 5d, 4d, 3d, 2d and 1d ago. Ages are
// relative to now: regprune reads the real clock. Each script gets its
// own copy of the directory (Options.From), so scripts stay independent;
// copying a directory costs far less than pushing the images again.
func seedScriptRegistry(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "golden")
	reg := registrytest.New(t, registrytest.Options{Dir: dir})
	day := 24 * time.Hour
	if _, err := reg.SeedCI(context.Background(), "ci/app", 5, time.Now().Add(-6*day), day); err != nil {
		t.Fatal(err)
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}
