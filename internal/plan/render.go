package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Formats a plan renders to.
var Formats = []string{"table", "json", "markdown"}

// Render writes p in format.
func Render(w io.Writer, p *Plan, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	case "table", "":
		return renderTable(w, p)
	case "markdown":
		return renderMarkdown(w, p)
	}
	return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(Formats, ", "))
}

func renderTable(w io.Writer, p *Plan) error {
	apply := p.Mode == "apply"
	for _, r := range p.Repositories {
		fmt.Fprintf(w, "%s", r.Repository)
		if r.Rule != "" {
			fmt.Fprintf(w, "  (rule: %s)", r.Rule)
		}
		fmt.Fprintln(w)
		if r.Error != "" {
			what := "FAILED, nothing deleted"
			if r.Refused {
				what = "REFUSED"
			}
			fmt.Fprintf(w, "  %s: %s\n", what, r.Error)
		}
		if len(r.Items) > 0 {
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			head := "  ACTION\tKIND\tDIGEST\tTAGS\tCREATED\tSIZE\tREASON"
			if apply {
				head += "\tRESULT"
			}
			fmt.Fprintln(tw, head)
			for _, it := range r.Items {
				created := "unknown"
				if !r.AgesRead {
					created = "-"
				}
				if it.Created != nil {
					created = it.Created.Format(time.RFC3339)
				}
				action := it.Action
				if len(it.Untag) > 0 {
					action += "+untag"
				}
				row := fmt.Sprintf("  %s\t%s\t%s\t%s\t%s\t%s\t%s", action, it.Kind, short(it.Digest),
					tagList(it.Tags), created, HumanBytes(it.Size), strings.Join(it.Reasons, "; "))
				if apply {
					res := it.Result
					if it.ResultReason != "" {
						res += " (" + it.ResultReason + ")"
					}
					row += "\t" + res
				}
				fmt.Fprintln(tw, row)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		s := r.Summary
		fmt.Fprintf(w, "  %d images: keep %d, delete %d, untag %d; %d manifests to delete; frees %s\n",
			s.Images, s.Keep, s.Delete, s.Untag, s.DeleteManifests, HumanBytes(s.ReclaimableBytes))
		if apply {
			fmt.Fprintf(w, "  result: %d deleted, %d untagged, %d skipped, %d failed; %s\n", s.Deleted, s.Untagged, s.Skipped, s.Failed, freedText(s.FreedBytes, s.Deleted, s.DeleteManifests))
		}
		fmt.Fprintln(w)
	}
	t := p.Summary
	fmt.Fprintf(w, "total: %d repositories (%d failed), %d images: keep %d, delete %d, untag %d; frees %s\n",
		t.Repositories, t.Failed, t.Images, t.Keep, t.Delete, t.Untag, HumanBytes(t.ReclaimableBytes))
	if apply {
		fmt.Fprintf(w, "result: %d deleted, %d untagged, %d skipped, %d failed; %s\n", t.Deleted, t.Untagged, t.Skipped, t.FailedItems, freedText(t.FreedBytes, t.Deleted, t.DeleteManifests))
		if p.RunID != "" {
			fmt.Fprintf(w, "run id: %s (until the registry's garbage collector runs: regprune restore %s)\n", p.RunID, p.RunID)
		} else {
			fmt.Fprintln(w, "journal: off; nothing this run deleted can be restored")
		}
	}
	return nil
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

func tagList(tags []string) string {
	if len(tags) == 0 {
		return "-"
	}
	tags = append([]string(nil), tags...)
	for i, t := range tags {
		// sha256-<64 hex>.sig reads as sha256-<12 hex>….sig in a table.
		if j := strings.IndexByte(t, '-'); j > 0 && len(t) > j+13+64-12 {
			if k := strings.IndexByte(t[j:], '.'); k > 0 || len(t) == j+65 {
				rest := ""
				if k > 0 {
					rest = t[j+k:]
				}
				tags[i] = t[:j+13] + "…" + rest
			}
		}
	}
	if len(tags) > 4 {
		return strings.Join(tags[:4], ",") + fmt.Sprintf(",+%d", len(tags)-4)
	}
	return strings.Join(tags, ",")
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

// renderMarkdown writes a plan for a merge request: a summary table, then
// what each repository deletes (kept items are counted, not listed).
func renderMarkdown(w io.Writer, p *Plan) error {
	t := p.Summary
	fmt.Fprintf(w, "## regprune %s\n\n", p.Mode)
	fmt.Fprintf(w, "%d repositories (%d failed), %d images: keep %d, delete %d, untag %d; frees **%s**\n\n",
		t.Repositories, t.Failed, t.Images, t.Keep, t.Delete, t.Untag, HumanBytes(t.ReclaimableBytes))
	if p.Mode == "apply" {
		fmt.Fprintf(w, "result: %d deleted, %d untagged, %d skipped, %d failed; %s\n\n", t.Deleted, t.Untagged, t.Skipped, t.FailedItems, freedText(t.FreedBytes, t.Deleted, t.DeleteManifests))
	}
	fmt.Fprintln(w, "| repository | images | keep | delete | untag | frees | status |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|")
	for _, r := range p.Repositories {
		status := "ok"
		if r.Error != "" {
			status = mdEscape(r.Error)
		}
		s := r.Summary
		fmt.Fprintf(w, "| `%s` | %d | %d | %d | %d | %s | %s |\n", r.Repository, s.Images, s.Keep, s.Delete, s.Untag, HumanBytes(s.ReclaimableBytes), status)
	}
	for _, r := range p.Repositories {
		var rows []string
		for _, it := range r.Items {
			if it.Action != ActionDelete && len(it.Untag) == 0 {
				continue
			}
			what := it.Action
			tags := tagList(it.Tags)
			if it.Action == ActionKeep {
				what, tags = "untag", strings.Join(it.Untag, ", ")
			}
			row := fmt.Sprintf("| %s | %s | `%s` | %s | %s |", what, it.Kind, short(it.Digest), mdEscape(tags), mdEscape(strings.Join(it.Reasons, "; ")))
			if p.Mode == "apply" {
				row += " " + mdEscape(strings.TrimSpace(it.Result+" "+it.ResultReason)) + " |"
			}
			rows = append(rows, row)
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### `%s`\n\n", r.Repository)
		head, sep := "| action | kind | digest | tags | reason |", "|---|---|---|---|---|"
		if p.Mode == "apply" {
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

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}
