package cache_test

// The cache never follows a symlink inside its directory, and refuses a
// directory other users may write (issue 10 point 6).

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cache"
)

// A symlinked trim stamp is left alone: its target keeps its content.
func TestTrimStampSymlinkNotFollowed(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "trimmed")); err != nil {
		t.Fatal(err)
	}
	// A trim is due (no valid stamp): Open would write the stamp.
	if _, err := cache.Open(dir, cache.Options{Now: func() time.Time { return time.Now().Add(48 * time.Hour) }}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
		t.Fatalf("the stamp's symlink target was written through: %q %v", b, err)
	}
}

// A symlinked sha256/ directory makes the cache unusable rather than
// written through; a symlinked sha256/xx/ directory is refused per entry.
func TestSymlinkedDirectoriesNotWrittenThrough(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(dir, "sha256")); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Open(dir, cache.Options{}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Open with a symlinked sha256/: %v", err)
	}

	dir2 := t.TempDir()
	c := open(t, dir2)
	body := []byte(`{"schemaVersion":2}`)
	d := digest(body)
	sub := filepath.Dir(entryPath(dir2, d))
	if err := os.Symlink(elsewhere, sub); err != nil {
		t.Fatal(err)
	}
	c.Put(d, body)
	if got, ok := c.Get(d); ok {
		t.Fatalf("Get through a symlinked directory: %q", got)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Fatalf("written through the symlink: %v", ents)
	}
}

// An entry that is a symlink is never read, even to a file that would
// verify.
func TestEntrySymlinkNotRead(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	body := bytes.Repeat([]byte("x"), 10)
	d := digest(body)
	target := filepath.Join(t.TempDir(), "t")
	if err := os.WriteFile(target, body, 0o600); err != nil {
		t.Fatal(err)
	}
	p := entryPath(dir, d)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(d); ok {
		t.Fatal("Get followed an entry symlink")
	}
	if _, err := c.Trim(0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); err != nil {
		t.Fatalf("Trim removed the symlink's target: %v", err)
	}
}

// A cache directory writable by group or others is refused.
func TestOpenRefusesSharedDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Open(dir, cache.Options{}); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("Open of a mode 0777 directory: %v", err)
	}
	if os.Getuid() == 0 {
		// As root, a directory of another user is easy to make.
		other := filepath.Join(t.TempDir(), "o")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 12345, 12345); err != nil {
			t.Fatal(err)
		}
		if _, err := cache.Open(other, cache.Options{}); err == nil || !strings.Contains(err.Error(), "owned by uid 12345") {
			t.Fatalf("Open of another user's directory: %v", err)
		}
	}
}
