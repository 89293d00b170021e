// Package cache is regprune's content-addressed disk cache of manifests and
// image configs. An entry is stored under its digest (sha256 or sha512) and
// checked against it, by the digest's own algorithm, on every read, so it can never be stale or wrong: a second
// run over an unchanged repository needs no GET at all, and a nightly run
// fetches only what was pushed since.
//
// Layout: DIR/sha256/<2 hex>/<64 hex> (DIR/sha512/<2 hex>/<128 hex> for a
// sha512 digest), one file per digest, written to a
// temporary file in the same directory and renamed into place (a reader
// sees a whole entry or none). Entries larger than MaxEntrySize are not
// stored. The whole cache is trimmed to Options.MaxBytes, oldest written
// first, at most once a day when it is opened. Every failure is a miss:
// the cache never fails a run.
package cache

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/regprune/regprune/internal/digest"
)

// MaxEntrySize bounds one entry: distribution's own manifest limit, and
// inventory's limit on an image config.
const MaxEntrySize = 4 << 20

// DefaultMaxBytes bounds the whole cache unless Options.MaxBytes says
// otherwise. At about 1.5 KiB per image (manifest and config) it holds
// several hundred thousand images.
const DefaultMaxBytes = 512 << 20

// trimEvery is how often Open walks the cache to trim it.
const trimEvery = 24 * time.Hour

// stampFile records the last trim; its modification time is the record.
const stampFile = "trimmed"

// Options configures Open.
type Options struct {
	// MaxBytes bounds the cache's total size; 0 means DefaultMaxBytes,
	// negative means no bound.
	MaxBytes int64
	// Logger receives a warning for the first write that fails; nil is
	// silent.
	Logger *slog.Logger
	// Now is the clock for the trim schedule; nil means time.Now.
	Now func() time.Time
}

// Cache is a content-addressed store under one directory. It implements
// inventory.Cache and is safe for concurrent use, by goroutines and by
// processes sharing the directory.
type Cache struct {
	dir    string
	root   *os.Root // every access goes through it: nothing escapes dir
	log    *slog.Logger
	warned atomic.Bool

	hits, misses, puts atomic.Int64

	// The directories sha256/<2 hex> and sha512/<2 hex>, by that path,
	// each opened once: an entry is
	// then one openat away instead of a walk from the root per call
	// (a cold plan of 1,000 tags made 10,000 openat calls).
	subMu sync.Mutex
	subs  map[string]*os.Root
}

// Stats are a Cache's counters since Open.
type Stats struct {
	Hits, Misses, Puts int64
}

// DefaultDir is $XDG_CACHE_HOME/regprune, else $HOME/.cache/regprune;
// "" when neither variable is set. getenv is os.Getenv or a test's own.
func DefaultDir(getenv func(string) string) string {
	if d := getenv("XDG_CACHE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "regprune")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "regprune")
	}
	return ""
}

// Open creates dir if needed and returns its cache. It fails only when the
// directory cannot be created or written; the caller may then run without
// a cache.
func Open(dir string, o Options) (*Cache, error) {
	if dir == "" {
		return nil, errors.New("cache: no directory")
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	// Another user who owns or may write the directory could plant
	// entries or symlinks: refuse it. The directory checked is the one
	// opened, whatever happens to the path afterwards.
	fi, err := root.Stat(".")
	if err == nil {
		err = checkPrivate(dir, fi)
	}
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	c := &Cache{dir: dir, root: root, log: o.Logger}
	if err := c.mkdir("sha256"); err != nil {
		root.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	// Prove the directory is writable now rather than warn on every Put.
	probe := filepath.Join("sha256", ".probe-"+randomName())
	f, err := root.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("cache: %w", err)
	}
	f.Close()
	root.Remove(probe)
	if o.MaxBytes > 0 {
		c.maybeTrim(o.MaxBytes, o.Now())
	}
	return c, nil
}

// Close releases the directories the cache holds open; a Get or Put
// after it is a miss.
func (c *Cache) Close() error {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	for _, d := range c.subs {
		d.Close()
	}
	c.subs = nil
	return c.root.Close()
}

// Dir is the cache's directory.
func (c *Cache) Dir() string { return c.dir }

// Stats returns the counters since Open.
func (c *Cache) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Puts: c.puts.Load()}
}

// mkdir makes the directory name under the root unless it is there; a
// symlink or anything else in its place is refused, never followed.
func (c *Cache) mkdir(name string) error {
	fi, err := c.root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := c.root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		fi, err = c.root.Lstat(name)
		if err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s in %s is not a directory (%s); refusing to follow it", name, c.dir, fi.Mode().Type())
	}
	return nil
}

func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// dirOf returns the directory alg/<prefix> (sha256 or sha512) opened as a
// root of its own, making it first when create is set. Like mkdir, it refuses
// anything but a directory in its place, and checks that what it opened
// is the directory it checked.
func (c *Cache) dirOf(alg, prefix string, create bool) (*os.Root, error) {
	c.subMu.Lock()
	defer c.subMu.Unlock()
	name := filepath.Join(alg, prefix)
	if d := c.subs[name]; d != nil {
		return d, nil
	}
	if create {
		if err := c.mkdir(alg); err != nil {
			return nil, err
		}
		if err := c.mkdir(name); err != nil {
			return nil, err
		}
	}
	fi, err := c.root.Lstat(name)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s in %s is not a directory (%s); refusing to follow it", name, c.dir, fi.Mode().Type())
	}
	d, err := c.root.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	if got, err := d.Stat("."); err != nil || !os.SameFile(fi, got) {
		d.Close()
		return nil, fmt.Errorf("%s in %s changed while it was opened; refusing it", name, c.dir)
	}
	if c.subs == nil {
		c.subs = map[string]*os.Root{}
	}
	c.subs[name] = d
	return d, nil
}

// entry returns the file of d, alg/<prefix>/<name>, as its algorithm,
// its directory's prefix and its file name; ok is false when d is not a
// well-formed sha256 or sha512 digest.
func (c *Cache) entry(d string) (alg, prefix, name string, ok bool) {
	dg := digest.Digest(d)
	if !dg.Valid() {
		return "", "", "", false
	}
	name = dg.Hex()
	return dg.Algorithm(), name[:2], name, true
}

// Get returns the content of digest. An entry that does not match its
// digest (a torn or tampered file) is removed and reported as a miss.
func (c *Cache) Get(dg string) ([]byte, bool) {
	alg, prefix, name, ok := c.entry(dg)
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	d, err := c.dirOf(alg, prefix, false)
	if err != nil {
		c.misses.Add(1)
		return nil, false
	}
	f, err := d.OpenFile(name, os.O_RDONLY|oNoFollow|oNonBlock, 0)
	if err != nil {
		c.misses.Add(1)
		return nil, false
	}
	b, err := readEntry(f)
	f.Close()
	if err != nil || len(b) > MaxEntrySize || !digest.Verify(dg, b) {
		d.Remove(name)
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return b, true
}

// Put stores data under digest if it matches and is small enough. A write
// that fails is logged once and otherwise ignored.
func (c *Cache) Put(dg string, data []byte) {
	alg, prefix, name, ok := c.entry(dg)
	if !ok || len(data) > MaxEntrySize || !digest.Verify(dg, data) {
		return
	}
	d, err := c.dirOf(alg, prefix, true)
	if err == nil {
		if _, err := d.Lstat(name); err == nil {
			return // content-addressed: what is there is the same
		}
		err = writeIn(d, name, data)
	}
	if err != nil {
		if c.warned.CompareAndSwap(false, true) {
			c.log.Warn("cannot write to the cache; continuing without storing", "dir", c.dir, "err", err)
		}
		return
	}
	c.puts.Add(1)
}

func (c *Cache) write(p string, data []byte) error {
	dir := filepath.Dir(p)
	if err := c.mkdir(dir); err != nil {
		return err
	}
	d, err := c.root.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return writeIn(d, filepath.Base(p), data)
}

// writeIn writes data to name in d through a temporary file renamed into
// place: a reader sees the whole entry or none.
func writeIn(d *os.Root, name string, data []byte) error {
	tmp := ".tmp-" + randomName()
	f, err := d.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|oNoFollow|oNonBlock, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.Rename(tmp, name)
	}
	if err != nil {
		d.Remove(tmp)
	}
	return err
}

// maybeTrim trims the cache when the last trim is older than trimEvery.
func (c *Cache) maybeTrim(maxBytes int64, now time.Time) {
	stamp := stampFile
	fi, err := c.root.Lstat(stamp)
	if err == nil && !fi.Mode().IsRegular() {
		c.log.Warn("the cache's trim stamp is not a regular file; leaving it alone and not trimming", "dir", c.dir, "mode", fi.Mode().Type().String())
		return
	}
	if err == nil && now.Sub(fi.ModTime()) < trimEvery && !fi.ModTime().After(now) {
		return
	}
	if _, err := c.Trim(maxBytes); err != nil {
		c.log.Warn("cannot trim the cache", "dir", c.dir, "err", err)
		return
	}
	if f, err := c.root.OpenFile(stamp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|oNoFollow, 0o600); err == nil {
		f.Close()
		_ = c.root.Chtimes(stamp, now, now)
	}
}

// Trim removes the oldest-written entries until the cache holds at most
// maxBytes, and leftover temporary files older than an hour. It returns
// the number of entries removed.
func (c *Cache) Trim(maxBytes int64) (int, error) {
	type entry struct {
		path string
		size int64
		mod  time.Time
	}
	var (
		entries []entry
		total   int64
	)
	hourAgo := time.Now().Add(-time.Hour)
	walk := func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			c.root.Remove(p) // a symlink or the like: never ours, never followed
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if strings.HasPrefix(d.Name(), ".") {
			if fi.ModTime().Before(hourAgo) {
				c.root.Remove(p)
			}
			return nil
		}
		entries = append(entries, entry{p, fi.Size(), fi.ModTime()})
		total += fi.Size()
		return nil
	}
	for _, alg := range []string{digest.SHA256, digest.SHA512} {
		if err := fs.WalkDir(c.root.FS(), alg, walk); err != nil {
			return 0, err
		}
	}
	if total <= maxBytes {
		return 0, nil
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].mod.Before(entries[j].mod) })
	removed := 0
	for _, e := range entries {
		if total <= maxBytes {
			break
		}
		if err := c.root.Remove(e.path); err == nil || errors.Is(err, fs.ErrNotExist) {
			total -= e.size
			removed++
		}
	}
	return removed, nil
}
