package cli_test

import (
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// loadViews loads page (a file) once per URL fragment in one headless
// Chromium and returns each view's DOM after its script ran, as
// `chromium --dump-dom page#fragment` would print it. A wrapper page next
// to page holds one iframe per fragment; when a frame has loaded (its
// inline script has run), the wrapper copies the frame's DOM into a
// textarea, and the wrapper's own DOM is dumped once all frames loaded.
// Starting Chromium once instead of once per view is the point: a start
// costs more than everything else the HTML report test does.
func loadViews(t *testing.T, bin, page string, fragments ...string) []string {
	t.Helper()
	var b strings.Builder
	b.WriteString("<!doctype html>\n<html><head><meta charset=\"utf-8\"></head><body>\n<script>\n" +
		"function copy(i) { var f = document.getElementById('view-' + i);\n" +
		"  document.getElementById('dom-' + i).textContent = f.contentDocument.documentElement.outerHTML; }\n</script>\n")
	for i, frag := range fragments {
		fmt.Fprintf(&b, "<textarea id=\"dom-%d\"></textarea>\n", i)
		fmt.Fprintf(&b, "<iframe id=\"view-%d\" width=\"1280\" height=\"800\" src=\"%s\" onload=\"copy(%d)\"></iframe>\n",
			i, html.EscapeString(filepath.Base(page)+frag), i)
	}
	b.WriteString("</body></html>\n")
	wrapper := filepath.Join(filepath.Dir(page), "views.html")
	if err := os.WriteFile(wrapper, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// file:// frames are readable by their parent only with this flag.
	out := string(headless(t, bin, "file://"+wrapper, "--allow-file-access-from-files", "--dump-dom"))
	doms := make([]string, len(fragments))
	for i := range fragments {
		m := regexp.MustCompile(`(?s)<textarea id="dom-` + fmt.Sprint(i) + `">(.*?)</textarea>`).FindStringSubmatch(out)
		if m == nil || m[1] == "" {
			t.Fatalf("view %d (%q) was not loaded:\n%.2000s", i, fragments[i], out)
		}
		doms[i] = html.UnescapeString(m[1])
	}
	return doms
}
