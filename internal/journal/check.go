package journal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/regprune/regprune/internal/cache"
)

// ErrDamaged means the journal file fails SQLite's integrity check: apply
// does not write to it (what it recorded could not be read back).
var ErrDamaged = errors.New("the journal file is damaged")

// ErrUnsafe means the journal's path is refused: a symlink, not a regular
// file, or a directory that another user owns or may write.
var ErrUnsafe = errors.New("unsafe journal path")

// checkPath refuses a journal path that is a symlink or not a regular
// file, and a directory the cache would refuse as its own (owned by
// another user, or writable by group or others): someone else could
// replace or plant the file. The directory itself may be a symlink, as
// the cache's may.
func checkPath(abs string) error {
	if err := cache.CheckPrivateDir(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("%w: its directory %w", ErrUnsafe, err)
	}
	fi, err := os.Lstat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: it is a symlink; give the file it points to, or another path", ErrUnsafe)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: not a regular file (%v)", ErrUnsafe, fi.Mode().Type())
	}
	return nil
}

// check runs SQLite's quick_check on the journal: a page overwritten or
// cut makes it fail. It reads the whole file once.
func (j *Journal) check(ctx context.Context) error {
	rows, err := j.db.QueryContext(ctx, `PRAGMA quick_check(5)`)
	if err != nil {
		return Damaged(j.path, err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return Damaged(j.path, err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return Damaged(j.path, err)
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return nil
	}
	return fmt.Errorf("%w (PRAGMA quick_check: %s); move it aside (mv %s %s.damaged) and run again: a new journal is started, and the runs in the damaged one can no longer be restored from it",
		ErrDamaged, strings.Join(msgs, "; "), j.path, j.path)
}

// Damaged classifies an error of reading the journal at path: SQLite's
// CORRUPT and NOTADB mean a damaged file (ErrDamaged, with the way out);
// anything else (busy, I/O) is returned as is.
func Damaged(path string, err error) error {
	var e interface{ Code() int }
	if err != nil && errors.As(err, &e) {
		if c := e.Code() & 0xff; c == 11 || c == 26 { // SQLITE_CORRUPT, SQLITE_NOTADB
			return fmt.Errorf("%w (%v); move it aside (mv %s %s.damaged) and run again: a new journal is started, and the runs in the damaged one can no longer be restored from it",
				ErrDamaged, err, path, path)
		}
	}
	return err
}
