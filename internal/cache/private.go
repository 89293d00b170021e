package cache

import "os"

// CheckPrivateDir applies the check the cache makes of its own directory
// to dir (the journal's directory, say): dir, followed if it is a symlink,
// must be owned by this user and writable by no one else.
func CheckPrivateDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	return checkPrivate(dir, fi)
}
