//go:build unix

package cache

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkPrivate refuses a cache directory owned by another user or
// writable by group or others.
func checkPrivate(dir string, fi fs.FileInfo) error {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%s is owned by uid %d, not by this user (uid %d); not using it", dir, st.Uid, os.Getuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %v); not using it", dir, fi.Mode().Perm())
	}
	return nil
}

// oNoFollow makes an open fail on a symlink instead of following it.
const oNoFollow = syscall.O_NOFOLLOW

// oNonBlock opens an entry without the mode changes os makes to the
// descriptor of a blocking open (four fcntl calls per open); reads and
// writes of a regular file ignore it.
const oNonBlock = syscall.O_NONBLOCK
