package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
)

// Hints are the tags of one repository and their digests at the last run.
// They only decide how a tag is asked for (a HEAD when the cache holds the
// digest's body, else a GET that returns the body too); what a tag names
// is always the registry's answer, so a stale or damaged hints file costs
// requests, never a wrong plan.
//
// Layout: DIR/hints/<sha256 of the repository name>.json, written to a
// temporary file and renamed into place like the entries.

// maxHintsSize bounds a hints file (about 100 bytes a tag).
const maxHintsSize = 64 << 20

type hintsFile struct {
	Repository string            `json:"repository"`
	Tags       map[string]string `json:"tags"`
}

// hintsPath is relative to the cache's root, like an entry's.
func (c *Cache) hintsPath(repo string) string {
	h := sha256.Sum256([]byte(repo))
	return filepath.Join("hints", hex.EncodeToString(h[:])+".json")
}

// Hints returns the tags of repo at the last run, nil when unknown.
func (c *Cache) Hints(repo string) map[string]string {
	p := c.hintsPath(repo)
	// A regular file only: never read through a symlink.
	if fi, err := c.root.Lstat(p); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	f, err := c.root.OpenFile(p, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHintsSize+1))
	if err != nil || len(b) > maxHintsSize {
		return nil
	}
	var h hintsFile
	if json.Unmarshal(b, &h) != nil || h.Repository != repo {
		return nil
	}
	return h.Tags
}

// PutHints records the tags of repo for the next run. A write that fails
// is logged once and otherwise ignored.
func (c *Cache) PutHints(repo string, tags map[string]string) {
	b, err := json.Marshal(hintsFile{Repository: repo, Tags: tags})
	if err != nil || len(b) > maxHintsSize {
		return
	}
	// write refuses a hints directory that is not a directory of the
	// cache (a symlink to somewhere else), and writes through no link.
	if err := c.write(c.hintsPath(repo), b); err != nil && c.warned.CompareAndSwap(false, true) {
		c.log.Warn("cannot write to the cache; continuing without storing", "dir", c.dir, "err", err)
	}
}
