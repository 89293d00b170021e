package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/report"
)

func newRunsCmd(env *Env) *cobra.Command {
	var (
		jf     journalFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the apply runs the journal recorded (restore one with 'regprune restore RUN_ID')",
		Example: `  regprune runs
  regprune runs show 20261201T150700Z-3fa9c1 -o json
  regprune runs prune --older-than 30d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkRunsFormat(output); err != nil {
				return err
			}
			j, err := jf.openExisting(cmd.Context(), env, false)
			if err != nil {
				return err
			}
			defer j.Close()
			runs, err := j.Runs(cmd.Context())
			if err != nil {
				return journal.Damaged(j.Path(), err)
			}
			if output == "json" {
				if runs == nil {
					runs = []journal.Run{}
				}
				return writeJSON(env, runs)
			}
			tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUN ID\tSTARTED\tSTATE\tREGISTRIES\tREPOSITORIES\tMANIFESTS\tTAGS\tPENDING\tFAILED\tFREED\tJOURNALED")
			for _, r := range runs {
				// FREED is what the run's report said it freed; "-" when
				// the run did not record it (it did not end).
				freed := "-"
				if r.FreedBytes != nil {
					freed = report.HumanBytes(*r.FreedBytes)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.ID, r.Started.Format(time.RFC3339), r.State,
					dashIfEmpty(strings.Join(r.Registries, ", ")), r.Repositories, r.Manifests, r.Tags, r.Pending, r.Failed,
					freed, report.HumanBytes(r.ManifestBytes))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "%s in %s\n", plural(len(runs), "run", "runs"), j.Path())
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	jf.add(cmd)
	cmd.AddCommand(newRunsShowCmd(env), newRunsPruneCmd(env))
	return cmd
}

func newRunsShowCmd(env *Env) *cobra.Command {
	var (
		jf     journalFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "show RUN_ID",
		Short: "List what a run deleted",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			wide := output == "wide"
			if wide {
				output = "table"
			}
			if err := checkRunsFormat(output); err != nil {
				return usagef("-o %q: want table, wide or json", output)
			}
			j, err := jf.openExisting(cmd.Context(), env, false)
			if err != nil {
				return err
			}
			defer j.Close()
			run, err := j.Run(cmd.Context(), args[0])
			if errors.Is(err, journal.ErrNoRun) {
				return usagef("%v (list the runs with 'regprune runs')", err)
			}
			if err != nil {
				return journal.Damaged(j.Path(), err)
			}
			entries, err := j.Entries(cmd.Context(), args[0], journal.Filter{})
			if err != nil {
				return journal.Damaged(j.Path(), err)
			}
			if output == "json" {
				if entries == nil {
					entries = []journal.Entry{}
				}
				return writeJSON(env, struct {
					Run     journal.Run     `json:"run"`
					Entries []journal.Entry `json:"entries"`
				}{run, entries})
			}
			fmt.Fprintf(env.Stdout, "run %s, started %s: %d manifests and %d tags deleted\n\n", run.ID, run.Started.Format(time.RFC3339), run.Manifests, run.Tags)
			if !wide {
				return narrowEntries(env.Stdout, entries)
			}
			tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tREPOSITORY\tDELETED\tKIND\tDIGEST\tTAGS\tRESULT\tREASON")
			for _, e := range entries {
				what := e.Kind
				if e.Kind == journal.KindTag {
					what = "tag " + e.Tag
				}
				res := e.Result
				if e.ResultDetail != "" {
					res += " (" + e.ResultDetail + ")"
				}
				if !e.Restored.IsZero() {
					res += ", restored " + e.Restored.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), e.Repository, what,
					dashIfEmpty(e.ItemKind), e.Digest, dashIfEmpty(strings.Join(e.Tags, ", ")), res, dashIfEmpty(e.Reason))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table (fits 100 columns), wide (every column in full) or json")
	jf.add(cmd)
	return cmd
}

func newRunsPruneCmd(env *Env) *cobra.Command {
	var (
		jf        journalFlags
		olderThan string
	)
	cmd := &cobra.Command{
		Use:   "prune --older-than D",
		Short: "Forget the runs older than D (36h, 30d, 2w): they can no longer be restored",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan == "" {
				return usagef("runs prune needs --older-than D (e.g. 30d)")
			}
			d, err := policy.ParseDuration(olderThan)
			if err != nil || d <= 0 {
				return usagef("--older-than %q: want a positive duration such as 36h, 30d or 2w", olderThan)
			}
			j, err := jf.openExisting(cmd.Context(), env, true)
			if err != nil {
				return err
			}
			defer j.Close()
			pr, err := j.PruneRuns(cmd.Context(), env.Now().Add(-d))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(env.Stdout, "removed %d runs (%d entries) started before %s from %s\n",
				pr.Runs, pr.Entries, env.Now().Add(-d).UTC().Format(time.RFC3339), j.Path())
			if len(pr.Kept) > 0 {
				// A run still going, or one not provably over, keeps its
				// entries: they are the undo record of its deletions.
				_, err = fmt.Fprintf(env.Stdout, "kept %d older runs that have not ended (still running, or without a lock file and written to in the last day): %s\n",
					len(pr.Kept), strings.Join(pr.Kept, ", "))
			}
			return err
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "forget runs started longer ago than this (36h, 30d, 2w)")
	jf.add(cmd)
	return cmd
}

func checkRunsFormat(o string) error {
	if o != "table" && o != "json" {
		return usagef("-o %q: want table or json", o)
	}
	return nil
}

func writeJSON(env *Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
