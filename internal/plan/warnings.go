package plan

import (
	"fmt"
	"io"
)

// Warnings lists every repository's warnings, each prefixed with nothing:
// the keep rules that hold nothing (see policy.Warnings).
func (p *Plan) Warnings() []string {
	var out []string
	for i := range p.Repositories {
		out = append(out, p.Repositories[i].Warnings...)
	}
	return out
}

// renderMarkdownWarnings lists the warnings under the summary table, where
// a reviewer of the merge request sees them.
func renderMarkdownWarnings(w io.Writer, p *Plan) {
	ws := p.Warnings()
	if len(ws) == 0 {
		return
	}
	fmt.Fprintf(w, "\n**%s:**\n\n", plural(len(ws), "warning", "warnings"))
	for _, wn := range ws {
		fmt.Fprintf(w, "- ⚠️ %s\n", mdEscape(wn))
	}
}
