package cli

import "github.com/spf13/cobra"

func newDemoCmd(env *Env, g *globals) *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "Run regprune on an in-process registry seeded like a CI pipeline", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return usagef("demo: not yet") }}
}
