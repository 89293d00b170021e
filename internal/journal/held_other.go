//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package journal

import (
	"errors"
	"os"
)

// tryLock: no flock here. A run's lock file then proves nothing, and an
// unfinished run is judged by its age alone (see held.go).
func tryLock(*os.File) (bool, error) { return false, errors.ErrUnsupported }

// oNoFollow: no O_NOFOLLOW here; Open's Lstat refuses a symlink.
const oNoFollow = 0
