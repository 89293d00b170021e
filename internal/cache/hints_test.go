package cache_test

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/regprune/regprune/internal/cache"
	"github.com/regprune/regprune/internal/inventory"
)

var _ inventory.Hinter = (*cache.Cache)(nil)

// Hints round-trip per repository; a damaged, foreign or linked file is
// no hints at all (hints only choose HEAD or GET, never what a tag names).
func TestHints(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	if h := c.Hints("reg.example/app"); h != nil {
		t.Fatalf("hints before any run: %v", h)
	}
	tags := map[string]string{"latest": "sha256:aa", "v1": "sha256:bb"}
	c.PutHints("reg.example/app", tags)
	c.PutHints("reg.example/other", map[string]string{"x": "sha256:cc"})
	if got := open(t, dir).Hints("reg.example/app"); !maps.Equal(got, tags) {
		t.Fatalf("hints %v, want %v", got, tags)
	}

	files, err := filepath.Glob(filepath.Join(dir, "hints", "*.json"))
	if err != nil || len(files) != 2 {
		t.Fatalf("hints files %v (%v)", files, err)
	}
	for _, f := range files {
		if err := os.WriteFile(f, []byte(`{"repository":`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if h := c.Hints("reg.example/app"); h != nil {
		t.Fatalf("hints from a damaged file: %v", h)
	}

	// A file of another repository's name under this one's path.
	c.PutHints("reg.example/other", map[string]string{"x": "sha256:cc"})
	other, _ := filepath.Glob(filepath.Join(dir, "hints", "*.json"))
	var otherBody []byte
	for _, f := range other {
		if b, _ := os.ReadFile(f); bytes.Contains(b, []byte(`"reg.example/other"`)) {
			otherBody = b
		}
	}
	if otherBody == nil {
		t.Fatal("no hints file of reg.example/other")
	}
	for _, f := range other {
		if err := os.WriteFile(f, otherBody, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if h := c.Hints("reg.example/app"); h != nil {
		t.Fatalf("hints of another repository: %v", h)
	}

	// A symlink in place of the file is not followed.
	target := filepath.Join(t.TempDir(), "elsewhere.json")
	if err := os.WriteFile(target, []byte(`{"repository":"reg.example/app","tags":{"a":"sha256:dd"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range other {
		os.Remove(f)
		if err := os.Symlink(target, f); err != nil {
			t.Fatal(err)
		}
	}
	if h := c.Hints("reg.example/app"); h != nil {
		t.Fatalf("hints read through a symlink: %v", h)
	}
}
