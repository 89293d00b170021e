package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// regprune-demo (Main): bad flags exit 2, name the bad value and start no
// registry.
func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--builds", "1"}, "--builds 1: want 2 to 500"},
		{[]string{"--concurrency", "0"}, "--concurrency 0: want 1 to 256"},
		{[]string{"--builds", "abc"}, `"abc"`},
		{[]string{"extra"}, `"extra"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := Main(context.Background(), tc.args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tc.args, code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tc.want) || stdout.Len() != 0 {
			t.Errorf("%v: stdout %q, stderr %q; want %q on stderr only", tc.args, stdout.String(), stderr.String(), tc.want)
		}
	}
}
