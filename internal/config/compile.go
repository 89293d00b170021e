package config

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"

	"github.com/regprune/regprune/internal/digest"
	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/policy"
)

// ageSources maps age_from to the sources graph.Created tries. Each names a
// single source; an index without it falls back to its children's
// (graph.Created does that for every order).
var ageSources = map[string][]graph.AgeSource{
	"":           nil, // config created, then label, then annotation
	"created":    {graph.AgeFromConfig},
	"label":      {graph.AgeFromLabel},
	"annotation": {graph.AgeFromAnnotation},
}

type compiler struct {
	source string
	spec   *RuleSpec
	errs   []*FieldError // the problems found so far, in the order of the keys
}

// add records err, a *FieldError from fail, if there is one, and reports
// whether there was.
func (c *compiler) add(err error) bool {
	if err == nil {
		return false
	}
	c.errs = append(c.errs, err.(*FieldError))
	return true
}

// fail builds a FieldError at the position recorded for key (a field, or
// "field#index" for a list item), falling back to the field, then to the
// enclosing fields ("keep.group", "keep"), then to the rule.
func (c *compiler) fail(key, value, problem string) *FieldError {
	field, _, _ := strings.Cut(key, "#")
	e := &FieldError{Source: c.source, Field: field, Value: value, Problem: problem}
	for k := key; ; {
		if p, ok := c.spec.pos[k]; ok {
			e.Line, e.Col = p.line, p.col
			break
		}
		if k == "" {
			break
		}
		switch i := strings.LastIndexAny(k, ".#"); {
		case i >= 0:
			k = k[:i]
		default:
			k = ""
		}
	}
	return e
}

func (c *compiler) has(key string) bool {
	_, ok := c.spec.pos[key]
	return ok
}

// compile validates spec and builds its Rule; the error is the first
// problem, for a rule from flags (see compileAll).
func compile(source string, spec RuleSpec) (Rule, error) {
	r, errs := compileAll(source, spec)
	if len(errs) > 0 {
		return Rule{}, errs[0]
	}
	return r, nil
}

// compileAll validates spec and builds its Rule, or returns every problem
// of its values, in the order of the keys; the problems of the whole rule
// (it keeps nothing, its rules contradict) only when its values are good.
func compileAll(source string, spec RuleSpec) (Rule, []*FieldError) {
	c := &compiler{source: source, spec: &spec}
	r := Rule{Source: source}
	if p, ok := spec.pos[""]; ok {
		r.Source = fmt.Sprintf("%s:%d:%d", source, p.line, p.col)
	}
	r.Patterns = c.repositories()
	p := &r.Policy
	c.keep(p)
	c.deleteRules(p)
	c.add(c.expiry(p))

	p.AllowEmpty = spec.AllowEmpty
	p.UntagUnkept = spec.UntagUnkept
	p.DeleteOrphanArtifacts = spec.DeleteOrphanArtifacts
	src, ok := ageSources[spec.AgeFrom]
	if !ok {
		c.add(c.fail("age_from", spec.AgeFrom, "want created, label or annotation (or leave it out to try them in that order)"))
	}
	p.AgeFrom = src
	if len(c.errs) > 0 {
		return Rule{}, c.errs
	}

	if p.IsEmpty() {
		e := c.fail("", "", "rule keeps nothing and deletes nothing: "+policy.ErrEmptyPolicy.Error())
		e.Err = policy.ErrEmptyPolicy
		return Rule{}, []*FieldError{e}
	}
	if err := p.Validate(); err != nil {
		e := c.fail("", "", err.Error())
		e.Err = err
		return Rule{}, []*FieldError{e}
	}
	return r, nil
}

// repositories parses the rule's repository patterns.
func (c *compiler) repositories() []Pattern {
	spec := c.spec
	if len(spec.Repositories) == 0 {
		c.add(c.fail("repositories", "", "missing or empty; list the repository patterns this rule applies to, e.g. [registry.example.com/team/**]"))
	}
	var out []Pattern
	for i, s := range spec.Repositories {
		pat, err := ParsePattern(s)
		if err != nil {
			redacted, _, _ := userinfo(s) // never repeat a password
			c.add(c.fail("repositories#"+strconv.Itoa(i), redacted, err.Error()))
			continue
		}
		out = append(out, pat)
	}
	return out
}

// keep compiles the rule's keep section into p.Keep.
func (c *compiler) keep(p *policy.Policy) {
	k := c.spec.Keep
	for i, t := range k.Tags {
		if !digest.ValidTag(t) {
			problem := "not a valid tag name (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')"
			if strings.ContainsAny(t, "*?[]()|\\^$+") {
				problem += "; use keep.regex for patterns"
			}
			c.add(c.fail("keep.tags#"+strconv.Itoa(i), t, problem))
			continue
		}
		p.Keep.Tags = append(p.Keep.Tags, t)
	}
	var ferrs []*FieldError
	p.Keep.Regex, ferrs = c.regexesAll("keep.regex", k.Regex)
	c.errs = append(c.errs, ferrs...)
	if k.Newest != nil {
		if *k.Newest < 1 {
			c.add(c.fail("keep.newest", strconv.Itoa(*k.Newest), "must be at least 1 (leave the key out to keep no newest images)"))
		} else {
			p.Keep.Newest = *k.Newest
		}
	}
	if k.NewerThan != "" || c.has("keep.newer_than") {
		d, err := c.duration("keep.newer_than", k.NewerThan)
		if !c.add(err) {
			p.Keep.NewerThan = d
		}
	}
	if k.Semver != nil {
		p.Keep.Semver = c.semver(k.Semver)
	}
	if k.Group != nil {
		p.Keep.Group = c.group(k.Group)
	}
}

// semver compiles keep.semver; nil when it has a problem.
func (c *compiler) semver(s *SemverSpec) *policy.Semver {
	ok := true
	if s.Newest < 1 {
		ok = false
		if c.spec.pos != nil && !c.has("keep.semver.newest") {
			c.add(c.fail("keep.semver", "", "newest is missing; say how many versions of each line to keep, e.g. {newest: 2, per: minor}"))
		} else {
			c.add(c.fail("keep.semver.newest", strconv.Itoa(s.Newest), "must be at least 1"))
		}
	}
	switch s.Per {
	case "", "major", "minor":
	default:
		ok = false
		c.add(c.fail("keep.semver.per", s.Per, "want major or minor (or leave it out to rank all versions together)"))
	}
	if !ok {
		return nil
	}
	return &policy.Semver{Newest: s.Newest, Per: s.Per}
}

// group compiles keep.group; nil when it has a problem.
func (c *compiler) group(g *GroupSpec) *policy.Group {
	var re *regexp.Regexp
	if g.Regex == "" {
		c.add(c.fail("keep.group.regex", "", "missing or empty; give a regular expression whose first capture group names the group, e.g. (.+)-[0-9]+"))
	} else if x, err := c.regex("keep.group.regex", g.Regex); !c.add(err) {
		if x.NumSubexp() < 1 {
			c.add(c.fail("keep.group.regex", g.Regex, "has no capture group; its first capture names the group, e.g. (.+)-[0-9]+"))
		} else {
			re = x
		}
	}
	newestOK := g.Newest >= 1
	if !newestOK {
		if c.spec.pos != nil && !c.has("keep.group.newest") {
			c.add(c.fail("keep.group", "", "newest is missing; say how many images of each group to keep, e.g. {regex: '(.+)-[0-9]+', newest: 3}"))
		} else {
			c.add(c.fail("keep.group.newest", strconv.Itoa(g.Newest), "must be at least 1"))
		}
	}
	if re == nil || !newestOK {
		return nil
	}
	return &policy.Group{Regex: re, Newest: g.Newest}
}

// deleteRules compiles the rule's delete section's regex and older_than
// into p.Delete (its expiry keys: expiry).
func (c *compiler) deleteRules(p *policy.Policy) {
	d := c.spec.Delete
	var ferrs []*FieldError
	p.Delete.Regex, ferrs = c.regexesAll("delete.regex", d.Regex)
	c.errs = append(c.errs, ferrs...)
	if d.OlderThan != "" || c.has("delete.older_than") {
		v, err := c.duration("delete.older_than", d.OlderThan)
		if !c.add(err) {
			p.Delete.OlderThan = v
		}
	}
}

// regexesAll compiles exprs, with the problem of each one that fails.
func (c *compiler) regexesAll(field string, exprs []string) ([]*regexp.Regexp, []*FieldError) {
	var out []*regexp.Regexp
	var errs []*FieldError
	for i, expr := range exprs {
		re, err := c.regex(field+"#"+strconv.Itoa(i), expr)
		if err != nil {
			errs = append(errs, err.(*FieldError))
			continue
		}
		out = append(out, re)
	}
	return out, errs
}

// MaxRegexLen bounds a regular expression of a rule: every tag is matched
// against it, so its length is a cost per tag.
const MaxRegexLen = 1024

// regex checks expr on its own before policy.CompileRegex anchors it: a
// wrapped expression hides syntax errors behind the wrapper and lets an
// unbalanced ")" escape the anchors ("a)|(b" would match any tag starting
// with "a").
func (c *compiler) regex(key, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, c.fail(key, "", "empty regular expression")
	}
	if len(expr) > MaxRegexLen {
		return nil, c.fail(key, expr[:32]+"…", fmt.Sprintf("%d bytes long, more than the bound of %d bytes for a regular expression", len(expr), MaxRegexLen))
	}
	if _, err := syntax.Parse(expr, syntax.Perl); err != nil {
		problem := err.Error()
		if se, ok := err.(*syntax.Error); ok {
			problem = se.Code.String()
			if se.Expr != "" && se.Expr != expr {
				problem += ": " + se.Expr
			}
		}
		return nil, c.fail(key, expr, problem)
	}
	re, err := policy.CompileRegex(expr)
	if err != nil {
		return nil, c.fail(key, expr, "not a valid regular expression")
	}
	return re, nil
}

func (c *compiler) duration(key, s string) (time.Duration, error) {
	d, err := policy.ParseDuration(s)
	if err != nil {
		// ParseDuration's message repeats the value; keep what follows it.
		problem := err.Error()
		if q := fmt.Sprintf("duration %q", s); strings.HasPrefix(problem, q) {
			problem = strings.TrimLeft(strings.TrimPrefix(problem, q), ": ")
		}
		return 0, c.fail(key, s, problem)
	}
	return d, nil
}

// expiry checks delete.expired_labels and delete.expiry_labels.
func (c *compiler) expiry(p *policy.Policy) error {
	d := c.spec.Delete
	if len(d.ExpiryLabels) > 0 && !d.ExpiredLabels {
		return c.fail("delete.expiry_labels", "", "read only with expired_labels: true (--expire-by-label); add it, or leave the key out")
	}
	for i, k := range d.ExpiryLabels {
		if err := policy.CheckExpiryLabel(k); err != nil {
			problem := err.Error()
			if q := fmt.Sprintf("expiry label %q: ", k); strings.HasPrefix(problem, q) {
				problem = strings.TrimPrefix(problem, q)
			} else {
				problem = strings.TrimPrefix(problem, "expiry label: ")
			}
			return c.fail("delete.expiry_labels#"+strconv.Itoa(i), k, problem)
		}
	}
	p.Delete.ExpiredLabels, p.Delete.ExpiryLabels = d.ExpiredLabels, d.ExpiryLabels
	return nil
}
