package cache_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/cache"
	"github.com/regprune/regprune/internal/inventory"
)

var _ inventory.Cache = (*cache.Cache)(nil)

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

func open(t *testing.T, dir string) *cache.Cache {
	t.Helper()
	c, err := cache.Open(dir, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func entryPath(dir, d string) string {
	h := strings.TrimPrefix(d, "sha256:")
	return filepath.Join(dir, "sha256", h[:2], h)
}

func TestRoundTripAcrossOpens(t *testing.T) {
	dir := t.TempDir()
	body := []byte(`{"schemaVersion":2}`)
	d := digest(body)
	c := open(t, dir)
	if _, ok := c.Get(d); ok {
		t.Fatal("hit in an empty cache")
	}
	c.Put(d, body)
	c.Put(d, body) // already there: no second write
	if got, ok := c.Get(d); !ok || !bytes.Equal(got, body) {
		t.Fatalf("Get = %q, %v", got, ok)
	}
	if s := c.Stats(); s.Hits != 1 || s.Misses != 1 || s.Puts != 1 {
		t.Fatalf("stats = %+v", s)
	}
	// Another process (another Open) sees it.
	if got, ok := open(t, dir).Get(d); !ok || !bytes.Equal(got, body) {
		t.Fatalf("second open: Get = %q, %v", got, ok)
	}
	fi, err := os.Stat(entryPath(dir, d))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("entry mode %v, want 0600 (manifests of private registries)", fi.Mode().Perm())
	}
	// Closed, it holds no directory open and every call is a miss.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(d); ok {
		t.Error("Get after Close hit")
	}
}

// Put refuses content that does not match its digest, digests of other
// algorithms, malformed digests and entries over the size bound.
func TestPutRefusesWhatCannotBeVerified(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	body := []byte("config")
	other := digest([]byte("something else"))
	c.Put(other, body)
	if _, ok := c.Get(other); ok {
		t.Fatal("stored content under a digest it does not match")
	}
	for _, d := range []string{"sha512:" + strings.Repeat("a", 128), "sha256:../../etc", "sha256:" + strings.Repeat("A", 64), ""} {
		c.Put(d, body)
		if _, ok := c.Get(d); ok {
			t.Fatalf("hit for %q", d)
		}
	}
	big := bytes.Repeat([]byte("x"), cache.MaxEntrySize+1)
	c.Put(digest(big), big)
	if _, ok := c.Get(digest(big)); ok {
		t.Fatal("stored an entry over MaxEntrySize")
	}
	if c.Stats().Puts != 0 {
		t.Fatalf("puts = %d, want 0", c.Stats().Puts)
	}
}

// A file that no longer matches its digest (torn, tampered) is a miss and
// is removed.
func TestGetVerifiesDigest(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	body := []byte(`{"created":"2026-01-01T00:00:00Z"}`)
	d := digest(body)
	c.Put(d, body)
	p := entryPath(dir, d)
	if err := os.WriteFile(p, []byte(`{"created":"1999-01-01T00:00:00Z"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Get(d); ok {
		t.Fatalf("tampered entry returned: %q", got)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("tampered entry left in place: %v", err)
	}
	c.Put(d, body)
	if _, ok := c.Get(d); !ok {
		t.Fatal("entry not stored again after removal")
	}
}

func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	c1, c2 := open(t, dir), open(t, dir)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Appendf(nil, "entry %d", i%16)
			d := digest(body)
			c := c1
			if i%2 == 1 {
				c = c2
			}
			c.Put(d, body)
			if got, ok := c.Get(d); !ok || !bytes.Equal(got, body) {
				t.Errorf("entry %d: Get = %q, %v", i, got, ok)
			}
		}()
	}
	wg.Wait()
	// No temporary file is left behind.
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestTrimRemovesOldestFirst(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	base := time.Now().Add(-48 * time.Hour)
	var ds []string
	for i := range 10 {
		body := bytes.Repeat([]byte{byte('a' + i)}, 100)
		d := digest(body)
		c.Put(d, body)
		mt := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(entryPath(dir, d), mt, mt); err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	removed, err := c.Trim(450)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 6 {
		t.Fatalf("removed %d, want 6 (1000 bytes down to 400)", removed)
	}
	for i, d := range ds {
		if _, ok := c.Get(d); ok != (i >= 6) {
			t.Errorf("entry %d present = %v, want %v", i, ok, i >= 6)
		}
	}
}

// Open trims at most once a day.
func TestOpenTrimsOnSchedule(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	opts := func(at time.Time) cache.Options {
		return cache.Options{MaxBytes: 150, Now: func() time.Time { return at }}
	}
	c, err := cache.Open(dir, opts(now))
	if err != nil {
		t.Fatal(err)
	}
	var ds []string
	for i := range 3 {
		body := bytes.Repeat([]byte{byte('a' + i)}, 100)
		c.Put(digest(body), body)
		ds = append(ds, digest(body))
	}
	count := func() int {
		n := 0
		for _, d := range ds {
			if _, err := os.Stat(entryPath(dir, d)); err == nil {
				n++
			}
		}
		return n
	}
	if _, err := cache.Open(dir, opts(now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Fatalf("trimmed within a day of the last trim: %d entries left", n)
	}
	if _, err := cache.Open(dir, opts(now.Add(25*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("after a day: %d entries left, want 1 (300 bytes down to 150)", n)
	}
}

func TestOpenFailsOnUnusableDir(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Open(filepath.Join(f, "sub"), cache.Options{}); err == nil {
		t.Fatal("Open under a regular file succeeded")
	}
	if _, err := cache.Open("", cache.Options{}); err == nil {
		t.Fatal("Open of \"\" succeeded")
	}
}

func TestDefaultDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"}, "/x/cache/regprune"},
		{map[string]string{"XDG_CACHE_HOME": "relative", "HOME": "/home/u"}, "/home/u/.cache/regprune"},
		{map[string]string{"HOME": "/home/u"}, "/home/u/.cache/regprune"},
		{map[string]string{}, ""},
	}
	for _, tc := range cases {
		if got := cache.DefaultDir(env(tc.env)); got != tc.want {
			t.Errorf("DefaultDir(%v) = %q, want %q", tc.env, got, tc.want)
		}
	}
}

// Issue 19 point 14: an entry under a sha512 digest is stored and
// verified by sha512 (under sha512/), so the cache hits for sha512
// manifests; a tampered one is a miss and removed, and Trim counts it.
func TestSha512Entries(t *testing.T) {
	dir := t.TempDir()
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	sum := sha512.Sum512(body)
	d := "sha512:" + hex.EncodeToString(sum[:])
	c := open(t, dir)
	c.Put(d, body)
	if got, ok := c.Get(d); !ok || !bytes.Equal(got, body) {
		t.Fatalf("sha512 entry: Get = %q, %v", got, ok)
	}
	h := strings.TrimPrefix(d, "sha512:")
	p := filepath.Join(dir, "sha512", h[:2], h)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no file at %s: %v", p, err)
	}
	if got, ok := open(t, dir).Get(d); !ok || !bytes.Equal(got, body) {
		t.Fatalf("second open: Get = %q, %v", got, ok)
	}
	// The same body under its sha256 digest is another entry.
	c.Put(digest(body), body)
	if removed, err := c.Trim(int64(len(body))); err != nil || removed != 1 {
		t.Fatalf("Trim to one entry: %d removed, %v", removed, err)
	}
	c.Put(d, body)
	if err := os.WriteFile(p, []byte(`{"schemaVersion":3}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(d); ok {
		t.Fatal("hit for a tampered sha512 entry")
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("the tampered entry was kept")
	}
}
