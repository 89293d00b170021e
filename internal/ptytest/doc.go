// Package ptytest opens pseudo-terminals for tests (Linux only; the
// standard library alone), so that a test can run regprune with a
// terminal as its stdin, stdout or controlling terminal.
package ptytest
