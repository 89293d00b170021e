package plan_test

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
)

// Property test of Build over random repository graphs and random
// policies. Each case checks, against a reachability computed here from
// the graph alone (not from the plan's own parent/subject fields):
//
//   - nothing reachable from a kept image is deleted;
//   - every child and referrer of a deleted manifest is deleted, unless a
//     kept image reaches it, in which case it is reported as kept;
//   - nothing is deleted that no deleted image reaches;
//   - reclaimable bytes are the deleted manifests plus the blobs that only
//     deleted manifests reference;
//   - the plan lists every manifest once, counts images only, and carries
//     kind, parent and subject consistent with the graph.

// randomRepo builds a repository shaped like inventory's output: tagged
// images and indexes (nested, sharing children, some children tagged on
// their own), cosign tags, fallback-tag referrers (of images, children
// and other referrers), referrers-API-only artifacts, orphan artifact
// tags, and blobs shared between manifests.
func randomRepo(rng *rand.Rand) *graph.Repository {
	b := newBuilder()
	uniq := 0
	name := func(kind string) string { uniq++; return fmt.Sprintf("%s-%d-%d", kind, uniq, rng.Uint64()) }
	var shared []graph.Blob
	for range rng.IntN(4) {
		shared = append(shared, graph.Blob{Digest: dig(name("shared")), Size: 1 + rng.Int64N(5000)})
	}
	pick := func(from []graph.Blob) []graph.Blob {
		var out []graph.Blob
		for _, bl := range from {
			if rng.IntN(3) == 0 {
				out = append(out, bl)
			}
		}
		return out
	}
	created := func() time.Time {
		switch rng.IntN(6) {
		case 0:
			return time.Time{} // unknown
		case 1:
			return time.Unix(0, 0).UTC() // reproducible build
		}
		return day(rng.IntN(60))
	}
	var targets []string // images and indexes: children and subjects
	for range 1 + rng.IntN(8) {
		targets = append(targets, b.image(name("img"), created(), pick(shared)...))
	}
	for range rng.IntN(6) {
		n := 1 + rng.IntN(3)
		var children []string
		for _, i := range rng.Perm(len(targets))[:min(n, len(targets))] {
			children = append(children, targets[i])
		}
		mt := []string{ociIndex, dockerList}[rng.IntN(2)]
		var ann time.Time
		if rng.IntN(3) == 0 {
			ann = created()
		}
		targets = append(targets, b.index(name("idx"), mt, ann, children...))
	}
	tagPool := []string{"latest", "stable", "v1", "v2", "v3", "main", "dev", "1001", "1002", "1003", "1004"}
	isChild := map[string]bool{}
	for _, m := range b.r.Manifests {
		for _, c := range m.Children {
			isChild[c] = true
		}
	}
	for _, d := range targets {
		p := 2 // of 3
		if isChild[d] {
			p = 1
		}
		if rng.IntN(3) < p {
			for range 1 + rng.IntN(2) {
				b.tag(d, tagPool[rng.IntN(len(tagPool))])
			}
		}
	}
	subjects := slices.Clone(targets)
	signed := map[string]bool{}
	for range rng.IntN(5) {
		s, suffix := subjects[rng.IntN(len(subjects))], []string{"sig", "att", "sbom"}[rng.IntN(3)]
		if !signed[s+suffix] {
			signed[s+suffix] = true
			subjects = append(subjects, b.sign(s, suffix))
		}
	}
	for range rng.IntN(5) {
		subjects = append(subjects, b.refer(subjects[rng.IntN(len(subjects))], name("ref")))
	}
	for range rng.IntN(3) {
		// Found through a referrers API: no tag, listed under its subject.
		s := subjects[rng.IntN(len(subjects))]
		d := b.artifact(name("api"), s)
		b.r.AddReferrer(s, d)
	}
	if rng.IntN(4) == 0 {
		b.sign(dig(name("missing subject")), "sig") // orphan signature
	}
	prune(b.r)
	return b.r
}

// prune drops what inventory would never see: manifests that no tag
// reaches (through children and referrers).
func prune(r *graph.Repository) {
	var roots []string
	for _, d := range r.Tags {
		roots = append(roots, d)
	}
	seen := reach(r, roots)
	for d := range r.Manifests {
		if !seen[d] {
			delete(r.Manifests, d)
		}
	}
	for s, refs := range r.Referrers {
		var keep []string
		for _, d := range refs {
			if r.Manifests[d] != nil {
				keep = append(keep, d)
			}
		}
		if len(keep) == 0 {
			delete(r.Referrers, s)
		} else {
			r.Referrers[s] = keep
		}
	}
}

// reach is everything reachable from roots through children present in
// the repository and referrers (roots included).
func reach(r *graph.Repository, roots []string) map[string]bool {
	seen := map[string]bool{}
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if seen[d] {
			continue
		}
		seen[d] = true
		if m := r.Manifests[d]; m != nil {
			for _, c := range m.Children {
				if r.Manifests[c] != nil {
					queue = append(queue, c)
				}
			}
		}
		queue = append(queue, r.Referrers[d]...)
	}
	return seen
}

// randomDecisions returns decisions from policy.Evaluate with a random
// policy, or arbitrary decisions over the repository's images.
func randomDecisions(rng *rand.Rand, repo *graph.Repository) ([]policy.Decision, policy.Policy) {
	var p policy.Policy
	p.AllowEmpty = rng.IntN(3) == 0
	p.DeleteOrphanArtifacts = rng.IntN(2) == 0
	if rng.IntN(2) == 0 {
		var ds []policy.Decision
		for _, im := range repo.Images() {
			d := policy.Decision{Digest: im.Digest, Tags: im.Tags, Keep: rng.IntN(2) == 0, Reasons: []policy.Reason{{Rule: policy.RuleCandidate, Text: "random"}}}
			if d.Keep {
				for _, t := range im.Tags {
					if rng.IntN(3) == 0 {
						d.StaleTags = append(d.StaleTags, t)
					}
				}
			}
			ds = append(ds, d)
		}
		rng.Shuffle(len(ds), func(i, j int) { ds[i], ds[j] = ds[j], ds[i] })
		return ds, p
	}
	p.Keep.Newest = rng.IntN(4)
	for _, t := range []string{"latest", "stable", "v2", "main"} {
		if rng.IntN(3) == 0 {
			p.Keep.Tags = append(p.Keep.Tags, t)
		}
	}
	if rng.IntN(2) == 0 {
		p.Delete.OlderThan = time.Duration(rng.IntN(40)) * 24 * time.Hour
	}
	if rng.IntN(4) == 0 {
		p.Delete.Regex = append(p.Delete.Regex, regexpOf(`\d+|dev|v\d`))
	}
	return policy.Evaluate(repo, p, now), p
}

func regexpOf(s string) *regexp.Regexp {
	re, err := policy.CompileRegex(s)
	if err != nil {
		panic(err)
	}
	return re
}

// checkInvariants reports every violated invariant of r = Build(repo, ds, p).
func checkInvariants(repo *graph.Repository, ds []policy.Decision, p policy.Policy, r plan.RepoPlan) []string {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }

	items := map[string]plan.Item{}
	for _, it := range r.Items {
		if _, dup := items[it.Digest]; dup {
			bad("%s listed twice", it.Digest)
		}
		items[it.Digest] = it
		if len(it.Reasons) == 0 {
			bad("%s has no reason", it.Digest)
		}
		if it.Action != plan.ActionKeep && it.Action != plan.ActionDelete {
			bad("%s: action %q", it.Digest, it.Action)
		}
	}
	for d := range repo.Manifests {
		if _, ok := items[d]; !ok {
			bad("manifest %s missing from the plan", d)
		}
	}
	for tag, d := range repo.Tags {
		if _, ok := items[d]; !ok {
			bad("tag %s -> %s missing from the plan", tag, d)
		}
	}

	var keptRoots, delRoots []string
	for _, d := range ds {
		if d.Keep {
			keptRoots = append(keptRoots, d.Digest)
		} else {
			delRoots = append(delRoots, d.Digest)
		}
	}
	kept := reach(repo, keptRoots)
	fromDeleted := reach(repo, delRoots)
	deleted := map[string]bool{}
	for _, it := range r.Items {
		if it.Action == plan.ActionDelete {
			deleted[it.Digest] = true
		}
	}

	// 1. Nothing reachable from a kept image is deleted.
	for d := range deleted {
		if kept[d] {
			bad("%s is reachable from a kept image but deleted", d)
		}
		if !fromDeleted[d] && !(p.DeleteOrphanArtifacts && items[d].Reasons[0].Code == plan.ReasonOrphanDeleted) {
			bad("%s is deleted but no deleted image reaches it, and it is no orphan deleted on request", d)
		}
	}
	// Untag never touches artifact tags or tags the item does not have.
	for _, it := range r.Items {
		for _, t := range it.Untag {
			if _, _, art := graph.ArtifactTag(t); art || !slices.Contains(it.Tags, t) {
				bad("%s: untags %s (tags %v)", it.Digest, t, it.Tags)
			}
		}
		if len(it.Untag) > 0 && it.Action != plan.ActionKeep {
			bad("%s: untag on a deleted item", it.Digest)
		}
	}

	if r.Refused {
		if p.AllowEmpty {
			bad("refused although AllowEmpty")
		}
		if len(deleted) > 0 {
			bad("refused plan deletes %d manifests", len(deleted))
		}
		for _, d := range ds {
			if d.Keep {
				bad("refused although %s is kept", d.Digest)
			}
		}
	} else {
		// 2. The delete closure is complete: every decided-delete image
		// and whatever it reaches goes, unless a kept image reaches it,
		// in which case the plan reports it kept.
		for d := range fromDeleted {
			if kept[d] {
				if it := items[d]; it.Action != plan.ActionKeep {
					bad("%s reachable from kept but %s", d, it.Action)
				}
				continue
			}
			if !deleted[d] {
				bad("%s: reached only from deleted images, but kept (%q)", d, items[d].Reasons)
			}
		}
		// Every referrer of a deleted manifest is deleted or reported kept.
		for d := range deleted {
			for _, ref := range repo.Referrers[d] {
				it, ok := items[ref]
				if !ok || (!deleted[ref] && !(it.Action == plan.ActionKeep && kept[ref])) {
					bad("referrer %s of deleted %s is neither deleted nor reported kept", ref, d)
				}
			}
		}
		if len(ds) > 0 && len(keptRoots) == 0 && !p.AllowEmpty {
			bad("plan deletes every image without AllowEmpty and was not refused")
		}
	}

	// 3. Kinds and relations of deleted items agree with the graph.
	decided := map[string]bool{}
	for _, d := range ds {
		decided[d.Digest] = true
	}
	for d := range deleted {
		it := items[d]
		switch it.Kind {
		case plan.KindImage:
			if !decided[d] {
				bad("%s: kind image but no decision", d)
			}
		case plan.KindChild:
			pm := repo.Manifests[it.Parent]
			if !deleted[it.Parent] || pm == nil || !slices.Contains(pm.Children, d) {
				bad("child %s: parent %q is not a deleted index listing it", d, it.Parent)
			}
		case plan.KindReferrer, plan.KindSignature:
			// An orphan deleted on request names its absent subject.
			orphan := repo.Manifests[it.Subject] == nil && it.Reasons[0].Code == plan.ReasonOrphanDeleted
			if !(deleted[it.Subject] || orphan) || !slices.Contains(repo.Referrers[it.Subject], d) {
				bad("%s %s: subject %q is not a deleted manifest it refers to", it.Kind, d, it.Subject)
			}
			sig := false
			for _, t := range it.Tags {
				if _, suffix, ok := graph.ArtifactTag(t); ok && suffix != "" {
					sig = true
				}
			}
			if sig != (it.Kind == plan.KindSignature) {
				bad("%s: kind %s with tags %v", d, it.Kind, it.Tags)
			}
		default:
			bad("%s: kind %q", d, it.Kind)
		}
		if decided[d] && it.Kind != plan.KindImage {
			bad("%s: an image reported as %s", d, it.Kind)
		}
	}

	// Any parent is a deleted index that lists the item.
	for d := range deleted {
		if it := items[d]; it.Parent != "" {
			pm := repo.Manifests[it.Parent]
			if !deleted[it.Parent] || pm == nil || !slices.Contains(pm.Children, d) {
				bad("%s %s: parent %q is not a deleted index listing it", it.Kind, d, it.Parent)
			}
		}
	}
	// Order: apply deletes what has a subject first, deepest first, then
	// the rest by depth along parent and subject, shallowest first. Each
	// deleted index must come before every deleted manifest it lists.
	depth := func(d string) int {
		n := 0
		for p := d; p != "" && n < 64; n++ {
			it := items[p]
			switch {
			case it.Parent != "":
				p = it.Parent
			case it.Subject != "":
				p = it.Subject
			default:
				p = ""
			}
		}
		return n
	}
	for p := range deleted {
		for _, c := range repo.Manifests[p].Children {
			if !deleted[c] || items[c].Subject != "" || items[p].Subject != "" {
				continue
			}
			if depth(c) <= depth(p) {
				bad("deleted %s lists deleted %s, but apply would delete them in the same level or the child first (depths %d, %d)", p, c, depth(p), depth(c))
			}
		}
	}

	// 4. Bytes.
	if got, want := r.Summary.ReclaimableBytes, reclaimable(repo, r); got != want {
		bad("reclaimable %d, recomputed %d", got, want)
	}
	// 5. Counts: images are what non-artifact tags name.
	s := r.Summary
	if s.Images != len(repo.Images()) || s.Keep+s.Delete != s.Images || s.DeleteManifests != len(deleted) || s.Manifests != len(r.Items) {
		bad("summary %+v with %d images and %d deleted", s, len(repo.Images()), len(deleted))
	}
	for _, it := range r.Items {
		if it.Kind == plan.KindImage && !decided[it.Digest] {
			bad("%s counted as an image but no tag names it", it.Digest)
		}
	}
	return errs
}

func checkSeed(t *testing.T, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	repo := randomRepo(rng)
	ds, p := randomDecisions(rng, repo)
	r := plan.Build(repo, ds, p)
	if errs := checkInvariants(repo, ds, p, r); len(errs) > 0 {
		if len(errs) > 10 {
			errs = append(errs[:10], fmt.Sprintf("... and %d more", len(errs)-10))
		}
		t.Fatalf("seed %d: %d manifests, %d tags, policy %+v:\n  %s", seed, len(repo.Manifests), len(repo.Tags), p, strings.Join(errs, "\n  "))
	}
	// Totals add up across repositories.
	pl := plan.New(plan.ModePlan, now, []plan.RepoPlan{r, r})
	if pl.ReclaimableBytes != 2*r.Summary.ReclaimableBytes || pl.Summary.DeleteManifests != 2*r.Summary.DeleteManifests {
		t.Fatalf("seed %d: totals %+v for repository %+v", seed, pl.Summary, r.Summary)
	}
}

func TestBuildProperties(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	for seed := range uint64(n) {
		checkSeed(t, seed)
	}
}

// FuzzBuild explores more graphs: go test -fuzz FuzzBuild ./internal/plan.
func FuzzBuild(f *testing.F) {
	for _, s := range []uint64{1, 42, 1 << 40} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed uint64) { checkSeed(t, seed) })
}

// Every plan Build writes loads back: Load's refusal of contradictions
// (a digest or a tag listed twice, a deletion whose parent or subject is
// kept) never refuses regprune's own plans.
func TestLoadAcceptsBuiltPlans(t *testing.T) {
	n := 600
	if testing.Short() {
		n = 100
	}
	deletes := 0
	for seed := range uint64(n) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		repo := randomRepo(rng)
		ds, p := randomDecisions(rng, repo)
		r := plan.Build(repo, ds, p)
		var b strings.Builder
		if err := plan.WriteJSON(&b, plan.New(plan.ModePlan, now, []plan.RepoPlan{r})); err != nil {
			t.Fatal(err)
		}
		if _, err := plan.Load(strings.NewReader(b.String()), "plan.json"); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		deletes += r.Summary.DeleteManifests
	}
	if deletes == 0 {
		t.Fatal("vacuous: no plan deletes anything")
	}
}
