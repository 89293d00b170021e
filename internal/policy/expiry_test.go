package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/graph"
)

const (
	ociIndex    = "application/vnd.oci.image.index.v1+json"
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
)

// labelled sets the config labels of digest in r.
func labelled(r *graph.Repository, digest string, kv ...string) {
	m := r.Manifests[digest]
	m.Labels = map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m.Labels[kv[i]] = kv[i+1]
	}
}

// index adds an index tagged tags, built age days ago (its own annotation
// time unknown: it takes its newest child's), listing children.
func index(r *graph.Repository, digest string, annotations map[string]string, children []string, tags ...string) {
	r.Manifests[digest] = &graph.Manifest{Digest: digest, MediaType: ociIndex, Children: children, Annotations: annotations}
	for _, t := range tags {
		r.Tags[t] = digest
	}
}

// child adds an untagged platform image built age days ago.
func child(r *graph.Repository, digest string, age int, kv ...string) {
	r.Manifests[digest] = &graph.Manifest{Digest: digest, MediaType: ociManifest, CreatedConfig: daysAgo(age)}
	if len(kv) > 0 {
		labelled(r, digest, kv...)
	}
}

func expireByLabel(keys ...string) Policy {
	return Policy{Delete: Delete{ExpiredLabels: true, ExpiryLabels: keys}}
}

// The expiry rule alone: expired images are deleted, everything else is
// kept, each with the rule's words; a value that does not parse and an
// unknown build time never expire.
func TestExpiredLabels(t *testing.T) {
	r := mkRepo(
		im{"sha256:expired", 10, []string{"pr-1"}},
		im{"sha256:fresh", 2, []string{"pr-2"}},
		im{"sha256:nolabel", 400, []string{"release"}},
		im{"sha256:never", 30, []string{"pr-3"}},
		im{"sha256:weeks", 30, []string{"pr-4"}},
		im{"sha256:date", 30, []string{"pr-5"}},
		im{"sha256:repro", unknown, []string{"pr-6"}},
		im{"sha256:annotated", 3, []string{"pr-7"}},
		im{"sha256:custom", 3, []string{"pr-8"}},
		im{"sha256:edge", 7, []string{"pr-9"}},
	)
	labelled(r, "sha256:expired", DefaultExpiryLabel, "1w")
	labelled(r, "sha256:fresh", DefaultExpiryLabel, "1w")
	labelled(r, "sha256:never", DefaultExpiryLabel, "never")
	labelled(r, "sha256:weeks", DefaultExpiryLabel, "2 weeks")
	labelled(r, "sha256:date", DefaultExpiryLabel, "2024-05-01T00:00:00Z")
	labelled(r, "sha256:repro", DefaultExpiryLabel, "1s")
	r.Manifests["sha256:annotated"].Annotations = map[string]string{DefaultExpiryLabel: "48h"}
	labelled(r, "sha256:custom", "com.example.ttl", "1d")
	labelled(r, "sha256:edge", DefaultExpiryLabel, "7d") // expires exactly now

	p := expireByLabel("com.example.ttl")
	ds := Evaluate(r, p, now)
	check(t, ds, map[string]want{
		"sha256:expired":   del("delete: its label quay.expires-after=1w expired 3d ago (created 2024-05-22T12:00:00Z from config); no keep rule holds it"),
		"sha256:fresh":     keep("kept: not a delete candidate: its label quay.expires-after=1w expires in 5d"),
		"sha256:nolabel":   keep("kept: not a delete candidate: no expiry label (quay.expires-after, com.example.ttl)"),
		"sha256:never":     keep(`its label quay.expires-after="never" does not parse, so it does not expire`),
		"sha256:weeks":     keep(`quay.expires-after="2 weeks" does not parse`),
		"sha256:date":      keep(`quay.expires-after="2024-05-01T00:00:00Z" does not parse`),
		"sha256:repro":     keep("its label quay.expires-after=1s, but its build time is unknown, so it never expires"),
		"sha256:annotated": del("delete: its annotation quay.expires-after=48h expired 1d ago"),
		"sha256:custom":    del("delete: its label com.example.ttl=1d expired 2d ago"),
		"sha256:edge":      del("expired 0s ago"),
	})
	for _, d := range ds {
		if !d.Keep && d.Reasons[0].Rule != RuleExpired {
			t.Errorf("%s: rule %s, want %s", d.Digest, d.Reasons[0].Rule, RuleExpired)
		}
	}

	// Without the extra key, com.example.ttl is not read.
	for _, d := range Evaluate(r, expireByLabel(), now) {
		if d.Digest == "sha256:custom" && !d.Keep {
			t.Errorf("custom key read without --expiry-label: %q", d.Reasons)
		}
	}

	// Each value that does not parse is a warning naming the image.
	ws := Warnings(r, p)
	for _, d := range []string{"sha256:never", "sha256:weeks", "sha256:date"} {
		if !slices.ContainsFunc(ws, func(w string) bool {
			return strings.Contains(w, "image "+d+" (tag pr-") && strings.Contains(w, "does not parse") && strings.Contains(w, "does not expire")
		}) {
			t.Errorf("no warning names %s: %q", d, ws)
		}
	}
	if len(ws) != 3 {
		t.Errorf("warnings %q, want 3", ws)
	}
}

// Keep rules still hold an expired image, and the reason says both; a
// label that has not expired does not protect an image from the other
// rules.
func TestExpiredLabelsAndOtherRules(t *testing.T) {
	r := mkRepo(
		im{"sha256:latest", 10, []string{"latest", "1005"}},
		im{"sha256:release", 10, []string{"v1.0.0"}},
		im{"sha256:old", 40, []string{"1001"}},
		im{"sha256:young", 5, []string{"1004"}},
	)
	for _, d := range []string{"sha256:latest", "sha256:release", "sha256:young"} {
		labelled(r, d, DefaultExpiryLabel, "3d")
	}
	labelled(r, "sha256:old", DefaultExpiryLabel, "10w") // not expired, but older than 30d

	p := expireByLabel()
	p.Keep.Tags = []string{"latest"}
	p.Keep.Regex = rx(t, `v[0-9.]+`)
	p.Delete.OlderThan = 30 * 24 * time.Hour
	check(t, Evaluate(r, p, now), map[string]want{
		"sha256:latest":  keep("kept: tag latest (its label expired 7d ago)"),
		"sha256:release": keep("kept: tag v1.0.0 matches keep regex v[0-9.]+ (its label expired 7d ago)"),
		"sha256:old":     del("delete: older than 30d (created 2024-04-22T12:00:00Z from config); no keep rule holds it"),
		"sha256:young":   del("delete: its label quay.expires-after=3d expired 2d ago"),
	})

	// With a delete regex, an image it does not select stays unless it
	// has expired.
	r2 := mkRepo(im{"sha256:a", 10, []string{"main-1"}}, im{"sha256:b", 10, []string{"pr-1"}}, im{"sha256:c", 10, []string{"main-2"}})
	labelled(r2, "sha256:c", DefaultExpiryLabel, "1d")
	p2 := expireByLabel()
	p2.Delete.Regex = rx(t, `pr-.*`)
	check(t, Evaluate(r2, p2, now), map[string]want{
		"sha256:a": keep("kept: not a delete candidate: tag main-1 matches no delete regex; no expiry label"),
		"sha256:b": del("delete: every tag matches a delete regex; no keep rule holds it"),
		"sha256:c": del("delete: its label quay.expires-after=1d expired 9d ago"),
	})
}

// An index: its own annotation first, else its children's labels, which
// must all agree (an attestation manifest has none and does not count).
func TestExpiredLabelsIndex(t *testing.T) {
	r := graph.NewRepository("registry.example.com/team/app")
	// The index annotation wins over the children's labels.
	child(r, "sha256:a1", 10, DefaultExpiryLabel, "30d")
	child(r, "sha256:a2", 10, DefaultExpiryLabel, "30d")
	index(r, "sha256:annotated", map[string]string{DefaultExpiryLabel: "1w"}, []string{"sha256:a1", "sha256:a2"}, "annotated")
	// No annotation: the children agree, and an attestation is ignored.
	child(r, "sha256:b1", 10, DefaultExpiryLabel, "1w")
	child(r, "sha256:b2", 9, DefaultExpiryLabel, "1w")
	child(r, "sha256:batt", 9)
	index(r, "sha256:agree", nil, []string{"sha256:b1", "sha256:b2", "sha256:batt"}, "agree")
	r.Manifests["sha256:agree"].Attestations = []string{"sha256:batt"}
	// The children disagree: no expiry, with a warning.
	child(r, "sha256:c1", 10, DefaultExpiryLabel, "1w")
	child(r, "sha256:c2", 10, DefaultExpiryLabel, "1d")
	index(r, "sha256:disagree", nil, []string{"sha256:c1", "sha256:c2"}, "disagree")
	// One child without the label disagrees too.
	child(r, "sha256:d1", 10, DefaultExpiryLabel, "1w")
	child(r, "sha256:d2", 10)
	index(r, "sha256:partial", nil, []string{"sha256:d1", "sha256:d2"}, "partial")
	// No child has a label: no expiry, no warning.
	child(r, "sha256:e1", 10)
	index(r, "sha256:none", nil, []string{"sha256:e1"}, "none")

	p := expireByLabel()
	check(t, Evaluate(r, p, now), map[string]want{
		"sha256:annotated": del("delete: its index annotation quay.expires-after=1w expired 3d ago (created 2024-05-22T12:00:00Z from children)"),
		"sha256:agree":     del("delete: its children's label quay.expires-after=1w expired 2d ago (created 2024-05-23T12:00:00Z from children)"),
		"sha256:disagree":  keep("kept: not a delete candidate: its children's expiry labels disagree, so it does not expire"),
		"sha256:partial":   keep("kept: not a delete candidate: its children's expiry labels disagree"),
		"sha256:none":      keep("kept: not a delete candidate: no expiry label"),
	})
	ws := Warnings(r, p)
	want := []string{
		"image sha256:disagree (tag disagree) in registry.example.com/team/app: no expiry, its children disagree: sha256:c1 has quay.expires-after=1w, sha256:c2 has quay.expires-after=1d",
		"image sha256:partial (tag partial) in registry.example.com/team/app: no expiry, its children disagree: sha256:d1 has quay.expires-after=1w, sha256:d2 has none",
	}
	if !slices.Equal(ws, want) {
		t.Errorf("warnings:\n%q\nwant\n%q", ws, want)
	}
}

func TestParseExpiry(t *testing.T) {
	for v, want := range map[string]time.Duration{"30s": 30 * time.Second, "90m": 90 * time.Minute, "36h": 36 * time.Hour, "2d": 48 * time.Hour, "2w": 14 * 24 * time.Hour, "0d": 0} {
		if got, err := ParseExpiry(v); err != nil || got != want {
			t.Errorf("ParseExpiry(%q) = %v, %v; want %v", v, got, err, want)
		}
	}
	for _, v := range []string{"", "never", "2 weeks", "2024-05-01T00:00:00Z", "1d12h", "1.5d", "-1d", "2W", " 2w", "2w ", "1y", "99999999999999999999w", "5300w"} {
		if d, err := ParseExpiry(v); err == nil {
			t.Errorf("ParseExpiry(%q) = %v, want an error", v, d)
		}
	}
}

func TestExpiryPolicyValidate(t *testing.T) {
	p := Policy{Delete: Delete{ExpiryLabels: []string{"x"}}, Keep: Keep{Tags: []string{"latest"}}}
	if p.Validate() == nil {
		t.Error("expiry labels without expired_labels validate")
	}
	p = expireByLabel()
	if p.IsEmpty() || p.Validate() != nil || !p.NeedsAges() {
		t.Errorf("--expire-by-label alone: empty %v, validate %v, needs ages %v", p.IsEmpty(), p.Validate(), p.NeedsAges())
	}
	for _, k := range []string{"", "a b", "a\x00", strings.Repeat("k", MaxExpiryLabelLen+1), "\xff"} {
		if CheckExpiryLabel(k) == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	p = expireByLabel("a", DefaultExpiryLabel, "b", "a")
	if got := p.ExpiryKeys(); !slices.Equal(got, []string{DefaultExpiryLabel, "a", "b"}) {
		t.Errorf("keys %q", got)
	}
}
