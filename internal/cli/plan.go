package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/regprune/regprune/internal/config"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/inuse"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/report"
)

// planOptions are the flags and arguments of plan and apply, and what
// checking them found. The command runs in three steps, as restic writes
// its commands: validate checks the flags and arguments (exit 2; no input
// file is read, output paths are checked), targets reads the plan or
// policy file and checks what it says (exit 2, no request sent yet), and
// run plans, and for apply deletes.
type planOptions struct {
	env     *Env
	globals *globals
	mode    plan.Mode

	rules      ruleFlags
	output     string
	policyFile string
	planFile   string
	cache      cacheFlags
	shard      string
	journal    journalFlags
	outputs    outputFlags
	inUse      inUseFlags

	// Found by validate and targets.
	shardOf  engine.Shard
	rule     config.Rule    // from the rule flags
	saved    *plan.Plan     // --plan
	cfg      *config.Config // -f
	fromArgs []engine.Job   // the repositories of the command line
	sources  []inUseSource  // of the flags and the policy file
	inUseSet *inuse.Set     // what the sources named, read by run
	// unmatchedPatterns are the policy file's patterns that match no
	// repository: warnings, errors with --strict.
	unmatchedPatterns []string
}

func newPlanCmd(env *Env, globals *globals, mode plan.Mode) *cobra.Command {
	o := &planOptions{env: env, globals: globals, mode: mode}
	use, short := "plan REPOSITORY... [rules] | -f policy.yaml", "Decide what to delete and why; delete nothing"
	if mode == plan.ModeApply {
		use, short = "apply REPOSITORY... [rules] | -f policy.yaml | --plan plan.json", "Decide, re-check, then delete"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Example: `  regprune plan registry.example.com/group/app --keep-tag latest --keep-newest 5
  regprune plan -f policy.yaml -o json > plan.json
  regprune apply --plan plan.json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Every input is checked before the first request.
			if err := o.validate(cmd, args); err != nil {
				return err
			}
			if err := o.targets(args); err != nil {
				return err
			}
			return o.run(cmd.Context())
		},
	}
	o.addFlags(cmd)
	return cmd
}

// addFlags registers the flags of plan, or of apply.
func (o *planOptions) addFlags(cmd *cobra.Command) {
	o.rules.add(cmd)
	o.inUse.add(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table, json, markdown (for a merge request) or html (json goes to stdout alone)")
	cmd.Flags().StringVarP(&o.policyFile, "file", "f", "", "policy file (see docs/policy.md); - reads standard input")
	o.cache.add(cmd)
	o.journal.add(cmd)
	if o.mode == plan.ModeApply {
		o.journal.addDisable(cmd)
	}
	cmd.Flags().StringVar(&o.shard, "shard", "", "take only share I of N of the repositories (stable hash of the name): I/N, or /N to read I from $"+engine.JobIndexEnv)
	if o.mode == plan.ModeApply {
		cmd.Flags().StringVar(&o.planFile, "plan", "", "apply a plan saved with 'regprune plan -o json'; - reads standard input")
	}
	o.outputs.add(cmd, o.mode)
	o.outputs.addStrict(cmd)
	completions(cmd)
}

// validate checks the flags and arguments, without reading the plan or
// policy file: bad input is exit 2 (ErrUsage).
func (o *planOptions) validate(cmd *cobra.Command, args []string) error {
	env := o.env
	for _, check := range []func() error{
		o.globals.check,
		func() error { return checkFormat(o.output) },
		o.journal.check,
		o.outputs.check,
		func() error { return checkCredentialEnv(env.Getenv) },
	} {
		if err := check(); err != nil {
			return err
		}
	}
	var err error
	if o.shardOf, err = engine.ParseShard(o.shard, env.Getenv); err != nil {
		return usagef("--shard: %v", err)
	}
	if o.shardOf.Total > 1 && o.planFile != "" {
		return usagef("--shard with --plan: a saved plan already names its repositories; plan each shard on its own")
	}
	switch {
	case o.planFile != "":
		if len(args) > 0 || o.rules.any(cmd, "allow-empty") || o.policyFile != "" {
			return usagef("--plan %s: a saved plan already says what to delete; give no repository, rule flag or -f with it (--allow-empty is the one rule flag it takes)", o.planFile)
		}
	case o.policyFile != "":
		if len(args) > 0 || o.rules.any(cmd) {
			return usagef("-f %s: give repositories and rules either in the policy file or on the command line, not both", o.policyFile)
		}
	default:
		if len(args) == 0 {
			if o.mode == plan.ModeApply {
				return usagef("no repository given: regprune apply HOST/PATH... [rules], -f policy.yaml, or --plan plan.json (a plan saved with regprune plan -o json)")
			}
			return usagef("no repository given: regprune %s HOST/PATH... [rules], or -f policy.yaml", cmd.Name())
		}
		if _, err := targetsFromArgs(args, config.Rule{}, o.globals.insecure); err != nil {
			return err
		}
		if o.rule, err = o.rules.rule(cmd, args); err != nil {
			return err
		}
		o.rule.Source = o.rules.render(cmd)
	}
	return nil
}

// targets reads what the run plans: the saved plan (--plan), the
// policy file (-f), or the repositories of the command line with the
// rule of the flags; then checks, still before any request, the APIs of
// their hosts, the in-use sources (a policy file can name some), and
// last, that apply may delete without asking.
func (o *planOptions) targets(args []string) error {
	env := o.env
	var err error
	switch {
	case o.planFile != "":
		err = o.loadPlan()
	case o.policyFile != "":
		err = o.loadPolicy()
	default:
		o.fromArgs, err = targetsFromArgs(args, o.rule, o.globals.insecure)
	}
	if err != nil {
		return err
	}
	if o.saved != nil || o.fromArgs != nil {
		var hosts []string
		for _, t := range o.fromArgs {
			hosts = append(hosts, hostOfRepo(t.Repository))
		}
		if o.saved != nil {
			for _, r := range o.saved.Repositories {
				hosts = append(hosts, hostOfRepo(r.Name))
			}
		}
		if err := o.globals.checkAPIs(env, hosts); err != nil {
			return err
		}
	}
	stdinTaken := ""
	switch {
	case o.policyFile == "-":
		stdinTaken = "-f -"
	case o.planFile == "-":
		stdinTaken = "--plan -"
	}
	if o.sources, err = o.inUse.parse(o.cfg, stdinTaken); err != nil {
		return err
	}
	if o.mode == plan.ModeApply {
		return o.outputs.needYes(env, o.planFile)
	}
	return nil
}

// loadPlan reads and checks the saved plan of --plan.
func (o *planOptions) loadPlan() error {
	f, name, err := openInput(o.env, o.planFile)
	if err != nil {
		return usagef("--plan %s: %v", o.planFile, errors.Unwrap(err))
	}
	saved, err := plan.Load(f, name)
	f.Close()
	if err != nil {
		return usagef("%v", err)
	}
	// Each name as on the command line, each repository once (Load
	// compares names as written; this, as the registry will see them).
	seen := map[string]string{}
	for _, r := range saved.Repositories {
		ref, err := parseRepository(r.Name, o.globals.insecure)
		if err != nil {
			return usagef("%v %s: %v", plan.ErrBadPlan, o.planFile, err)
		}
		key := strings.ToLower(ref.Name())
		if first, ok := seen[key]; ok {
			return usagef("%v %s: repository %s listed twice (as %s and %s): a plan names each repository once", plan.ErrBadPlan, o.planFile, ref.Name(), first, r.Name)
		}
		seen[key] = r.Name
	}
	// A plan that would delete every image of a repository is refused
	// unless --allow-empty, as a plan made now would be (apply checks it
	// again on the registry).
	saved.RefuseEmpty(o.rules.allowEmpty)
	o.saved = saved
	return nil
}

// loadPolicy reads the policy file of -f and checks the APIs of its
// registries.
func (o *planOptions) loadPolicy() error {
	c, err := loadPolicy(o.env, o.policyFile)
	if err != nil {
		return usagef("%v", err)
	}
	o.cfg = c
	o.globals.setRegistries(c.Registries)
	var hosts []string
	for h := range c.Registries {
		hosts = append(hosts, h)
	}
	for _, r := range c.Rules {
		for _, p := range r.Patterns {
			hosts = append(hosts, p.Registry())
		}
	}
	return o.globals.checkAPIs(o.env, hosts)
}

// run plans, and for apply confirms and deletes, then writes the report,
// the warnings and the notices. Its error is the run's exit status.
func (o *planOptions) run(ctx context.Context) error {
	env, mode := o.env, o.mode
	if o.globals.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.globals.timeout, fmt.Errorf("--timeout %s expired", o.globals.timeout))
		defer cancel()
	}
	log := o.globals.logger(env.Stderr)
	opts := engine.Options{Client: o.globals.client(env, log), Parallel: o.globals.parallel, Logger: log, Now: env.Now(), Shard: o.shardOf}
	opts.Explain = func(repo string, err error) error {
		return explain(ctx, func(host string) string { return registry.CredentialSource(env.Getenv, host) }, repo, err)
	}
	ui := o.outputs.start(env, o.globals, opts.Client, log, o.output)
	defer ui.stop()
	opts.Done = ui.done
	closeAll, err := o.open(ctx, &opts)
	defer closeAll()
	if err != nil {
		return err
	}
	p, err := o.plan(ctx, ui, opts)
	if err != nil {
		return err
	}
	strictErr := strictError(o.outputs.strict || o.cfg != nil && o.cfg.Strict, p, o.unmatchedPatterns)
	if strictErr != nil && mode == plan.ModeApply {
		ui.stop()
		printWarnings(o.globals.warnings(env.Stderr), p)
		return strictErr
	}
	if mode == plan.ModeApply && ctx.Err() == nil {
		if err := ui.confirm(ctx, p); err != nil {
			return err
		}
		ui.applying(p)
		engine.Apply(ctx, p, opts)
		ui.applied(p)
	}
	ui.stop()
	if err := report.Render(env.Stdout, p, o.output); err != nil {
		return err
	}
	printWarnings(o.globals.warnings(env.Stderr), p)
	printNotices(o.globals.notices(env.Stderr), p)
	if err := ui.finish(ctx, p); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if err := failures(engine.Result(p), p, o.output); err != nil {
		return err
	}
	return strictErr
}

// open sets up opts' cache (not for a saved plan), journal (written by
// apply, read by plan) and in-use images (read in full before anything is
// planned). The returned func closes what was opened.
func (o *planOptions) open(ctx context.Context, opts *engine.Options) (func(), error) {
	env, log := o.env, opts.Logger
	var closers []io.Closer
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i].Close()
		}
	}
	if o.planFile == "" {
		opts.Cache = o.cache.open(env, log)
		if c, ok := opts.Cache.(io.Closer); ok {
			closers = append(closers, c)
		}
	}
	if o.mode == plan.ModeApply {
		j, err := o.journal.openWrite(ctx, env)
		if err != nil {
			return closeAll, err
		}
		if j == nil {
			fmt.Fprintln(o.globals.notices(env.Stderr), "warning: --no-journal: nothing this run deletes can be restored")
		} else {
			closers = append(closers, j)
		}
		opts.Journal = j
	} else if j := o.journal.openRead(ctx, env, log); j != nil {
		closers = append(closers, j)
		opts.Journal = j
	}
	if len(o.sources) > 0 {
		// Read in full before any repository is planned; any failure
		// stops the run (exit 1) with nothing deleted.
		inUse, err := o.inUse.read(ctx, env, o.sources)
		if err != nil {
			return closeAll, err
		}
		log.Info("images in use read", "sources", len(inUse.Sources()), "references", inUse.References(),
			"without_repository", inUse.Unmatched())
		opts.InUse = inUse.For
		o.inUseSet = inUse
	}
	return closeAll, nil
}

// plan finds the policy file's repositories and plans them, or takes the
// saved plan, and stamps the result.
func (o *planOptions) plan(ctx context.Context, ui *runUI, opts engine.Options) (*plan.Plan, error) {
	env := o.env
	targets := o.fromArgs
	if o.cfg != nil {
		found, unmatched, err := engine.Discover(ctx, opts.Client, o.cfg)
		if err != nil {
			return nil, err
		}
		for _, p := range unmatched {
			fmt.Fprintf(o.globals.warnings(env.Stderr), "warning: %s: pattern %s matches no repository\n", o.policyFile, p)
		}
		o.unmatchedPatterns = unmatched
		targets = found
	}
	if o.shardOf.Total > 1 {
		ui.planning(len(o.shardOf.Filter(targets)))
	} else {
		ui.planning(len(targets))
	}
	p := o.saved
	if p == nil {
		p = engine.Plan(ctx, targets, o.mode, opts)
	}
	if o.inUseSet != nil {
		p.InUse = inUseCounts(o.inUseSet)
		p.Recount()
	}
	o.globals.stamp(p)
	if o.mode == plan.ModeApply && opts.Journal != nil {
		p.Journal = opts.Journal.Path()
	}
	ui.planned(p)
	return p, nil
}

func newValidateCmd(env *Env) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate [-f] policy.yaml",
		Short: "Check a policy file without contacting anything",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && file != "":
				return usagef("validate: %q and -f %s: give the policy file once, as an argument or with -f", args[0], file)
			case len(args) == 1:
				file = args[0]
			case file == "":
				return usagef("validate needs a policy file: regprune validate policy.yaml (or -f policy.yaml, - for standard input)")
			}
			c, err := loadPolicy(env, file)
			if err != nil {
				return usagef("%v", err)
			}
			inUse := ""
			if src := c.InUse.Sources(); len(src) > 0 {
				inUse = ", images in use from " + strings.Join(src, ", ")
			}
			_, err = fmt.Fprintf(env.Stdout, "%s: valid, %s%s\n", c.Source, plural(len(c.Rules), "rule", "rules"), inUse)
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file")
	return cmd
}

func hostOfRepo(repo string) string {
	h, _, _ := strings.Cut(repo, "/")
	return h
}
