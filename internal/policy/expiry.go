package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/regprune/regprune/internal/graph"
)

// This file holds the expiry labels (Delete.ExpiredLabels): an image says
// itself when it may go, in a label of its config or an annotation of its
// manifest or index, as Quay's quay.expires-after does.

// DefaultExpiryLabel is Quay's expiry label, read whenever
// Delete.ExpiredLabels is on. Its value is <int><s|m|h|d|w>, counted from
// the image's build time.
const DefaultExpiryLabel = "quay.expires-after"

// MaxExpiryLabelLen bounds an expiry label key.
const MaxExpiryLabelLen = 256

// ExpiryKeys returns the label and annotation keys the expiry rule reads,
// in the order it tries them: DefaultExpiryLabel, then
// Delete.ExpiryLabels. nil when the rule is off.
func (p *Policy) ExpiryKeys() []string {
	if !p.Delete.ExpiredLabels {
		return nil
	}
	keys := []string{DefaultExpiryLabel}
	for _, k := range p.Delete.ExpiryLabels {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func (p *Policy) validateExpiry() error {
	if len(p.Delete.ExpiryLabels) > 0 && !p.Delete.ExpiredLabels {
		return errors.New("expiry labels are read only with expired_labels (--expire-by-label)")
	}
	for _, k := range p.Delete.ExpiryLabels {
		if err := CheckExpiryLabel(k); err != nil {
			return err
		}
	}
	return nil
}

// CheckExpiryLabel checks a label key: not empty, at most
// MaxExpiryLabelLen bytes, no spaces or control characters.
func CheckExpiryLabel(k string) error {
	switch {
	case k == "":
		return errors.New("expiry label: empty key")
	case len(k) > MaxExpiryLabelLen:
		return fmt.Errorf("expiry label: %d bytes long, more than the bound of %d", len(k), MaxExpiryLabelLen)
	case !utf8.ValidString(k) || strings.IndexFunc(k, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("expiry label %q: a key has no spaces or control characters", k)
	}
	return nil
}

var expiryValueRE = regexp.MustCompile(`^([0-9]+)([smhdw])$`)

// ParseExpiry parses an expiry label's value, Quay's format:
// <int><s|m|h|d|w>, as in 2w or 36h. Durations over 100 years are errors.
func ParseExpiry(v string) (time.Duration, error) {
	m := expiryValueRE.FindStringSubmatch(v)
	if m == nil {
		return 0, errors.New("want a whole number and one unit (s, m, h, d or w), as in 2w")
	}
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > int64(MaxDuration/unit) {
		return 0, errors.New("longer than 100 years")
	}
	return time.Duration(n) * unit, nil
}

type expiryKind int

const (
	expiryNone     expiryKind = iota // no key present
	expiryValid                      // a value that parses
	expiryBad                        // a value that does not parse
	expiryDisagree                   // an index whose children disagree
)

// expiry is what an image's labels say about its expiry.
type expiry struct {
	kind       expiryKind
	key, value string
	from       string // label, annotation, index annotation, children's label, children's annotation
	after      time.Duration
	problem    string // why a value does not parse, or how children disagree
}

func (e expiry) same(o expiry) bool {
	return e.kind == o.kind && e.key == o.key && e.value == o.value
}

func (e expiry) String() string {
	if e.kind == expiryNone {
		return "none"
	}
	return e.key + "=" + e.value
}

// expiryOf reads the expiry of the manifest digest: per key in order, the
// manifest's (or index's) annotation, then its config label; for an index
// without any, its children's, which must all agree.
func expiryOf(repo *graph.Repository, digest string, keys []string, depth int) expiry {
	m := repo.Manifests[digest]
	if m == nil || depth > 8 {
		return expiry{}
	}
	for _, k := range keys {
		if v, ok := m.Annotations[k]; ok {
			from := "annotation"
			if m.IsIndex() {
				from = "index annotation"
			}
			return parsedExpiry(k, v, from)
		}
		if v, ok := m.Labels[k]; ok {
			return parsedExpiry(k, v, "label")
		}
	}
	if !m.IsIndex() {
		return expiry{}
	}
	var first expiry
	var firstDigest string
	n := 0
	for _, c := range m.Children {
		cm := repo.Manifests[c]
		if cm == nil || cm.ArtifactType != "" || slices.Contains(m.Attestations, c) {
			continue // missing, or not a platform image
		}
		e := expiryOf(repo, c, keys, depth+1)
		if e.kind == expiryDisagree {
			return e
		}
		if n > 0 && !e.same(first) {
			return expiry{kind: expiryDisagree, problem: fmt.Sprintf("its children disagree: %s has %s, %s has %s",
				shortDigest(firstDigest), first, shortDigest(c), e)}
		}
		if n == 0 {
			first, firstDigest = e, c
		}
		n++
	}
	if n == 0 || first.kind == expiryNone {
		return expiry{}
	}
	first.from = "children's " + strings.TrimPrefix(first.from, "children's ")
	return first
}

func parsedExpiry(key, value, from string) expiry {
	d, err := ParseExpiry(value)
	if err != nil {
		return expiry{kind: expiryBad, key: key, value: value, from: from, problem: err.Error()}
	}
	return expiry{kind: expiryValid, key: key, value: value, from: from, after: d}
}

// expiryStatus is the verdict of the expiry rule on one image at now.
type expiryStatus struct {
	expired bool
	ago     time.Duration // how long ago it expired
	from    string
	why     string // the rule's words: why it expired, or why not
}

// expiries returns, by index into ds, the expiry status of each image;
// nil when the rule is off.
func expiries(repo *graph.Repository, ds []Decision, p Policy, now time.Time) []expiryStatus {
	keys := p.ExpiryKeys()
	if keys == nil {
		return nil
	}
	out := make([]expiryStatus, len(ds))
	for i, d := range ds {
		e := expiryOf(repo, d.Digest, keys, 0)
		s := &out[i]
		s.from = e.from
		switch e.kind {
		case expiryNone:
			s.why = "no expiry label (" + strings.Join(keys, ", ") + ")"
		case expiryBad:
			s.why = fmt.Sprintf("its %s %s=%q does not parse, so it does not expire", e.from, e.key, e.value)
		case expiryDisagree:
			s.why = "its children's expiry labels disagree, so it does not expire"
		default:
			label := fmt.Sprintf("its %s %s=%s", e.from, e.key, e.value)
			if d.AgeSource == graph.AgeUnknown {
				s.why = label + ", but its build time is unknown, so it never expires"
				break
			}
			at := d.Created.Add(e.after)
			if now.Before(at) {
				s.why = fmt.Sprintf("%s expires in %s (%s)", label, roughly(at.Sub(now)), describeAge(d))
				break
			}
			s.expired, s.ago = true, now.Sub(at)
			s.why = fmt.Sprintf("%s expired %s ago (%s)", label, roughly(s.ago), describeAge(d))
		}
	}
	return out
}

// candidate combines the expiry rule with the other delete filters, whose
// verdict is cand and why: an expired image is a candidate whatever they
// say; another is one only when there are other filters and they select
// it (a label that has not expired protects nothing from them).
func (s expiryStatus) candidate(cand bool, why string, f Delete) (bool, string) {
	others := len(f.Regex) > 0 || f.OlderThan > 0
	switch {
	case s.expired:
		return true, s.why
	case others && cand:
		return true, why
	case others:
		return false, why + "; " + s.why
	}
	return false, s.why
}

// mark records the expiry in d's first reason: the delete of an expired
// image has its own rule, and a kept expired image's reason says both
// ("kept: tag latest (its label expired 3d ago)").
func (s expiryStatus) mark(d *Decision) {
	if !s.expired || len(d.Reasons) == 0 {
		return
	}
	r := &d.Reasons[0]
	if !d.Keep {
		r.Rule = RuleExpired
		return
	}
	r.Text += fmt.Sprintf(" (its %s expired %s ago)", s.from, roughly(s.ago))
}

// expiryWarnings names the images whose expiry label does not parse or
// whose children disagree: those images do not expire.
func expiryWarnings(repo *graph.Repository, p Policy) []string {
	keys := p.ExpiryKeys()
	if keys == nil {
		return nil
	}
	var out []string
	for _, im := range repo.Images() {
		e := expiryOf(repo, im.Digest, keys, 0)
		tag := "tag "
		if len(im.Tags) > 1 {
			tag = "tags "
		}
		what := fmt.Sprintf("image %s (%s%s) in %s", im.Digest, tag, strings.Join(im.Tags, ", "), repo.Name)
		switch e.kind {
		case expiryBad:
			out = append(out, fmt.Sprintf("%s: %s %s=%q does not parse (%s); it does not expire", what, e.from, e.key, e.value, e.problem))
		case expiryDisagree:
			out = append(out, fmt.Sprintf("%s: no expiry, %s", what, e.problem))
		}
	}
	return out
}

// roughly renders d in its largest whole unit, rounded down: 3d, 5h, 12m, 40s.
func roughly(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
