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

func newPlanCmd(env *Env, g *globals, mode plan.Mode) *cobra.Command {
	var (
		rf       ruleFlags
		output   string
		file     string
		planFile string
		cf       cacheFlags
		shard    string
		jf       journalFlags
		ox       outputFlags
		uf       inUseFlags
	)
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
			if err := g.check(); err != nil {
				return err
			}
			if err := checkFormat(output); err != nil {
				return err
			}
			if err := jf.check(); err != nil {
				return err
			}
			if err := ox.check(); err != nil {
				return err
			}
			if err := checkCredentialEnv(env.Getenv); err != nil {
				return err
			}
			sh, shErr := engine.ParseShard(shard, env.Getenv)
			if shErr != nil {
				return usagef("--shard: %v", shErr)
			}
			if sh.Total > 1 && planFile != "" {
				return usagef("--shard with --plan: a saved plan already names its repositories; plan each shard on its own")
			}
			var (
				saved   *plan.Plan
				targets []engine.Target
				cfg     *config.Config
				// unmatchedPatterns are the policy file's patterns that
				// match no repository: warnings, errors with --strict.
				unmatchedPatterns []string
			)
			switch {
			case planFile != "":
				if len(args) > 0 || rf.any(cmd, "allow-empty") || file != "" {
					return usagef("--plan %s: a saved plan already says what to delete; give no repository, rule flag or -f with it (--allow-empty is the one rule flag it takes)", planFile)
				}
				f, name, err := openInput(env, planFile)
				if err != nil {
					return usagef("--plan %s: %v", planFile, errors.Unwrap(err))
				}
				saved, err = plan.Load(f, name)
				f.Close()
				if err != nil {
					return usagef("%v", err)
				}
				// Each name as on the command line, each repository once
				// (Load compares names as written; this, as the registry
				// will see them).
				seen := map[string]string{}
				for _, r := range saved.Repositories {
					ref, err := parseRepository(r.Repository, g.insecure)
					if err != nil {
						return usagef("%v %s: %v", plan.ErrBadPlan, planFile, err)
					}
					key := strings.ToLower(ref.Name())
					if first, ok := seen[key]; ok {
						return usagef("%v %s: repository %s listed twice (as %s and %s): a plan names each repository once", plan.ErrBadPlan, planFile, ref.Name(), first, r.Repository)
					}
					seen[key] = r.Repository
				}
				// A plan that would delete every image of a repository
				// is refused unless --allow-empty, as a plan made now
				// would be (apply checks it again on the registry).
				saved.RefuseEmpty(rf.allowEmpty)
			case file != "":
				if len(args) > 0 || rf.any(cmd) {
					return usagef("-f %s: give repositories and rules either in the policy file or on the command line, not both", file)
				}
				c, err := loadPolicy(env, file)
				if err != nil {
					return usagef("%v", err)
				}
				cfg = c
				g.setRegistries(c.Registries)
				var hosts []string
				for h := range c.Registries {
					hosts = append(hosts, h)
				}
				for _, r := range c.Rules {
					for _, p := range r.Patterns {
						hosts = append(hosts, p.Registry())
					}
				}
				if err := g.checkAPIs(env, hosts); err != nil {
					return err
				}
			default:
				if len(args) == 0 {
					if mode == plan.ModeApply {
						return usagef("no repository given: regprune apply HOST/PATH... [rules], -f policy.yaml, or --plan plan.json (a plan saved with regprune plan -o json)")
					}
					return usagef("no repository given: regprune %s HOST/PATH... [rules], or -f policy.yaml", cmd.Name())
				}
				if _, err := targetsFromArgs(args, config.Rule{}, g.insecure); err != nil {
					return err
				}
				rule, err := rf.rule(cmd, args)
				if err != nil {
					return err
				}
				rule.Source = rf.render(cmd)
				if targets, err = targetsFromArgs(args, rule, g.insecure); err != nil {
					return err
				}
			}
			if saved != nil || targets != nil {
				var hosts []string
				for _, t := range targets {
					hosts = append(hosts, hostOfRepo(t.Repository))
				}
				if saved != nil {
					for _, r := range saved.Repositories {
						hosts = append(hosts, hostOfRepo(r.Repository))
					}
				}
				if err := g.checkAPIs(env, hosts); err != nil {
					return err
				}
			}

			stdinTaken := ""
			switch {
			case file == "-":
				stdinTaken = "-f -"
			case planFile == "-":
				stdinTaken = "--plan -"
			}
			sources, err := uf.parse(cfg, stdinTaken)
			if err != nil {
				return err
			}
			if mode == plan.ModeApply {
				if err := ox.needYes(env, planFile); err != nil {
					return err
				}
			}

			ctx := cmd.Context()
			if g.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeoutCause(ctx, g.timeout, fmt.Errorf("--timeout %s expired", g.timeout))
				defer cancel()
			}
			log := g.logger(env.Stderr)
			opts := engine.Options{Client: g.client(env, log), Parallel: g.parallel, Logger: log, Now: env.Now(), Shard: sh}
			opts.Explain = func(repo string, err error) error {
				return explain(ctx, func(host string) string { return registry.CredentialSource(env.Getenv, host) }, repo, err)
			}
			run := ox.start(env, g, opts.Client, log, cmd, output)
			defer run.stop()
			opts.Done = run.done
			if planFile == "" {
				opts.Cache = cf.open(env, log)
				if c, ok := opts.Cache.(io.Closer); ok {
					defer c.Close()
				}
			}
			if mode == plan.ModeApply {
				j, err := jf.openWrite(ctx, env)
				if err != nil {
					return err
				}
				if j == nil {
					fmt.Fprintln(g.notices(env.Stderr), "warning: --no-journal: nothing this run deletes can be restored")
				} else {
					defer j.Close()
				}
				opts.Journal = j
			} else if j := jf.openRead(ctx, env, log); j != nil {
				defer j.Close()
				opts.Journal = j
			}
			var inUse *inuse.Set
			if len(sources) > 0 {
				// Read in full before any repository is planned; any
				// failure stops the run (exit 1) with nothing deleted.
				if inUse, err = uf.read(ctx, env, sources); err != nil {
					return err
				}
				log.Info("images in use read", "sources", len(inUse.Sources()), "references", inUse.References(),
					"without_repository", inUse.Unmatched())
				opts.InUse = inUse.For
			}
			if cfg != nil {
				t, unmatched, err := engine.Discover(ctx, opts.Client, cfg)
				if err != nil {
					return err
				}
				for _, p := range unmatched {
					fmt.Fprintf(g.warnings(env.Stderr), "warning: %s: pattern %s matches no repository\n", file, p)
				}
				unmatchedPatterns = unmatched
				targets = t
			}
			if sh.Total > 1 {
				run.planning(len(sh.Filter(targets)))
			} else {
				run.planning(len(targets))
			}
			p := saved
			if p == nil {
				p = engine.Plan(ctx, targets, mode, opts)
			}
			if inUse != nil {
				p.InUse = inUseCounts(inUse)
				p.Recount()
			}
			g.stamp(p)
			if mode == plan.ModeApply && opts.Journal != nil {
				p.Journal = opts.Journal.Path()
			}
			run.planned(p)
			strictErr := strictError(ox.strict || cfg != nil && cfg.Strict, p, unmatchedPatterns)
			if strictErr != nil && mode == plan.ModeApply {
				run.stop()
				printWarnings(g.warnings(env.Stderr), p)
				return strictErr
			}
			if mode == plan.ModeApply && ctx.Err() == nil {
				if err := run.confirm(ctx, p); err != nil {
					return err
				}
				run.applying(p)
				engine.Apply(ctx, p, opts)
				run.applied(p)
			}
			run.stop()
			if err := report.Render(env.Stdout, p, output); err != nil {
				return err
			}
			printWarnings(g.warnings(env.Stderr), p)
			printNotices(g.notices(env.Stderr), p)
			if err := run.finish(ctx, p); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if err := failures(engine.Result(p), p, output); err != nil {
				return err
			}
			return strictErr
		},
	}
	rf.add(cmd)
	uf.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json, markdown (for a merge request) or html (json goes to stdout alone)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file (see docs/policy.md); - reads standard input")
	cf.add(cmd)
	jf.add(cmd)
	if mode == plan.ModeApply {
		jf.addDisable(cmd)
	}
	cmd.Flags().StringVar(&shard, "shard", "", "take only share I of N of the repositories (stable hash of the name): I/N, or /N to read I from $"+engine.JobIndexEnv)
	if mode == plan.ModeApply {
		cmd.Flags().StringVar(&planFile, "plan", "", "apply a plan saved with 'regprune plan -o json'; - reads standard input")
	}
	ox.add(cmd, mode)
	ox.addStrict(cmd)
	completions(cmd)
	return cmd
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
