// Package report renders a plan for people: a table for the terminal,
// Markdown for a merge request, and one self-contained HTML page. The
// JSON form is the plan-file format, written by plan.WriteJSON; Render
// passes "json" to it so that -o offers every format in one place.
package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/regprune/regprune/internal/plan"
)

// Formats a plan renders to.
var Formats = []string{"table", "json", "markdown", "html"}

// Render writes p in format.
func Render(w io.Writer, p *plan.Plan, format string) error {
	switch format {
	case "json":
		return plan.WriteJSON(w, p)
	case "table", "":
		return renderTable(w, p)
	case "markdown":
		return renderMarkdown(w, p)
	case "html":
		return renderHTML(w, p)
	}
	return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(Formats, ", "))
}

// freedText says what an apply let the garbage collector reclaim, and
// claims nothing when no deletion succeeded.
func freedText(freed *int64, deleted, planned int) string {
	switch {
	case freed == nil || deleted == 0:
		return "nothing freed"
	case deleted < planned:
		return "at least " + HumanBytes(*freed) + " for the registry's garbage collector to free (not every planned deletion was done)"
	}
	return HumanBytes(*freed) + " for the registry's garbage collector to free"
}

// HumanBytes renders n in IEC units: 512 B, 1.5 KiB, 3.2 GiB.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// renderMarkdown writes a plan for a merge request: who made it, a
// summary table, then what each repository deletes or untags (kept items
// are counted, not listed), children and signatures nested under their
// image.
func renderMarkdown(w io.Writer, p *plan.Plan) error {
	t := p.Summary
	apply := p.Mode == plan.ModeApply
	fmt.Fprintf(w, "## regprune %s\n\n", p.Mode)
	if p.Generator != "" || !p.Generated.IsZero() {
		fmt.Fprintf(w, "_%s_\n\n", mdEscape(header(p)))
	}
	fmt.Fprintf(w, "%s (%d failed), %s: keep %d, delete %d, untag %d; frees **%s**",
		plural(t.Repositories, "repository", "repositories"), t.Failed, plural(t.Images, "image", "images"),
		t.Keep, t.Delete, t.Untag, HumanBytes(t.ReclaimableBytes))
	if apply {
		fmt.Fprintf(w, "; result: %d deleted, %d untagged, %d skipped, %d failed; %s",
			t.Deleted, t.Untagged, t.Skipped, t.FailedItems, freedText(t.FreedBytes, t.Deleted, t.DeleteManifests))
	}
	fmt.Fprint(w, "\n\n")
	if u := p.InUse; u != nil {
		fmt.Fprintf(w, "In use: %s read, %s, %s kept.\n\n", plural(u.Sources, "source", "sources"),
			plural(u.References, "reference", "references"), plural(u.Images, "image", "images"))
	}
	if apply {
		fmt.Fprintf(w, "%s\n\n", mdEscape(runLine(p)))
	}
	fmt.Fprintln(w, "| repository | rule | images | keep | delete | untag | frees | status |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---|")
	for _, r := range p.Repositories {
		status := "ok"
		if r.Err != nil {
			status = mdEscape(r.Err.Error())
			if r.Refused {
				status = "refused: " + status
			}
		}
		rule := "-"
		if r.Rule != "" {
			rule = "`" + mdCode(r.Rule) + "`"
		}
		s := r.Summary
		fmt.Fprintf(w, "| `%s` | %s | %d | %d | %d | %d | %s | %s |\n", r.Name, rule, s.Images, s.Keep, s.Delete, s.Untag, HumanBytes(s.ReclaimableBytes), status)
	}
	renderMarkdownWarnings(w, p)
	for ri := range p.Repositories {
		r := &p.Repositories[ri]
		var rows []string
		for _, row := range orderRows(r) {
			it := row.Item
			if it.Action != plan.ActionDelete && len(it.Untag) == 0 {
				continue
			}
			what := string(it.Action)
			tags := tagSummary(it, tableTags)
			if it.Action == plan.ActionKeep {
				u := &plan.Item{Tags: it.Untag}
				what, tags = "untag", tagSummary(u, tableTags)
			}
			kind := it.Kind
			if row.Depth > 0 {
				kind = strings.Repeat("&nbsp;&nbsp;", row.Depth) + "↳ " + kind
			}
			size := "-"
			if row.Frees > 0 {
				size = HumanBytes(row.Frees)
			}
			created := "-"
			if it.Created != nil {
				created = it.Created.UTC().Format("2006-01-02")
			}
			line := fmt.Sprintf("| %s | %s | `%s` | %s | %s | %s | %s |", what, kind, plan.ShortDigest(it.Digest), mdEscape(tags), created, size, mdEscape(reasonSummary(it.Reasons, tableReasonMax)))
			if apply {
				line += " " + mdEscape(strings.TrimSpace(string(it.Result)+" "+it.ResultReason.String())) + " |"
			}
			rows = append(rows, line)
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### `%s`\n\n", r.Name)
		head, sep := "| action | kind | digest | tags | created | frees | reason |", "|---|---|---|---|---|---:|---|"
		if apply {
			head, sep = head+" result |", sep+"---|"
		}
		fmt.Fprintln(w, head)
		fmt.Fprintln(w, sep)
		for _, row := range rows {
			fmt.Fprintln(w, row)
		}
	}
	return nil
}

// mdCode makes s safe inside a Markdown code span in a table cell.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "|", "\\|", "\n", " ").Replace(s)
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

// runLine names an apply's run and how to undo it, or says the journal
// was off: the table, Markdown and HTML reports carry it.
func runLine(p *plan.Plan) string {
	if p.RunID == "" {
		return "journal: off; nothing this run deleted can be restored"
	}
	return fmt.Sprintf("run id: %s (until the registry's garbage collector runs: regprune restore %s)", p.RunID, p.RunID)
}

// renderMarkdownWarnings lists the warnings under the summary table, where
// a reviewer of the merge request sees them.
func renderMarkdownWarnings(w io.Writer, p *plan.Plan) {
	ws := p.Warnings()
	if len(ws) == 0 {
		return
	}
	fmt.Fprintf(w, "\n**%s:**\n\n", plural(len(ws), "warning", "warnings"))
	for _, wn := range ws {
		fmt.Fprintf(w, "- ⚠️ %s\n", mdEscape(wn))
	}
}
