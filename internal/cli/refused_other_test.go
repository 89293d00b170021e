//go:build !unix

package cli_test

import (
	"net"
	"testing"
)

// refusedAddr returns a 127.0.0.1 address where nothing listens: the
// address of a listener, closed.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
