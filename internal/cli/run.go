package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/regprune/regprune/internal/config"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/report"
	"github.com/regprune/regprune/internal/safe"
)

// maxPolicyBytes bounds a policy file read from standard input.
const maxPolicyBytes = 1 << 20

// stdinName names standard input in messages and plans.
const stdinName = "<stdin>"

// openInput opens name, or standard input for "-".
func openInput(env *Env, name string) (io.ReadCloser, string, error) {
	if name == "-" {
		return io.NopCloser(env.Stdin), stdinName, nil
	}
	f, err := os.Open(name)
	return f, name, err
}

// loadPolicy reads a policy file, or standard input for "-".
func loadPolicy(env *Env, file string) (*config.Config, error) {
	if file != "-" {
		return config.Load(file)
	}
	data, err := io.ReadAll(io.LimitReader(env.Stdin, maxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("policy file %s: %w", stdinName, err)
	}
	if len(data) > maxPolicyBytes {
		return nil, fmt.Errorf("policy file %s: larger than %d bytes", stdinName, maxPolicyBytes)
	}
	return config.Parse(stdinName, data)
}

// completions registers value completion for the flags with fixed values.
func completions(cmd *cobra.Command) {
	fixed := func(v ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(v, cobra.ShellCompDirectiveNoFileComp)
	}
	_ = cmd.RegisterFlagCompletionFunc("output", fixed(report.Formats...))
	_ = cmd.RegisterFlagCompletionFunc("age-from", fixed("created", "label", "annotation"))
	_ = cmd.RegisterFlagCompletionFunc("semver-per", fixed("major", "minor"))
	_ = cmd.RegisterFlagCompletionFunc("file", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// render writes the rule flags back as the user gave them, in the order
// of ruleFlagTable, quoted for a POSIX shell: the provenance of a plan
// made from flags.
func (r *ruleFlags) render(cmd *cobra.Command) string {
	var parts []string
	for _, row := range ruleFlagTable {
		n := row.name
		f := cmd.Flags().Lookup(n)
		if f == nil || !f.Changed {
			continue
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				parts = append(parts, "--"+n, shellQuote(v))
			}
			continue
		}
		if f.Value.Type() == "bool" {
			if f.Value.String() == "true" {
				parts = append(parts, "--"+n)
			} else {
				parts = append(parts, "--"+n+"=false")
			}
			continue
		}
		parts = append(parts, "--"+n, shellQuote(f.Value.String()))
	}
	return strings.Join(parts, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@,=+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// stamp records which regprune made the document.
func (g *globals) stamp(p *plan.Plan) {
	p.Generator = "regprune " + g.build.String()
}

// failures adds the causes of the failed repositories (up to 3) to a
// run's error, in every output mode: stderr says why, whether stdout is
// a table, JSON or a file.
func failures(err error, p *plan.Plan, output string) error {
	if err == nil {
		return err
	}
	var msgs []string
	for _, r := range p.Repositories {
		if r.Err != nil && len(msgs) < 3 {
			msgs = append(msgs, r.Err.Error())
		}
	}
	if len(msgs) == 0 {
		return err
	}
	return fmt.Errorf("%w: %s", err, strings.Join(msgs, "; "))
}

// outputFlags are the flags about what a run leaves behind besides its
// report on stdout: a report file, a metrics file, and --yes.
type outputFlags struct {
	reports     []string
	metricsFile string
	yes         bool
	// reviewed: apply --plan FILE, a plan already reviewed; not asked.
	reviewed bool
	// strict: warnings are bad input (--strict, or strict: true).
	strict bool
}

func (o *outputFlags) add(cmd *cobra.Command, mode plan.Mode) {
	f := cmd.Flags()
	f.StringArrayVar(&o.reports, "report", nil, "also write the report to FILE: .html (self-contained page), .md, .json or .txt (repeatable)")
	f.StringVar(&o.metricsFile, "metrics-file", "", "write Prometheus metrics of the run to FILE (node_exporter textfile collector)")
	if mode == plan.ModeApply {
		f.BoolVarP(&o.yes, "yes", "y", false, "do not ask before deleting (apply asks when stdin is a terminal; without one, apply from rules needs --yes)")
	}
	_ = cmd.RegisterFlagCompletionFunc("report", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"html", "md", "json", "txt"}, cobra.ShellCompDirectiveFilterFileExt
	})
}

func (o *outputFlags) check() error {
	for _, r := range o.reports {
		if _, err := reportFormat(r); err != nil {
			return err
		}
		if err := checkOutput("--report", r); err != nil {
			return err
		}
	}
	if o.metricsFile != "" && filepath.Base(o.metricsFile) == "." {
		return usagef("--metrics-file %q: want a file path", o.metricsFile)
	}
	if o.metricsFile != "" {
		return checkOutput("--metrics-file", o.metricsFile)
	}
	return nil
}

// reportFormat maps a --report file name to a plan format.
func reportFormat(name string) (string, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".html", ".htm":
		return "html", nil
	case ".md", ".markdown":
		return "markdown", nil
	case ".json":
		return "json", nil
	case ".txt", ".text":
		return "table", nil
	}
	return "", usagef("--report %q: want a file ending in .html, .md, .json or .txt", name)
}

// runUI is what one plan or apply shows and leaves behind around the
// engine: progress, the confirmation, phase logs, report and metrics files.
type runUI struct {
	env   *Env
	o     *outputFlags
	log   *slog.Logger
	stats *registry.Stats
	start time.Time
	prog  *progress
	base  registry.StatsSnapshot
	// ask is where the confirmation goes: stdout with the table, stderr
	// when stdout carries JSON, Markdown or HTML.
	ask io.Writer
}

func (o *outputFlags) start(env *Env, g *globals, c *registry.Client, log *slog.Logger, output string) *runUI {
	r := &runUI{env: env, o: o, log: log, stats: c.Stats(), start: time.Now(), ask: env.Stdout}
	if output != "table" || !env.StdoutTerminal {
		r.ask = env.Stderr
	}
	if g.showProgress() {
		r.prog = newProgress(env.Stderr, r.stats)
	}
	return r
}

func (r *runUI) done(string) {
	if r.prog != nil {
		r.prog.repoDone()
	}
}

func (r *runUI) planning(n int) {
	if r.prog != nil {
		r.prog.planning(n)
	}
}

func (r *runUI) planned(p *plan.Plan) {
	s := r.stats.Snapshot()
	t := p.Summary
	r.log.Info("phase done", "phase", "plan", "repositories", t.Repositories, "failed_repositories", t.Failed,
		"images", t.Images, "delete", t.Delete, "untag", t.Untag, "delete_manifests", t.DeleteManifests,
		"reclaimable_bytes", t.ReclaimableBytes, "requests", s.Requests, "tag_lists", s.TagList,
		"manifest_heads", s.Head, "manifest_gets", s.ManifestGet, "blob_gets", s.BlobGet, "vendor_api_requests", s.API,
		"took", time.Since(r.start).Round(time.Millisecond))
	r.base = s
	if r.prog != nil {
		r.prog.finishPlanning()
	}
}

func (r *runUI) applying(p *plan.Plan) {
	if r.prog != nil {
		r.prog.applying(p.Summary.DeleteManifests+p.Summary.Untag, r.base.Delete)
	}
}

func (r *runUI) applied(p *plan.Plan) {
	s := r.stats.Snapshot()
	t := p.Summary
	r.log.Info("phase done", "phase", "apply", "deleted", t.Deleted, "untagged", t.Untagged, "skipped", t.Skipped,
		"failed", t.FailedItems, "freed_bytes", p.FreedBytes(), "delete_requests", s.Delete-r.base.Delete,
		"took", time.Since(r.start).Round(time.Millisecond))
}

func (r *runUI) stop() {
	if r.prog != nil {
		r.prog.stop()
		r.prog = nil
	}
}

// errCancelled is the answer "no" to apply's question: exit 1, nothing done.
var errCancelled = errors.New("apply cancelled: nothing was deleted")

// confirm asks before apply deletes, as terraform apply does: when stdin
// is a terminal, --yes is not given and the plan is not a saved one
// (apply --plan FILE applies a reviewed plan, as terraform apply PLANFILE).
func (r *runUI) confirm(ctx context.Context, p *plan.Plan) error {
	if r.o.yes || r.o.reviewed || !r.env.Interactive {
		return nil
	}
	t := p.Summary
	if t.DeleteManifests == 0 && t.Untag == 0 {
		return nil
	}
	r.stop()
	if err := report.Render(r.ask, p, "table"); err != nil {
		return err
	}
	untag := ""
	if t.Untag > 0 {
		untag = " and remove tags from " + plural(t.Untag, "image", "images")
	}
	fmt.Fprintf(r.ask, "\nregprune will delete %s (%s)%s in %s, freeing about %s.\n",
		plural(t.Delete, "image", "images"), plural(t.DeleteManifests, "manifest", "manifests"),
		untag, plural(t.Repositories, "repository", "repositories"), report.HumanBytes(t.ReclaimableBytes))
	fmt.Fprint(r.ask, "Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
	// The answer is read aside, so that Ctrl-C at the question stops the run.
	type answer struct {
		line string
		err  error
	}
	ch := make(chan answer, 1)
	safe.Go(func() {
		line, err := bufio.NewReader(r.env.Stdin).ReadString('\n')
		ch <- answer{line, err}
	})
	var a answer
	select {
	case <-ctx.Done():
		fmt.Fprintln(r.ask)
		return context.Cause(ctx)
	case a = <-ch:
	}
	if a.err != nil && !errors.Is(a.err, io.EOF) {
		return a.err
	}
	if strings.TrimSpace(a.line) != "yes" {
		return errCancelled
	}
	fmt.Fprintln(r.ask)
	return nil
}

// finish writes the report and metrics files.
func (r *runUI) finish(ctx context.Context, p *plan.Plan) error {
	var errs []error
	for _, name := range r.o.reports {
		if err := writeReport(name, p); err != nil {
			errs = append(errs, fmt.Errorf("--report %s: %w", name, pathErr(err)))
		}
	}
	if r.o.metricsFile != "" {
		if err := writeMetrics(r.o.metricsFile, p, r.stats.Snapshot(), time.Since(r.start), ctx.Err() == nil, time.Now()); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-file %s: %w", r.o.metricsFile, pathErr(err)))
		}
	}
	return errors.Join(errs...)
}

// writeReport writes p to name in the format its extension names,
// through a temporary file so that a reader never sees half a report.
func writeReport(name string, p *plan.Plan) error {
	format, err := reportFormat(name)
	if err != nil {
		return err
	}
	return writeAtomic(name, func(w io.Writer) error { return report.Render(w, p, format) })
}

func writeAtomic(name string, fill func(io.Writer) error) error {
	if err := regularOrMissing(name); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
