package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ruleFlagTable is the one list of rule flags: every flag add registers
// is in it, any sees each, flagOf names each of its keys, and render
// writes each back (--delete-orphan-artifacts was missing from the
// rendered rule while three lists were kept by hand).
func TestRuleFlagTable(t *testing.T) {
	var r ruleFlags
	cmd := &cobra.Command{Use: "plan"}
	r.add(cmd)
	inTable := map[string]bool{}
	for _, row := range ruleFlagTable {
		inTable[row.name] = true
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !inTable[f.Name] {
			t.Errorf("--%s is registered but not in ruleFlagTable", f.Name)
		}
	})
	if cmd.Flags().NFlag() != 0 || r.any(cmd) {
		t.Fatal("a rule flag counts as given before any is set")
	}
	for _, row := range ruleFlagTable {
		cmd := &cobra.Command{Use: "plan"}
		var r ruleFlags
		r.add(cmd)
		f := cmd.Flags().Lookup(row.name)
		if f == nil {
			t.Errorf("--%s is in the table but not registered", row.name)
			continue
		}
		value := map[string]string{"bool": "true", "int": "1", "string": "x", "stringArray": "x"}[f.Value.Type()]
		if err := cmd.Flags().Set(row.name, value); err != nil {
			t.Fatalf("--%s %s: %v", row.name, value, err)
		}
		if !r.any(cmd) || r.any(cmd, row.name) {
			t.Errorf("any does not see --%s alone", row.name)
		}
		if got := r.render(cmd); got != "--"+row.name && got != "--"+row.name+" "+value {
			t.Errorf("--%s renders as %q", row.name, got)
		}
		if len(row.keys) == 0 {
			t.Errorf("--%s has no policy-file key", row.name)
		}
		for _, k := range row.keys {
			if flagOf[k] != "--"+row.name {
				t.Errorf("flagOf[%q] = %q, want --%s", k, flagOf[k], row.name)
			}
		}
	}
	if n := strings.Count(r.render(cmd), "--"); n != 0 {
		t.Errorf("nothing given, render wrote %d flags", n)
	}
}
