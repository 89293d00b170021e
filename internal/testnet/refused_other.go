//go:build !unix

package testnet

import (
	"net"
	"testing"
)

// RefusedAddr returns a 127.0.0.1 address where nothing listens: the
// address of a listener, closed.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
