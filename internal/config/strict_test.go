package config

import (
	"errors"
	"testing"
)

// strict: true at the top of a file makes the run treat warnings as errors.
func TestStrict(t *testing.T) {
	const rules = "rules:\n  - repositories: [reg.example.com/app]\n    keep: {tags: [latest]}\n"
	for _, tc := range []struct {
		text   string
		strict bool
		bad    bool
	}{
		{"version: 1\n" + rules, false, false},
		{"version: 1\nstrict: true\n" + rules, true, false},
		{"version: 1\nstrict: false\n" + rules, false, false},
		{"version: 1\nstrict: yes please\n" + rules, false, true},
	} {
		c, err := Parse("p.yaml", []byte(tc.text))
		if tc.bad {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%q: err %v, want invalid", tc.text, err)
			}
			continue
		}
		if err != nil || c.Strict != tc.strict {
			t.Errorf("%q: strict %v, err %v; want %v", tc.text, c != nil && c.Strict, err, tc.strict)
		}
	}
}
