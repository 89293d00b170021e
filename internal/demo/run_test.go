package demo

import (
	"bytes"
	"context"
	"testing"
)

// The README's first command, as a test: Run plans, applies, garbage
// collects and returns an error if a kept image does not pull in full
// afterwards.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), Options{Out: &out, Builds: 3}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if out.Len() == 0 {
		t.Fatal("no output")
	}
}
