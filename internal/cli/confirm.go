package cli

// needYes is checked before the first request of an apply: with no
// terminal to ask at, an apply from rules deletes only with --yes (a
// saved plan, apply --plan FILE, was reviewed and is not asked about).
func (o *outputFlags) needYes(env *Env, planFile string) error {
	if planFile != "" {
		o.reviewed = true
		return nil
	}
	if o.yes || env.Interactive {
		return nil
	}
	return usagef("apply: stdin is not a terminal, so regprune cannot ask before deleting: give --yes (-y) to delete without asking, or apply a reviewed plan with --plan FILE")
}
