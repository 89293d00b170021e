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

// runLine names an apply's run and how to undo it, or says the journal
// was off: the table, Markdown and HTML reports carry it.
func runLine(p *Plan) string {
	if p.RunID == "" {
		return "journal: off; nothing this run deleted can be restored"
	}
	return fmt.Sprintf("run id: %s (until the registry's garbage collector runs: regprune restore %s)", p.RunID, p.RunID)
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
