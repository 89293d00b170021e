package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/regprune/regprune/internal/plan"
)

// addStrict registers --strict on plan and apply.
func (o *outputFlags) addStrict(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.strict, "strict", false, "treat every warning (a keep tag or regex that holds nothing, a pattern that matches no repository) as an error: exit 2 before anything is deleted (policy file: strict: true)")
}

// strictError is the bad-input error of a --strict run with warnings: the
// warnings themselves are printed on stderr (and in the report).
func strictError(strict bool, p *plan.Plan, patterns []string) error {
	n := len(p.Warnings()) + len(patterns)
	if !strict || n == 0 {
		return nil
	}
	return usagef("--strict: %s (printed above); nothing was deleted", plural(n, "warning", "warnings"))
}

// printWarnings writes the keep rules that hold nothing to w: stderr,
// whatever the output format and even with --quiet (see ux.warnings).
func printWarnings(w io.Writer, p *plan.Plan) {
	for _, wn := range p.Warnings() {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
}

// warnings is where warnings go: as notices, but --quiet does not hide
// them (a keep rule that holds nothing is a reviewer's business).
func (u *ux) warnings(w io.Writer) io.Writer {
	q := u.quiet
	u.quiet = false
	defer func() { u.quiet = q }()
	return u.notices(w)
}
