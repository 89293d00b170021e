package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/regprune/regprune/internal/plan"
)

// GCAdvice is the one line printed after an apply that deleted something.
// regprune cannot tell distribution 2.x from v3 for sure (both answer
// /v2/ alike), so it names the command for each.
const GCAdvice = "the space returns when the registry's garbage collector runs: on distribution 2.x (and a self-managed GitLab registry) " +
	"`registry garbage-collect CONFIG` without --delete-untagged, which there destroys untagged children of kept indexes; " +
	"on distribution v3 `registry garbage-collect --delete-untagged CONFIG`; on GitLab `gitlab-ctl registry-garbage-collect` (or GitLab.com's own online GC)"

// printNotices writes to stderr what a reader of the output must not miss,
// whatever the output format (keep rules that hold nothing: printWarnings): what each
// registry refused or could not do (and the fix), and after an apply that
// deleted something, how to get the space back.
func printNotices(w io.Writer, p *plan.Plan) {
	for _, r := range p.Repositories {
		for _, m := range r.InUseMissing {
			fmt.Fprintf(w, "regprune: in use but not in the repository: %s (used by %s)\n", m.Reference, strings.Join(m.UsedBy, ", "))
		}
	}
	for _, reg := range p.Registries {
		for _, n := range reg.Notes {
			fmt.Fprintf(w, "regprune: %s: %s\n", reg.Host, n)
		}
	}
	if p.Mode == "apply" && p.Summary.Deleted > 0 {
		fmt.Fprintf(w, "regprune: deleted %d manifests; %s\n", p.Summary.Deleted, GCAdvice)
	}
}
