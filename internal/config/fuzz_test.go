package config

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error is a
// *FieldError wrapping ErrInvalid, and that every accepted file yields rules
// whose policies validate. Plain "go test" runs the seeds only; fuzz with
// go test -fuzz=FuzzParse -fuzztime=30s ./internal/config/
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullExample))
	for _, tc := range errCases {
		f.Add([]byte(tc.yaml))
	}
	f.Add([]byte("version: 1\nrules:\n  - repositories: [reg.example.com/a]\n    keep: &k {newest: 1}\n  - repositories: [reg.example.com/b]\n    keep: *k\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("version: 1\nrules: [{repositories: ['localhost:5000/**/x/*-y'], keep: {group: {regex: '(?P<b>.+)-[0-9]+', newest: 1}}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var fe *FieldError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a FieldError wrapping ErrInvalid", err, err)
			}
			if fe.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		if len(c.Rules) == 0 {
			t.Fatal("accepted a file without rules")
		}
		for _, r := range c.Rules {
			if len(r.Patterns) == 0 || r.Source == "" {
				t.Fatalf("rule %+v", r)
			}
			if err := r.Policy.Validate(); err != nil {
				t.Fatalf("accepted a rule that does not validate: %v", err)
			}
			for _, p := range r.Patterns {
				if p.Registry() == "" {
					t.Fatalf("pattern %q without a registry", p)
				}
				// Matching never panics, on the pattern itself too.
				p.Match(p.String())
			}
		}
	})
}
