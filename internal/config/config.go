// Package config reads regprune policy files and turns them, or the rule
// given by command-line flags, into policy.Policy values per repository.
//
// A policy file is YAML (see docs/policy.md):
//
//	version: 1
//	rules:
//	  - repositories: ["registry.example.com/team/**"]
//	    keep: {tags: [latest], newest: 5}
//	    delete: {older_than: 30d}
//
// Every error names the offending value and, for a file, where it is
// ("policy.yaml:7:14: ..."), and wraps ErrInvalid.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/regprune/regprune/internal/policy"
)

// ErrInvalid is wrapped by every parse and validation error.
var ErrInvalid = errors.New("invalid policy")

// File is a policy file as written, before validation. Its types mirror the
// YAML one to one; the CLI fills a RuleSpec from flags so that both go
// through the same validation (FromSpec).
type File struct {
	Version    int                     `yaml:"version"`
	Registries map[string]RegistrySpec `yaml:"registries,omitempty"`
	Rules      []RuleSpec              `yaml:"rules"`
	// InUse names the sources of images in use (inuse.go).
	InUse InUseSpec `yaml:"in_use,omitempty"`
	// Strict turns every warning of a run (a keep rule that holds nothing,
	// a pattern that matches no repository) into bad input, exit 2,
	// before anything is deleted: --strict.
	Strict bool `yaml:"strict,omitempty"`

	// errs are the errors of the rules decode left out, for Parse, and
	// partial those rules as far as they were read: Parse checks their
	// values too, so that one run reports every error.
	errs    []*FieldError
	partial []partialRule
}

// partialRule is a rule that did not decode whole, and its errors.
type partialRule struct {
	spec RuleSpec
	errs []*FieldError
}

// RuleSpec is one rule as written.
type RuleSpec struct {
	// Repositories are repository patterns (see ParsePattern).
	Repositories []string   `yaml:"repositories"`
	Keep         KeepSpec   `yaml:"keep,omitempty"`
	Delete       DeleteSpec `yaml:"delete,omitempty"`
	AllowEmpty   bool       `yaml:"allow_empty,omitempty"`
	// DeleteOrphanArtifacts deletes signatures and referrers whose subject
	// is in no image of the repository.
	DeleteOrphanArtifacts bool `yaml:"delete_orphan_artifacts,omitempty"`
	// AgeFrom is "", "created", "label" or "annotation".
	AgeFrom string `yaml:"age_from,omitempty"`
	// UntagUnkept opts in to removing tags no rule holds from kept images.
	UntagUnkept bool `yaml:"untag_unkept,omitempty"`

	// pos locates the rule ("") and its values ("keep.newest",
	// "keep.regex#1", ...) in a file; nil for a spec built from flags.
	pos map[string]position
}

// KeepSpec holds the keep rules as written.
type KeepSpec struct {
	Tags      []string    `yaml:"tags,omitempty"`
	Regex     []string    `yaml:"regex,omitempty"`
	Newest    *int        `yaml:"newest,omitempty"` // nil when absent; 0 is an error
	NewerThan string      `yaml:"newer_than,omitempty"`
	Semver    *SemverSpec `yaml:"semver,omitempty"`
	Group     *GroupSpec  `yaml:"group,omitempty"`
}

// DeleteSpec holds the delete filters as written.
type DeleteSpec struct {
	Regex     []string `yaml:"regex,omitempty"`
	OlderThan string   `yaml:"older_than,omitempty"`
	// ExpiredLabels deletes images whose expiry label has passed;
	// ExpiryLabels are more keys to read than quay.expires-after.
	ExpiredLabels bool     `yaml:"expired_labels,omitempty"`
	ExpiryLabels  []string `yaml:"expiry_labels,omitempty"`
}

// SemverSpec keeps the Newest highest versions per "major", "minor" or
// overall ("").
type SemverSpec struct {
	Newest int    `yaml:"newest"`
	Per    string `yaml:"per,omitempty"`
}

// GroupSpec keeps the Newest images of each value of Regex's first capture
// group.
type GroupSpec struct {
	Regex  string `yaml:"regex"`
	Newest int    `yaml:"newest"`
}

// RegistrySpec is the API of one registry host (registries: HOST:):
// API is one of APIs ("" for auto), APIURL its base URL.
type RegistrySpec struct {
	API    string `yaml:"api,omitempty"`
	APIURL string `yaml:"api_url,omitempty"`
}

// APIs are the values of registries.HOST.api (and --api).
var APIs = []string{"auto", "v2", "github", "dockerhub", "gitlab"}

// CheckAPIURL returns what is wrong with an api_url, "" if nothing: an
// absolute http or https URL with a host, and no credentials, query or
// fragment.
func CheckAPIURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "not a URL"
	case u.Scheme != "https" && u.Scheme != "http":
		return "want an http:// or https:// URL"
	case u.Host == "":
		return "no host"
	case u.User != nil:
		return "no credentials in the URL; regprune reads them from the environment or the docker config"
	case u.RawQuery != "" || u.Fragment != "":
		return "no query or fragment"
	}
	return ""
}

// Config is a validated policy: an ordered list of rules.
type Config struct {
	Source string // the file name, or "flags"
	Rules  []Rule
	// InUse names the sources of images in use, for the whole run.
	InUse InUseSpec
	// Strict: warnings are errors (the file's "strict: true").
	Strict bool
	// Registries sets the API per registry host.
	Registries map[string]RegistrySpec
}

// Rule is a validated rule: the repositories it applies to and its policy.
type Rule struct {
	Patterns []Pattern
	Policy   policy.Policy
	// Source locates the rule: "policy.yaml:4:5", or "flags".
	Source string
}

// Matches reports whether one of r's patterns selects repo.
func (r *Rule) Matches(repo string) bool {
	for _, p := range r.Patterns {
		if p.Match(repo) {
			return true
		}
	}
	return false
}

// RuleFor returns the first rule with a pattern that selects repo
// ("host[:port]/path"), and false when no rule applies.
func (c *Config) RuleFor(repo string) (*Rule, bool) {
	if c == nil {
		return nil, false
	}
	for i := range c.Rules {
		if c.Rules[i].Matches(repo) {
			return &c.Rules[i], true
		}
	}
	return nil, false
}

// Load reads and parses the policy file at path.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, &FieldError{Source: path, Problem: fmt.Sprintf("larger than %d MiB, the bound of a policy file", MaxFileSize>>20)}
	}
	return Parse(path, data)
}

// MaxFileSize bounds a policy file; real ones are a few kilobytes.
const MaxFileSize = 4 << 20

// Parse parses and validates a policy file; name is used in errors.
func Parse(name string, data []byte) (*Config, error) {
	f, err := decode(name, data)
	if err != nil {
		return nil, err
	}
	// Every rule is checked, so that one run reports all their errors.
	errs := f.errs
	c := &Config{Source: name, Rules: make([]Rule, 0, len(f.Rules)), InUse: f.InUse, Strict: f.Strict, Registries: f.Registries}
	for _, spec := range f.Rules {
		r, ferrs := compileAll(name, spec)
		if len(ferrs) > 0 {
			errs = append(errs, ferrs...)
			continue
		}
		c.Rules = append(c.Rules, r)
	}
	// The values of a rule that did not decode whole are checked too,
	// except where a decode error already is (and the whole rule: what
	// it keeps or deletes is not known).
	for _, pr := range f.partial {
		_, ferrs := compileAll(name, pr.spec)
		for _, e := range ferrs {
			if e.Field != "" && !underAny(e.Field, pr.errs) {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return c, nil
}

// FromSpec validates and compiles one rule that did not come from a file,
// such as the one the CLI builds from its flags; source names it in errors
// and in Rule.Source ("flags"). Errors are *FieldError values whose Field
// the caller can map to its flag names.
func FromSpec(source string, spec RuleSpec) (Rule, error) {
	spec.pos = nil
	return compile(source, spec)
}

// FieldError is an invalid value in a policy file or rule spec. It wraps
// ErrInvalid, and Err when set (policy.ErrEmptyPolicy for a rule that keeps
// nothing and deletes nothing).
//
// Field is the key path in YAML spelling, without the rule's index:
// "version", "rules", "repositories", "keep", "keep.tags", "keep.regex",
// "keep.newest", "keep.newer_than", "keep.semver", "keep.semver.newest",
// "keep.semver.per", "keep.group", "keep.group.regex", "keep.group.newest",
// "delete", "delete.regex", "delete.older_than", "delete.expired_labels",
// "delete.expiry_labels", "allow_empty",
// "delete_orphan_artifacts", "age_from", "untag_unkept";
// an unknown key's own path ("keep.newset"); "" for the whole rule or file.
type FieldError struct {
	Source    string // file name, or the source given to FromSpec
	Line, Col int    // 1-based position in Source; 0 when unknown
	Field     string
	Value     string // the offending value as written; "" when none
	Problem   string // what is wrong, e.g. "missing closing )"
	Err       error
}

// Error renders "SOURCE:LINE:COL: FIELD "VALUE": PROBLEM".
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
		if e.Col > 0 {
			b.WriteString(":" + strconv.Itoa(e.Col))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Named(e.Field))
	return b.String()
}

// Named renders the error without its source, with the field called name,
// e.g. e.Named("--keep-regex") is `--keep-regex "a(": missing closing )`.
func (e *FieldError) Named(name string) string {
	switch {
	case name == "":
		return e.Problem
	case e.Value == "":
		return name + ": " + e.Problem
	}
	return fmt.Sprintf("%s %q: %s", name, e.Value, e.Problem)
}

// Unwrap returns ErrInvalid and Err.
func (e *FieldError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}

type position struct{ line, col int }
