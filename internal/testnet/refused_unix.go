//go:build unix

package testnet

import (
	"fmt"
	"syscall"
	"testing"
)

// RefusedAddr returns a 127.0.0.1 address where connections are refused
// for the whole test: a TCP socket bound to it that never listens. The
// port stays taken, so no registry of a test running at the same time
// (this package's or another's) can be handed it, as it could be once a
// listener on it was closed.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
