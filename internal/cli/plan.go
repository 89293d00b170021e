package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/regprune/regprune/internal/config"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

func newPlanCmd(env *Env, g *globals, write bool) *cobra.Command {
	var (
		rf       ruleFlags
		output   string
		file     string
		planFile string
		cf       cacheFlags
		shard    string
		jf       journalFlags
	)
	use, short := "plan REPOSITORY... [rules] | -f policy.yaml", "Decide what to delete and why; delete nothing"
	if write {
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
			)
			switch {
			case planFile != "":
				if len(args) > 0 || rf.any(cmd) || file != "" {
					return usagef("--plan %s: a saved plan already says what to delete; give no repository, rule flag or -f with it", planFile)
				}
				f, err := os.Open(planFile)
				if err != nil {
					return usagef("--plan %s: %v", planFile, errors.Unwrap(err))
				}
				saved, err = plan.Load(f, planFile)
				f.Close()
				if err != nil {
					return usagef("%v", err)
				}
				for _, r := range saved.Repositories {
					if _, err := registry.ParseRepository(r.Repository, g.insecure); err != nil {
						return usagef("%v %s: %v", plan.ErrBadPlan, planFile, err)
					}
				}
			case file != "":
				if len(args) > 0 || rf.any(cmd) {
					return usagef("-f %s: give repositories and rules either in the policy file or on the command line, not both", file)
				}
				c, err := config.Load(file)
				if err != nil {
					return usagef("%v", err)
				}
				cfg = c
			default:
				if len(args) == 0 {
					return usagef("no repository given: regprune %s HOST/PATH... [rules], or -f policy.yaml", cmd.Name())
				}
				if _, err := targetsFromArgs(args, config.Rule{}, g.insecure); err != nil {
					return err
				}
				rule, err := rf.rule(cmd, args)
				if err != nil {
					return err
				}
				if targets, err = targetsFromArgs(args, rule, g.insecure); err != nil {
					return err
				}
			}

			ctx := cmd.Context()
			if g.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, g.timeout)
				defer cancel()
			}
			log := g.logger(env.Stderr)
			opts := engine.Options{Client: g.client(env, log), Parallel: g.parallel, Logger: log, Now: env.Now(), Shard: sh}
			if planFile == "" {
				opts.Cache = cf.open(env, log)
			}
			if write {
				j, err := jf.openWrite(ctx, env)
				if err != nil {
					return err
				}
				if j == nil {
					fmt.Fprintln(env.Stderr, "warning: --no-journal: nothing this run deletes can be restored")
				} else {
					defer j.Close()
				}
				opts.Journal = j
			} else if j := jf.openRead(ctx, env, log); j != nil {
				defer j.Close()
				opts.Journal = j
			}
			if cfg != nil {
				t, unmatched, err := engine.Discover(ctx, opts.Client, cfg)
				if err != nil {
					return err
				}
				for _, p := range unmatched {
					fmt.Fprintf(env.Stderr, "warning: %s: pattern %s matches no repository\n", file, p)
				}
				targets = t
			}
			p := saved
			if p == nil {
				p = engine.Plan(ctx, targets, write, opts)
			}
			if write {
				engine.Apply(ctx, p, opts)
			}
			if err := plan.Render(env.Stdout, p, output); err != nil {
				return err
			}
			report(env.Stderr, p)
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
			_, err := engine.Result(p)
			return err
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json (json goes to stdout alone)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file (see docs/policy.md)")
	cf.add(cmd)
	jf.add(cmd, write)
	cmd.Flags().StringVar(&shard, "shard", "", "take only share I of N of the repositories (stable hash of the name): I/N, or /N to read I from $"+engine.JobIndexEnv)
	if write {
		cmd.Flags().StringVar(&planFile, "plan", "", "apply a plan saved with 'regprune plan -o json'")
	}
	return cmd
}

func newValidateCmd(env *Env) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -f policy.yaml",
		Short: "Check a policy file without contacting anything",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("validate needs -f policy.yaml")
			}
			c, err := config.Load(file)
			if err != nil {
				return usagef("%v", err)
			}
			_, err = fmt.Fprintf(env.Stdout, "%s: valid, %d rules\n", file, len(c.Rules))
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file")
	return cmd
}
