//go:build !unix

package cache

import "io/fs"

// checkPrivate has no owner to check outside Unix.
func checkPrivate(string, fs.FileInfo) error { return nil }

// oNoFollow: os.Root already keeps every access inside the directory.
const oNoFollow = 0

// oNonBlock: see private_unix.go.
const oNonBlock = 0
