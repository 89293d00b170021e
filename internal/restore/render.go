package restore

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Empty is the restore of run id when it has nothing to restore (Build
// answered ErrNothing): no repositories, every count 0, for the JSON
// form.
func Empty(id string, dryRun bool) *Plan {
	return &Plan{Kind: "regprune-restore", RunID: id, DryRun: dryRun, Repositories: []RepoRestore{}}
}

// Render writes p as "table" or "json".
func Render(w io.Writer, p *Plan, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	what := "run " + p.RunID
	if len(p.RunIDs) > 1 {
		what = "runs " + strings.Join(p.RunIDs, ", ")
	}
	if p.DryRun {
		fmt.Fprintf(w, "restore of %s: dry run, nothing pushed (run again with --yes to push)\n\n", what)
	} else {
		fmt.Fprintf(w, "restore of %s\n\n", what)
	}
	for _, r := range p.Repositories {
		fmt.Fprintln(w, r.Name)
		if r.Error != "" {
			fmt.Fprintf(w, "  FAILED: %s\n", r.Error)
		}
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		head := "  ACTION\tKIND\tDIGEST\tTAGS\tREASON"
		if !p.DryRun {
			head += "\tRESULT"
		}
		fmt.Fprintln(tw, head)
		for _, m := range r.Manifests {
			tags := strings.Join(m.Tags, ", ")
			if tags == "" {
				tags = "-"
			}
			row := fmt.Sprintf("  %s\t%s\t%s\t%s\t%s", m.Action, dash(m.Kind), m.Digest, tags, dash(m.Reason))
			if !p.DryRun {
				row += "\t" + result(m.Result, m.ResultReason)
			}
			fmt.Fprintln(tw, row)
		}
		for _, t := range r.Tags {
			row := fmt.Sprintf("  %s\ttag\t%s\t%s\t%s", t.Action, t.Digest, t.Tag, dash(t.Reason))
			if !p.DryRun {
				row += "\t" + result(t.Result, t.ResultReason)
			}
			fmt.Fprintln(tw, row)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	s := p.Summary
	fmt.Fprintf(w, "total: %d manifests to push, %d present, %d cannot come back; %d tags to re-create, %d left alone (they name another digest now), %d tags cannot come back\n",
		s.Push, s.Present, s.Unrecoverable, s.Tag, s.Leave, s.UnrecoverableTags)
	if !p.DryRun {
		fmt.Fprintf(w, "result: %d manifests pushed, %d tags re-created, %d failed\n", s.Pushed, s.Tagged, s.Failed)
	}
	for _, r := range p.Repositories {
		for _, m := range r.Manifests {
			if m.Action == ActionUnrecoverable {
				tags := ""
				if len(m.Tags) > 0 {
					tags = " (tags " + strings.Join(m.Tags, ", ") + ")"
				}
				fmt.Fprintf(w, "cannot come back: %s@%s%s: %s\n", r.Name, m.Digest, tags, m.Reason)
			}
			if m.Action == ActionNeedsRun {
				tags := ""
				if len(m.Tags) > 0 {
					tags = " (tags " + strings.Join(m.Tags, ", ") + ")"
				}
				fmt.Fprintf(w, "needs run %s: %s@%s%s: %s\n", m.NeedsRun, r.Name, m.Digest, tags, m.Reason)
			}
		}
	}
	if c := p.Command(); c != "" {
		fmt.Fprintf(w, "restore with the runs that deleted what this restore needs: %s\n", c)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func result(r Result, why string) string {
	switch {
	case r == "":
		return "-"
	case why != "":
		return string(r) + " (" + why + ")"
	}
	return string(r)
}
