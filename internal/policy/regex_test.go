package policy

import (
	"strings"
	"testing"
)

// An expression must not close the anchoring group: "a)|(b" would
// otherwise match every tag starting with a, and a delete regex like
// "x)|(.*" would select everything.
func TestCompileRegexCannotEscapeAnchors(t *testing.T) {
	for _, expr := range []string{"a)|(b", "x)|(.*", "(", "a)"} {
		if re, err := CompileRegex(expr); err == nil {
			t.Errorf("CompileRegex(%q) = %s, want an error", expr, re)
		} else if !strings.Contains(err.Error(), "%!") && !strings.Contains(err.Error(), expr) {
			t.Errorf("CompileRegex(%q): error %q does not name the expression", expr, err)
		} else if strings.Contains(err.Error(), "%!") {
			t.Errorf("CompileRegex(%q): broken error text %q", expr, err)
		}
	}
	re, err := CompileRegex("v[0-9]+|latest")
	if err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[string]bool{"v1": true, "latest": true, "v1x": false, "xlatest": false} {
		if re.MatchString(tag) != want {
			t.Errorf("%q: match %v, want %v", tag, !want, want)
		}
	}
}
