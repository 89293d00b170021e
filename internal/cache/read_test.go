package cache_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/regprune/regprune/internal/cache"
)

// BenchmarkPutGet is the cache's work per image of a cold apply: a
// manifest (about 1 KiB) not yet cached is stored after its GET, and read
// back for the journal. Run it with
//
//	go test -run '^$' -bench PutGet ./internal/cache/
func BenchmarkPutGet(b *testing.B) {
	c, err := cache.Open(b.TempDir(), cache.Options{MaxBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	n := 0
	for b.Loop() {
		body := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","n":%d,"pad":"%01000d"}`, n, 0)
		n++
		d := digest(body)
		c.Put(d, body)
		if got, ok := c.Get(d); !ok || len(got) != len(body) {
			b.Fatal("miss")
		}
	}
}

// Entries of every size round-trip, around the size of Get's first read
// (16 KiB) and up to MaxEntrySize; a file over MaxEntrySize put in place
// by hand is a miss.
func TestGetSizes(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir)
	for _, n := range []int{0, 1, 1024, 16<<10 - 1, 16 << 10, 16<<10 + 1, 1 << 20, cache.MaxEntrySize} {
		body := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
		d := digest(body)
		c.Put(d, body)
		if got, ok := c.Get(d); !ok || !bytes.Equal(got, body) {
			t.Fatalf("%d bytes: Get = %d bytes, %v", n, len(got), ok)
		}
	}
	big := bytes.Repeat([]byte("y"), cache.MaxEntrySize+1)
	d := digest(big)
	if err := os.MkdirAll(filepath.Dir(entryPath(dir, d)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entryPath(dir, d), big, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := open(t, dir).Get(d); ok {
		t.Fatal("an entry over MaxEntrySize was read")
	}
}
