package cache

import (
	"errors"
	"io"
	"sync"
)

// readBufs hold the first bytes of an entry being read: most entries (a
// manifest, an image config) fit, and are read with one read and the one
// that says EOF, instead of io.ReadAll's growing buffer (four reads for a
// 1 KiB manifest).
var readBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// readEntry reads r to its end, at most MaxEntrySize+1 bytes.
func readEntry(r io.Reader) ([]byte, error) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	buf := *bp
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return append([]byte(nil), buf[:n]...), nil
		}
		if err != nil {
			return nil, err
		}
	}
	// Larger than the buffer: the rest the usual way.
	rest, err := io.ReadAll(io.LimitReader(r, MaxEntrySize+1-int64(n)))
	if err != nil {
		return nil, err
	}
	return append(append(make([]byte, 0, n+len(rest)), buf[:n]...), rest...), nil
}
