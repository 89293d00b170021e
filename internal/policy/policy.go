// Package policy decides which images of a repository to keep and which to
// delete, with a reason for each. It is pure: Evaluate reads no clock, no
// network and no file; the caller passes the time. Standard library,
// graph, and Masterminds/semver for the semver rules (rules_extra.go).
package policy

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"

	"github.com/regprune/regprune/internal/graph"
)

// Policy is one retention rule set for a repository. An image is deleted
// when it is a delete candidate and no keep rule holds it.
type Policy struct {
	Keep   Keep
	Delete Delete
	// AllowEmpty permits a plan that deletes every image of a repository.
	AllowEmpty bool
	// UntagUnkept opts in to removing, from a kept image, the tags that no
	// rule holds (the tag-centric behaviour of GitLab cleanup policies and
	// acr purge). Without it the image is the unit: a kept image keeps
	// every tag it has.
	UntagUnkept bool
	// DeleteOrphanArtifacts deletes signatures and referrers whose subject
	// is in no image of the repository; off, they are listed and kept.
	DeleteOrphanArtifacts bool
	// AgeFrom lists the age sources to try in order; nil means config
	// created, then label, then annotation.
	AgeFrom []graph.AgeSource
}

// Keep rules hold images. Zero values mean "rule absent".
type Keep struct {
	Tags      []string         // exact tag names
	Regex     []*regexp.Regexp // whole-tag matches (compile with CompileRegex)
	Newest    int              // the N newest images by age
	NewerThan time.Duration    // images younger than this
	Semver    *Semver          // newest releases per version line
	Group     *Group           // newest images per capture group
}

// Semver keeps the Newest highest versions of each version line: Per is
// "major" (N per major), "minor" (N per major.minor) or "" (N overall).
// Pre-releases are versions too, ranked by semver precedence
// (1.4.0-rc.1 < 1.4.0); tags that are not semver are ignored by the rule.
type Semver struct {
	Newest int
	Per    string
}

// Group keeps the Newest images of each value of the first capture group of
// Regex (whole-tag match), e.g. per branch.
type Group struct {
	Regex  *regexp.Regexp
	Newest int
}

// Delete filters select candidates. With no filter every image is a
// candidate, so that keep rules alone express "keep these, delete the rest".
type Delete struct {
	Regex     []*regexp.Regexp // every tag of the image must match one
	OlderThan time.Duration    // the image's known age must exceed this

	// ExpiredLabels makes an image whose expiry label has passed a
	// candidate, whatever the other filters say; without other filters,
	// only expired images are candidates (expiry.go).
	ExpiredLabels bool
	// ExpiryLabels are more label and annotation keys to read, after
	// DefaultExpiryLabel, with the same value format. Only with
	// ExpiredLabels.
	ExpiryLabels []string
}

// NeedsAges reports whether a rule of p ranks or filters images by build
// time. Only then are image configs worth reading: an index's or image's
// annotation is in its manifest, which is read anyway.
func (p *Policy) NeedsAges() bool {
	return p.Keep.Newest > 0 || p.Keep.NewerThan > 0 || p.Keep.Group != nil || p.Delete.OlderThan > 0 ||
		p.Delete.ExpiredLabels // labels are in the config, and expiry counts from the build time
}

// ErrEmptyPolicy is returned by Validate for a policy with no rule at all:
// an empty policy must never mean "delete everything".
var ErrEmptyPolicy = errors.New("no keep rule and no delete filter given: refusing to treat an empty policy as 'delete everything'")

// IsEmpty reports whether p has no rule at all.
func (p *Policy) IsEmpty() bool {
	k, d := p.Keep, p.Delete
	return len(k.Tags) == 0 && len(k.Regex) == 0 && k.Newest == 0 && k.NewerThan == 0 &&
		k.Semver == nil && k.Group == nil && len(d.Regex) == 0 && d.OlderThan == 0 && !d.ExpiredLabels
}

// Validate checks p's values; it names the offending one.
func (p *Policy) Validate() error {
	if p.IsEmpty() {
		return ErrEmptyPolicy
	}
	if p.Keep.Newest < 0 {
		return fmt.Errorf("keep newest: %d is negative", p.Keep.Newest)
	}
	if p.Keep.NewerThan < 0 || p.Delete.OlderThan < 0 {
		return errors.New("durations must not be negative")
	}
	if err := p.validateExpiry(); err != nil {
		return err
	}
	if s := p.Keep.Semver; s != nil {
		if s.Newest < 1 {
			return fmt.Errorf("keep semver newest: %d must be at least 1", s.Newest)
		}
		switch s.Per {
		case "", "major", "minor":
		default:
			return fmt.Errorf("keep semver per: %q is not major or minor", s.Per)
		}
	}
	if g := p.Keep.Group; g != nil {
		if g.Newest < 1 {
			return fmt.Errorf("keep group newest: %d must be at least 1", g.Newest)
		}
		if g.Regex == nil || g.Regex.NumSubexp() < 1 {
			return errors.New("keep group regex needs a capture group")
		}
	}
	return nil
}

// CompileRegex compiles an RE2 expression anchored to match a whole tag.
// The expression is parsed on its own first, so that "a)|(b" cannot close
// the anchoring group and match any tag starting with a.
func CompileRegex(expr string) (*regexp.Regexp, error) {
	if _, err := syntax.Parse(expr, syntax.Perl); err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, fmt.Errorf("regex %q: %s", expr, se.Code)
		}
		return nil, fmt.Errorf("regex %q: %v", expr, err)
	}
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// MaxDuration bounds ages so that absurd values are refused, not overflowed.
const MaxDuration = 100 * 365 * 24 * time.Hour

// ParseDuration parses a Go duration or a count of days or weeks ("36h",
// "30d", "2w", "1d12h"). Negative, zero and values over 100 years are errors.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, fmt.Errorf("duration %q is empty", s)
	}
	var total time.Duration
	rest := in
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') && rest[j] != '.' {
			j++
		}
		if i == 0 || j == i {
			return 0, fmt.Errorf("duration %q: want a number and a unit (s, m, h, d, w), as in 36h, 30d or 2w", s)
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		var per time.Duration
		switch unit {
		case "d":
			per = 24 * time.Hour
		case "w":
			per = 7 * 24 * time.Hour
		default:
			switch unit {
			case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
			default:
				return 0, fmt.Errorf("duration %q: unknown unit %q (want ns, us, ms, s, m, h, d or w)", s, unit)
			}
			d, err := time.ParseDuration(num + unit)
			if err != nil {
				if _, ferr := strconv.ParseFloat(num, 64); ferr != nil {
					return 0, fmt.Errorf("duration %q does not parse: bad number %q; want a number and a unit (s, m, h, d, w), as in 36h, 30d, 2w or 1d12h", s, num)
				}
				return 0, fmt.Errorf("duration %q is longer than 100 years", s)
			}
			if d > MaxDuration || total+d > MaxDuration {
				return 0, fmt.Errorf("duration %q is longer than 100 years", s)
			}
			total += d
			continue
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q does not parse: bad number %q; want a number and a unit (s, m, h, d, w), as in 36h, 30d, 2w or 1d12h", s, num)
		}
		if f*float64(per) > float64(MaxDuration) || total+time.Duration(f*float64(per)) > MaxDuration {
			return 0, fmt.Errorf("duration %q is longer than 100 years", s)
		}
		total += time.Duration(f * float64(per))
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	return total, nil
}

// FormatDuration renders d in the largest whole unit: 30d, 2w, 36h.
func FormatDuration(d time.Duration) string {
	day := 24 * time.Hour
	switch {
	case d%(7*day) == 0:
		return fmt.Sprintf("%dw", d/(7*day))
	case d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}
