//go:build !unix

package cache

// checkPrivate has no owner to check outside Unix.
func checkPrivate(string) error { return nil }

// oNoFollow: os.Root already keeps every access inside the directory.
const oNoFollow = 0
