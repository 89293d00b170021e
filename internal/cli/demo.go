package cli

import (
	"github.com/spf13/cobra"

	"github.com/regprune/regprune/internal/demo"
)

func newDemoCmd(env *Env, g *globals) *cobra.Command {
	var builds int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run plan, apply and the registry's GC on an in-process registry seeded like CI",
		Long: `demo starts CNCF distribution v3 in-process on 127.0.0.1, seeds it with
CI builds (job-id tags plus 'latest', multi-arch images with cosign
signatures, a release tag sharing a build's digest), shows the plan,
applies it, runs the registry's garbage collector and prints the bytes
actually freed next to the plan's estimate. Nothing leaves this machine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.check(); err != nil {
				return err
			}
			if builds < 2 || builds > 500 {
				return usagef("--builds %d: want 2 to 500", builds)
			}
			return demo.Run(cmd.Context(), demo.Options{
				Out: env.Stdout, Builds: builds, Concurrency: g.concurrency,
				Logger: g.logger(env.Stderr), Now: env.Now(),
			})
		},
	}
	cmd.Flags().IntVar(&builds, "builds", 8, "CI builds to seed per repository")
	return cmd
}
