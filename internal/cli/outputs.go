package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// checkOutput makes sure that name, the value of flag, can be written
// before any request is sent: it is a regular file or does not exist yet,
// and its directory takes a new file (outputs are written to a temporary
// file there, then renamed). A directory, a FIFO or a device is refused: a
// report renamed over /dev/stdout or a metrics file read back from a FIFO
// (which blocks) is never what was meant.
func checkOutput(flag, name string) error {
	if err := regularOrMissing(name); err != nil {
		return usagef("%s %s: %v", flag, name, err)
	}
	dir := filepath.Dir(name)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usagef("%s %s: directory %s does not exist", flag, name, dir)
	case err != nil:
		return usagef("%s %s: directory %s: %v", flag, name, dir, pathErr(err))
	case !fi.IsDir():
		return usagef("%s %s: %s is not a directory", flag, name, dir)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".*")
	if err != nil {
		return usagef("%s %s: cannot create a file in %s: %v", flag, name, dir, pathErr(err))
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// regularOrMissing refuses name when it exists and is not a regular file
// (it follows symlinks).
func regularOrMissing(name string) error {
	fi, err := os.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return nil // checkOutput names the directory
	case err != nil:
		return pathErr(err)
	case fi.IsDir():
		return errors.New("is a directory, want a file")
	case !fi.Mode().IsRegular():
		return fmt.Errorf("is not a regular file (%s), want a file", fileKind(fi.Mode()))
	}
	return nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

// pathErr is err without the path a *fs.PathError repeats (the message
// names the flag's own value; a temporary file's name means nothing).
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
