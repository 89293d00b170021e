package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/restore"
)

func newRestoreCmd(env *Env, g *globals) *cobra.Command {
	var (
		jf         journalFlags
		output     string
		repository string
		digest     string
		tag        string
		yes        bool
	)
	cmd := &cobra.Command{
		Use:   "restore RUN_ID... [--repository R] [--digest D | --tag T] [--yes]",
		Short: "Push back what an apply run deleted, until the registry's garbage collector runs",
		Long: `restore pushes back the manifests an apply run deleted, from the journal's
copies: children before the indexes that list them, subjects before their
referrers, then the tags. A tag is re-created only where it does not exist
now; a tag that names another digest was pushed since and is left alone.

Without --yes, restore only shows what it would push (like plan); with
--yes it pushes (like apply). An image whose layers or config the
registry's garbage collector has removed cannot come back, unless another
repository of the registry still holds them (they are then mounted from
it): restore names it, restores the rest, and exits 3.

Several runs are restored together, in the order their manifests need: an
index one run deleted after another run deleted its children comes back
with 'regprune restore RUN1 RUN2'. Restoring one of them alone names the
other run, restores the rest, and exits 3.`,
		Example: `  regprune runs
  regprune restore 20261201T150700Z-3fa9c1
  regprune restore 20261201T150700Z-3fa9c1 --repository registry.example.com/group/app --yes
  regprune restore 20261201T150700Z-3fa9c1 --digest sha256:21f3f89c5801 -y
  regprune restore 20261201T150700Z-3fa9c1 --tag 1003 -y`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.check(); err != nil {
				return err
			}
			if err := checkRunsFormat(output); err != nil {
				return err
			}
			if repository != "" {
				ref, err := registry.ParseRepository(repository, g.insecure)
				if err != nil {
					return usagef("--repository: %v", err)
				}
				repository = ref.Name()
			}
			if digest != "" && !registry.ValidDigest(digest) && !shortDigestRE.MatchString(digest) {
				return usagef("--digest %q: want sha256:<64 hex digits> or sha512:<128 hex digits>, or the first 12 as the tables print it", digest)
			}
			ctx := cmd.Context()
			if g.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, g.timeout)
				defer cancel()
			}
			j, err := jf.openExisting(ctx, env, yes)
			if err != nil {
				return err
			}
			defer j.Close()
			for _, id := range args {
				if _, err := j.Run(ctx, id); errors.Is(err, journal.ErrNoRun) {
					return usagef("%v (list the runs with 'regprune runs')", err)
				} else if err != nil {
					return err
				}
			}
			if digest, err = aimRestore(ctx, j, args, repository, digest, tag); err != nil {
				return err
			}
			log := g.logger(env.Stderr)
			o := restore.Options{Client: g.client(env, log), Journal: j, Logger: log,
				Explain: func(repo string, err error) error {
					return explain(ctx, func(host string) string { return registry.CredentialSource(env.Getenv, host) }, repo, err)
				}}
			p, err := restore.BuildRuns(ctx, args, restore.Filter{Repository: repository, Digest: digest}, o)
			if errors.Is(err, restore.ErrNothingToRestore) {
				if repository != "" || digest != "" || tag != "" {
					return usagef("%v", err)
				}
				if output == "json" {
					return restore.Render(env.Stdout, restore.Empty(args[0], !yes), output)
				}
				_, err := fmt.Fprintf(env.Stdout, "%v: nothing to restore\n", err)
				return err
			}
			if err != nil {
				return err
			}
			if yes {
				restore.Apply(ctx, p, o)
			}
			if err := restore.Render(env.Stdout, p, output); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
			return restoreExit(p)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json (json goes to stdout alone)")
	cmd.Flags().StringVar(&repository, "repository", "", "restore only this repository (host[:port]/path)")
	cmd.Flags().StringVar(&digest, "digest", "", "restore only this manifest, what it needs and its referrers (a prefix such as sha256:21f3f89c5801 when unique in the run)")
	cmd.Flags().StringVar(&tag, "tag", "", "restore only the manifest this tag named when the run deleted it, as --digest")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "push; without it restore only shows what it would push")
	jf.add(cmd)
	return cmd
}

// restoreExit maps a restore to the exit code: 3 (engine.ErrPartial) when
// images cannot come back or some pushes failed after others succeeded.
func restoreExit(p *restore.Plan) error {
	err := p.Err()
	if err == nil {
		return nil
	}
	s := p.Summary
	if errors.Is(err, restore.ErrUnrecoverable) || errors.Is(err, restore.ErrNeedsRun) || s.Pushed+s.Tagged > 0 || (p.DryRun && s.FailedRepos < s.Repositories) {
		return partial{err}
	}
	return err
}

// partial is a restore error that exits 3 (engine.ErrPartial) without
// engine's wording about deletions.
type partial struct{ error }

func (p partial) Is(target error) bool { return target == engine.ErrPartial }
func (p partial) Unwrap() error        { return p.error }
