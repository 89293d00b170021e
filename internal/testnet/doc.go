// Package testnet holds network helpers for tests that need no registry
// (it imports neither the distribution server nor the sandbox, so a test
// binary that uses it links none of them).
package testnet
