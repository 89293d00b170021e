package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Pattern selects repositories by name ("host[:port]/path"). The registry
// host is literal (compared without regard to case, port included); the path
// is a list of segments where "*" matches exactly one segment, "**" matches
// zero or more segments, and a "*" inside a segment ("team-*") matches any
// run of characters within that one segment. Everything else is literal.
type Pattern struct {
	raw  string
	host string
	segs []string
}

var (
	hostRE    = regexp.MustCompile(`^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:[0-9]{1,5})?$`)
	segmentRE = regexp.MustCompile(`^[a-z0-9._*-]+$`)
)

// ParsePattern parses a repository pattern such as
// "registry.example.com/team/**" or "localhost:5000/app". The first segment
// must be a registry host: it contains a "." or a ":" or is "localhost"
// (the rule docker uses), and holds no wildcard.
func ParsePattern(s string) (Pattern, error) {
	if s == "" {
		return Pattern{}, fmt.Errorf("empty repository pattern")
	}
	if i := strings.Index(s, "://"); i >= 0 {
		return Pattern{}, fmt.Errorf("no scheme allowed: write %s, not %s", s[i+3:], s)
	}
	if _, rest, ok := userinfo(s); ok {
		return Pattern{}, fmt.Errorf("credentials in a repository pattern (user:password@host) are not supported, and were not used; write %s and give them through a credential source: REGPRUNE_USERNAME and REGPRUNE_PASSWORD, docker login (the Docker config) or a credential helper", rest)
	}
	host, path, ok := strings.Cut(s, "/")
	if strings.Contains(host, "*") {
		return Pattern{}, fmt.Errorf("the registry host %q must be literal; wildcards match path segments only", host)
	}
	if !hostRE.MatchString(host) || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return Pattern{}, fmt.Errorf("%q is not a registry host: a pattern starts with the registry, e.g. registry.example.com/%s", host, s)
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		if n, err := strconv.Atoi(host[i+1:]); err != nil || n < 1 || n > 65535 {
			return Pattern{}, fmt.Errorf("port %q: want a number from 1 to 65535", host[i+1:])
		}
	}
	if !ok || path == "" {
		return Pattern{}, fmt.Errorf("no repository path after the registry host; write %s/** for every repository of %s", host, host)
	}
	segs := strings.Split(path, "/")
	for _, seg := range segs {
		switch {
		case seg == "":
			return Pattern{}, fmt.Errorf("empty path segment (a doubled or trailing \"/\")")
		case seg == "." || seg == "..":
			return Pattern{}, fmt.Errorf("path segment %q refused; name repositories without . or .. segments", seg)
		case seg == "**":
		case strings.Contains(seg, "**"):
			return Pattern{}, fmt.Errorf("segment %q: \"**\" must be a whole path segment", seg)
		case strings.ToLower(seg) != seg && segmentRE.MatchString(strings.ToLower(seg)):
			return Pattern{}, fmt.Errorf("segment %q: repository names are lowercase", seg)
		case !segmentRE.MatchString(seg):
			return Pattern{}, fmt.Errorf("segment %q: want lowercase letters, digits, '.', '_', '-' and the wildcard '*'", seg)
		}
	}
	host = strings.ToLower(host)
	return Pattern{raw: host + "/" + path, host: host, segs: segs}, nil
}

// MustParsePattern is ParsePattern for patterns known to be valid; it panics
// on an error.
func MustParsePattern(s string) Pattern {
	p, err := ParsePattern(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String returns the pattern as written, its host lower-cased: for a
// literal pattern, the repository name.
func (p Pattern) String() string { return p.raw }

// Registry returns the registry host (with its port, if any), lower-cased.
func (p Pattern) Registry() string { return p.host }

// Literal reports whether p names exactly one repository.
func (p Pattern) Literal() bool { return p.raw != "" && !strings.Contains(p.raw, "*") }

// Match reports whether repo ("host[:port]/path") is selected by p.
func (p Pattern) Match(repo string) bool {
	if p.raw == "" {
		return false
	}
	host, path, ok := strings.Cut(repo, "/")
	if !ok || !strings.EqualFold(host, p.host) {
		return false
	}
	return matchSegments(p.segs, strings.Split(path, "/"))
}

// matchSegments matches glob segments against path segments, "**" standing
// for zero or more segments. It runs in O(len(pat) * len(segs)).
func matchSegments(pat, segs []string) bool {
	// ok[j] reports whether pat[:i] matches segs[:j] for the current i.
	ok := make([]bool, len(segs)+1)
	ok[0] = true
	for _, g := range pat {
		next := make([]bool, len(segs)+1)
		if g == "**" {
			any := false
			for j := range ok {
				any = any || ok[j]
				next[j] = any
			}
		} else {
			for j := 1; j <= len(segs); j++ {
				next[j] = ok[j-1] && matchSegment(g, segs[j-1])
			}
		}
		ok = next
	}
	return ok[len(segs)]
}

// matchSegment matches one segment against a glob in which '*' stands for
// any run of characters.
func matchSegment(glob, s string) bool {
	if !strings.Contains(glob, "*") {
		return glob == s
	}
	if s == "" {
		return false
	}
	parts := strings.Split(glob, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// userinfo splits "user:password@host/path" at its last "@" when a
// host/path follows it (an "@sha256:..." digest has no "/"): redacted is
// s with everything before the "@" replaced by "***", rest what follows.
func userinfo(s string) (redacted, rest string, ok bool) {
	at := strings.LastIndexByte(s, '@')
	if at < 0 || !strings.Contains(s[at+1:], "/") {
		return s, "", false
	}
	return "***@" + s[at+1:], s[at+1:], true
}
