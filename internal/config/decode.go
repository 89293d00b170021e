package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Valid keys, in the order the documentation lists them.
var (
	fileKeys   = []string{"version", "registries", "rules", "strict", "in_use"}
	regKeys    = []string{"api", "api_url"}
	ruleKeys   = []string{"repositories", "keep", "delete", "allow_empty", "age_from", "untag_unkept", "delete_orphan_artifacts"}
	keepKeys   = []string{"tags", "regex", "newest", "newer_than", "semver", "group"}
	deleteKeys = []string{"regex", "older_than", "expired_labels", "expiry_labels"}
	semverKeys = []string{"newest", "per"}
	groupKeys  = []string{"regex", "newest"}
)

// Decode reads a policy file into its spec types, checking its structure
// (keys, types, the version) but not its values; Parse also validates and
// compiles each rule.
func Decode(name string, data []byte) (*File, error) {
	f, err := decode(name, data)
	if err != nil {
		return nil, err
	}
	if len(f.errs) > 0 {
		return nil, joinErrors(f.errs)
	}
	return f, nil
}

// decode is Decode, except that a rule that fails to decode is left out
// of the file and its error recorded in f.errs, so that Parse can report
// every rule's error at once. err is a problem of the whole file.
func decode(name string, data []byte) (*File, error) {
	d := &decoder{name: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &FieldError{Source: name, Line: 1, Col: 1, Problem: "empty policy file; it starts with \"version: 1\" and lists \"rules:\""}
		}
		return nil, d.syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, d.errAt(&extra, "", "", "a second YAML document; a policy file holds exactly one")
	} else if !errors.Is(err, io.EOF) {
		return nil, d.syntaxError(err)
	}
	if err := d.checkExpanded(&doc, MaxNodes); err != nil {
		return nil, err
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) != 1 {
			return nil, &FieldError{Source: name, Line: 1, Col: 1, Problem: "empty policy file; it starts with \"version: 1\" and lists \"rules:\""}
		}
		root = root.Content[0]
	}
	root = deref(root)
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, d.errAt(root, "", "", "empty policy file; it starts with \"version: 1\" and lists \"rules:\"")
	}
	m, err := d.mapping(root, "", "the policy file", fileKeys)
	if err != nil {
		return nil, err
	}
	f := &File{}
	vn := m.value("version")
	if vn == nil {
		return nil, d.errAt(root, "version", "", "missing; a policy file starts with \"version: 1\"")
	}
	v, err := d.integer(vn, "version")
	if err != nil {
		return nil, err
	}
	if v != 1 {
		return nil, d.errAt(vn, "version", vn.Value, "unsupported version; this regprune reads version 1")
	}
	f.Version = v
	if n := m.value("in_use"); n != nil {
		if f.InUse, err = d.inUse(n); err != nil {
			return nil, err
		}
	}
	if sn := m.value("strict"); sn != nil {
		if f.Strict, err = d.boolean(sn, "strict"); err != nil {
			return nil, err
		}
	}
	if gn := m.value("registries"); gn != nil {
		if f.Registries, err = d.registries(gn); err != nil {
			return nil, err
		}
	}
	rn := m.value("rules")
	if rn == nil {
		return nil, d.errAt(root, "rules", "", "missing; list at least one rule")
	}
	items, err := d.sequence(rn, "rules", "a list of rules")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, d.errAt(rn, "rules", "", "empty; list at least one rule")
	}
	for _, item := range items {
		spec, errs := d.rule(item)
		if len(errs) > 0 {
			f.errs = append(f.errs, errs...)
			f.partial = append(f.partial, partialRule{spec, errs})
			continue
		}
		f.Rules = append(f.Rules, spec)
	}
	return f, nil
}

type decoder struct{ name string }

// MaxNodes bounds a policy file's YAML nodes with every alias counted as
// the whole block it names: a file of a few hundred kilobytes whose
// anchor of thousands of repositories is aliased in thousands of rules
// would otherwise expand to millions of values (seconds and gigabytes).
// Real policy files have a few hundred nodes.
const MaxNodes = 100_000

// checkExpanded counts the nodes of doc, an alias counting as the size of
// the node it names (each anchored node's size computed once), and fails
// at the node where the count passes max, before anything is expanded.
func (d *decoder) checkExpanded(doc *yaml.Node, max int) error {
	sizes := map[*yaml.Node]int{} // an anchored block's expanded size; -1 while it is counted
	var size func(n *yaml.Node) int
	size = func(n *yaml.Node) int {
		if s, ok := sizes[n]; ok {
			if s < 0 {
				return max + 1 // an alias inside the block it names
			}
			return s
		}
		sizes[n] = -1
		s := 1
		if n.Kind == yaml.AliasNode {
			s = 0
			if n.Alias != nil {
				s = size(n.Alias)
			}
		}
		for _, c := range n.Content {
			if s += size(c); s > max {
				s = max + 1
				break
			}
		}
		sizes[n] = s
		return s
	}
	total := 0
	var walk func(n *yaml.Node) *yaml.Node
	walk = func(n *yaml.Node) *yaml.Node {
		if n.Kind == yaml.AliasNode {
			if n.Alias != nil {
				total += size(n.Alias)
			}
			if total > max {
				return n
			}
			return nil
		}
		if total++; total > max {
			return n
		}
		for _, c := range n.Content {
			if at := walk(c); at != nil {
				return at
			}
		}
		return nil
	}
	if at := walk(doc); at != nil {
		return d.errAt(at, "", "", fmt.Sprintf("the policy file holds more than %d values once its aliases are expanded (an anchor repeated by many aliases); write shared blocks fewer times", max))
	}
	return nil
}

func (d *decoder) errAt(n *yaml.Node, field, value, problem string) *FieldError {
	return &FieldError{Source: d.name, Line: n.Line, Col: n.Column, Field: field, Value: value, Problem: problem}
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line ([0-9]+): )?(.*)$`)

// parserProblems are the problems yaml's parser (rather than its scanner)
// reports. It reports their line 0-based, and leaves the line out for
// line 0, so it needs one added.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found undefined tag handle":             true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// syntaxError turns a YAML parser error into a FieldError. The parser
// reports a line but no column, so the column is left out.
func (d *decoder) syntaxError(err error) error {
	msg := err.Error()
	e := &FieldError{Source: d.name, Problem: "YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1]) // 0 when absent
		e.Problem = "YAML: " + m[2]
		if parserProblems[m[2]] {
			e.Line++
		}
	}
	return e
}

// deref follows aliases (bounded, though the parser refuses cycles).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// describe names a node's type for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing (null)"
		case "!!int":
			return fmt.Sprintf("the integer %s", n.Value)
		case "!!bool":
			return fmt.Sprintf("the boolean %s", n.Value)
		case "!!float":
			return fmt.Sprintf("the number %s", n.Value)
		}
		return fmt.Sprintf("the string %q", n.Value)
	case yaml.AliasNode:
		return "an unresolved alias"
	}
	return "an unexpected YAML node"
}

type mapNode struct {
	keys   map[string]*yaml.Node
	values map[string]*yaml.Node
}

func (m mapNode) value(k string) *yaml.Node { return m.values[k] }

// mapping checks that n is a mapping (null counts as empty) with scalar,
// unique keys from valid, and returns its entries.
func (d *decoder) mapping(n *yaml.Node, field, what string, valid []string) (mapNode, error) {
	m := mapNode{keys: map[string]*yaml.Node{}, values: map[string]*yaml.Node{}}
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return m, nil
	}
	if n.Kind != yaml.MappingNode {
		return m, d.errAt(n, field, "", fmt.Sprintf("want %s (keys: %s), got %s", what, strings.Join(valid, ", "), describe(n)))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := deref(n.Content[i]), n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			return m, d.errAt(kn, field, "", fmt.Sprintf("a key must be a plain name, got %s", describe(kn)))
		}
		k := kn.Value
		if kn.ShortTag() == "!!merge" {
			return m, d.errAt(kn, join(field, k), "", "merge keys are not supported; use an alias for a whole block (keep: *standard)")
		}
		if first, dup := m.keys[k]; dup {
			return m, d.errAt(kn, join(field, k), "", fmt.Sprintf("duplicate key (first at line %d, column %d)", first.Line, first.Column))
		}
		if !contains(valid, k) {
			in := "in " + field
			switch {
			case field == "" && what == "a rule":
				in = "in a rule"
			case field == "":
				in = "at the top level"
			}
			return m, d.errAt(kn, join(field, k), "", fmt.Sprintf("unknown key; valid keys %s: %s", in, strings.Join(valid, ", ")))
		}
		m.keys[k], m.values[k] = kn, vn
	}
	return m, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sequence checks that n is a list (null counts as empty).
func (d *decoder) sequence(n *yaml.Node, field, what string) ([]*yaml.Node, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, d.errAt(n, field, "", fmt.Sprintf("want %s, got %s", what, describe(n)))
	}
	return n.Content, nil
}

// str reads a scalar as written: a tag "1.10" stays "1.10".
func (d *decoder) str(n *yaml.Node, field, what string) (string, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return "", d.errAt(n, field, "", fmt.Sprintf("want %s, got %s", what, describe(n)))
	}
	return n.Value, nil
}

func (d *decoder) integer(n *yaml.Node, field string) (int, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		return 0, d.errAt(n, field, "", fmt.Sprintf("want an integer, got %s", describe(n)))
	}
	var v int
	if err := n.Decode(&v); err != nil {
		return 0, d.errAt(n, field, n.Value, "not an integer this regprune can hold")
	}
	return v, nil
}

func (d *decoder) boolean(n *yaml.Node, field string) (bool, error) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		return false, d.errAt(n, field, "", fmt.Sprintf("want true or false, got %s", describe(n)))
	}
	var v bool
	if err := n.Decode(&v); err != nil {
		return false, d.errAt(n, field, n.Value, "want true or false")
	}
	return v, nil
}

// strings reads a list of strings, recording each item's position.
func (d *decoder) strings(n *yaml.Node, field, what string, spec *RuleSpec) ([]string, error) {
	items, err := d.sequence(n, field, "a list of "+what)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		s, err := d.str(item, field, what)
		if err != nil {
			return nil, err
		}
		spec.at(field+"#"+strconv.Itoa(i), deref(item))
		out = append(out, s)
	}
	return out, nil
}

func (s *RuleSpec) at(key string, n *yaml.Node) {
	if s.pos == nil {
		s.pos = map[string]position{}
	}
	s.pos[key] = position{n.Line, n.Column}
}

func (d *decoder) rule(n *yaml.Node) (RuleSpec, []*FieldError) {
	var spec RuleSpec
	var errs []*FieldError
	// bad records err and reports whether there was one: a rule's keys
	// are all read, so that one run reports each of their errors.
	bad := func(err error) bool {
		if err == nil {
			return false
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			fe = &FieldError{Source: d.name, Line: n.Line, Col: n.Column, Problem: err.Error()}
		}
		errs = append(errs, fe)
		return true
	}
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		bad(d.errAt(n, "rules", "", fmt.Sprintf("want a rule (a mapping with keys: %s), got %s", strings.Join(ruleKeys, ", "), describe(n))))
		return spec, errs
	}
	m, err := d.mappingAll(n, "", "a rule", ruleKeys, bad)
	if bad(err) {
		return spec, errs
	}
	spec.at("", n)
	if vn := m.value("repositories"); vn != nil {
		spec.at("repositories", deref(vn))
		var err error
		spec.Repositories, err = d.strings(vn, "repositories", "repository patterns", &spec)
		bad(err)
	}
	if vn := m.value("keep"); vn != nil {
		spec.at("keep", deref(vn))
		d.keep(vn, &spec, bad)
	}
	if vn := m.value("delete"); vn != nil {
		spec.at("delete", deref(vn))
		km, err := d.mappingAll(vn, "delete", "a mapping of delete filters", deleteKeys, bad)
		if !bad(err) {
			if x := km.value("regex"); x != nil {
				spec.at("delete.regex", deref(x))
				spec.Delete.Regex, err = d.strings(x, "delete.regex", "regular expressions", &spec)
				bad(err)
			}
			if x := km.value("older_than"); x != nil {
				spec.at("delete.older_than", deref(x))
				spec.Delete.OlderThan, err = d.str(x, "delete.older_than", "a duration such as 30d")
				bad(err)
			}
			bad(d.expiry(km, &spec))
		}
	}
	if vn := m.value("allow_empty"); vn != nil {
		spec.at("allow_empty", deref(vn))
		spec.AllowEmpty, err = d.boolean(vn, "allow_empty")
		bad(err)
	}
	if vn := m.value("untag_unkept"); vn != nil {
		spec.at("untag_unkept", deref(vn))
		spec.UntagUnkept, err = d.boolean(vn, "untag_unkept")
		bad(err)
	}
	if vn := m.value("delete_orphan_artifacts"); vn != nil {
		spec.at("delete_orphan_artifacts", deref(vn))
		spec.DeleteOrphanArtifacts, err = d.boolean(vn, "delete_orphan_artifacts")
		bad(err)
	}
	if vn := m.value("age_from"); vn != nil {
		spec.at("age_from", deref(vn))
		spec.AgeFrom, err = d.str(vn, "age_from", "created, label or annotation")
		bad(err)
	}
	return spec, errs
}

// mappingAll is mapping, except that an unknown or duplicate key is
// recorded with bad and skipped, so that the other keys are still read.
// err is a problem of the whole node (not a mapping).
func (d *decoder) mappingAll(n *yaml.Node, field, what string, valid []string, bad func(error) bool) (mapNode, error) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return d.mapping(n, field, what, valid)
	}
	m := mapNode{keys: map[string]*yaml.Node{}, values: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		one := &yaml.Node{Kind: yaml.MappingNode, Tag: n.Tag, Line: n.Line, Column: n.Column, Content: n.Content[i : i+2]}
		km, err := d.mapping(one, field, what, valid)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) && fe.Line == deref(n.Content[i]).Line && fe.Col == deref(n.Content[i]).Column {
				bad(err) // a bad key: skip it
				continue
			}
			return m, err
		}
		for k, kn := range km.keys {
			if first, dup := m.keys[k]; dup {
				bad(d.errAt(kn, join(field, k), "", fmt.Sprintf("duplicate key (first at line %d, column %d)", first.Line, first.Column)))
				continue
			}
			m.keys[k], m.values[k] = kn, km.values[k]
		}
	}
	return m, nil
}

func (d *decoder) keep(n *yaml.Node, spec *RuleSpec, bad func(error) bool) {
	km, err := d.mappingAll(n, "keep", "a mapping of keep rules", keepKeys, bad)
	if bad(err) {
		return
	}
	k := &spec.Keep
	if x := km.value("tags"); x != nil {
		spec.at("keep.tags", deref(x))
		k.Tags, err = d.strings(x, "keep.tags", "tag names", spec)
		bad(err)
	}
	if x := km.value("regex"); x != nil {
		spec.at("keep.regex", deref(x))
		k.Regex, err = d.strings(x, "keep.regex", "regular expressions", spec)
		bad(err)
	}
	if x := km.value("newest"); x != nil {
		spec.at("keep.newest", deref(x))
		if v, err := d.integer(x, "keep.newest"); !bad(err) {
			k.Newest = &v
		}
	}
	if x := km.value("newer_than"); x != nil {
		spec.at("keep.newer_than", deref(x))
		k.NewerThan, err = d.str(x, "keep.newer_than", "a duration such as 14d")
		bad(err)
	}
	if x := km.value("semver"); x != nil {
		spec.at("keep.semver", deref(x))
		if sm, err := d.mappingAll(x, "keep.semver", "a mapping", semverKeys, bad); !bad(err) {
			k.Semver = &SemverSpec{}
			if y := sm.value("newest"); y != nil {
				spec.at("keep.semver.newest", deref(y))
				k.Semver.Newest, err = d.integer(y, "keep.semver.newest")
				bad(err)
			}
			if y := sm.value("per"); y != nil {
				spec.at("keep.semver.per", deref(y))
				k.Semver.Per, err = d.str(y, "keep.semver.per", "major or minor")
				bad(err)
			}
		}
	}
	if x := km.value("group"); x != nil {
		spec.at("keep.group", deref(x))
		if gm, err := d.mappingAll(x, "keep.group", "a mapping", groupKeys, bad); !bad(err) {
			k.Group = &GroupSpec{}
			if y := gm.value("regex"); y != nil {
				spec.at("keep.group.regex", deref(y))
				k.Group.Regex, err = d.str(y, "keep.group.regex", "a regular expression with a capture group")
				bad(err)
			}
			if y := gm.value("newest"); y != nil {
				spec.at("keep.group.newest", deref(y))
				k.Group.Newest, err = d.integer(y, "keep.group.newest")
				bad(err)
			}
		}
	}
}

// expiry reads delete.expired_labels and delete.expiry_labels.
func (d *decoder) expiry(km mapNode, spec *RuleSpec) error {
	var err error
	if x := km.value("expired_labels"); x != nil {
		spec.at("delete.expired_labels", deref(x))
		if spec.Delete.ExpiredLabels, err = d.boolean(x, "delete.expired_labels"); err != nil {
			return err
		}
	}
	if x := km.value("expiry_labels"); x != nil {
		spec.at("delete.expiry_labels", deref(x))
		if spec.Delete.ExpiryLabels, err = d.strings(x, "delete.expiry_labels", "label keys", spec); err != nil {
			return err
		}
	}
	return nil
}

// registries reads "registries: {HOST: {api: ..., api_url: ...}}".
func (d *decoder) registries(n *yaml.Node) (map[string]RegistrySpec, error) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errAt(n, "registries", "", "want a map of registry hosts to {api, api_url}, got "+describe(n))
	}
	out := map[string]RegistrySpec{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := deref(n.Content[i]), n.Content[i+1]
		host := kn.Value
		field := "registries." + host
		if kn.Kind != yaml.ScalarNode || !hostRE.MatchString(host) || !(strings.ContainsAny(host, ".:") || host == "localhost") {
			return nil, d.errAt(kn, "registries", host, "not a registry host (host[:port], e.g. ghcr.io)")
		}
		if _, dup := out[host]; dup {
			return nil, d.errAt(kn, field, "", "duplicate registry")
		}
		m, err := d.mapping(vn, field, "a registry's settings", regKeys)
		if err != nil {
			return nil, err
		}
		var spec RegistrySpec
		if an := m.value("api"); an != nil {
			if spec.API, err = d.str(an, field+".api", "an API name"); err != nil {
				return nil, err
			}
			if !contains(APIs, spec.API) {
				return nil, d.errAt(an, field+".api", spec.API, "want one of "+strings.Join(APIs, ", "))
			}
		}
		if un := m.value("api_url"); un != nil {
			if spec.APIURL, err = d.str(un, field+".api_url", "a URL"); err != nil {
				return nil, err
			}
			if problem := CheckAPIURL(spec.APIURL); problem != "" {
				return nil, d.errAt(un, field+".api_url", spec.APIURL, problem)
			}
		}
		out[host] = spec
	}
	return out, nil
}
