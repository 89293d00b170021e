package config

import (
	"errors"
	"strings"
	"testing"
)

// A policy file reports every rule's error at once, in file order, and
// the list still wraps ErrInvalid.
func TestParseReportsAllErrorsInFileOrder(t *testing.T) {
	y := `version: 1
rules:
  - repositories: [reg.example.com/a]
    keep: {newest: 0}
  - repositories: [reg.example.com/b]
    keep: {tags: [latest]}
  - repositories: [reg.example.com/c]
    keep: {newset: 2}
  - repositories: [reg.example.com/d]
    delete: {older_than: 30x}
`
	_, err := Parse("p.yaml", []byte(y))
	if err == nil {
		t.Fatal("accepted")
	}
	want := []string{
		`p.yaml:4:20: keep.newest "0": must be at least 1`,
		`p.yaml:8:12: keep.newset: unknown key`,
		`p.yaml:10:26: delete.older_than "30x": unknown unit "x"`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d:\n got %s\nwant %s…", i, lines[i], w)
		}
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("does not wrap ErrInvalid")
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Line != 4 {
		t.Errorf("errors.As: %+v", fe)
	}
	var l ErrorList
	if !errors.As(err, &l) || len(l) != 3 {
		t.Errorf("ErrorList: %v", l)
	}
}

// A syntax error still stops at once: nothing after it can be read.
func TestParseSyntaxErrorAlone(t *testing.T) {
	_, err := Parse("p.yaml", []byte("version: 1\nrules:\n  - repositories: [a\n"))
	var l ErrorList
	if err == nil || errors.As(err, &l) {
		t.Fatalf("error %v", err)
	}
}
