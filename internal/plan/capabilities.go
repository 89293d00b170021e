package plan

import (
	"sort"
	"strings"
)

// Capability states.
const (
	CapWorks   = "works"
	CapRefused = "refused"
	CapUnknown = "unknown"

	ReferrersAPI      = "api"
	ReferrersFallback = "fallback-tags"
)

// Capabilities is what a registry showed it can do: whether it deletes a
// tag alone (distribution 2.x and Harbor do not: regprune then deletes by
// digest), whether it has the OCI referrers API or regprune read the
// sha256-<hex> fallback tags, and whether it refuses deletes altogether.
// Empty fields were not tried.
type Capabilities struct {
	TagDelete string `json:"tag_delete,omitempty"` // works, refused, unknown
	Referrers string `json:"referrers,omitempty"`  // api, fallback-tags
	Deletes   string `json:"deletes,omitempty"`    // works, refused
	// DigestDeleteRemovesTags: whether a DELETE by digest took the
	// digest's tags with it, as read back after the deletes (false:
	// go-containerregistry's registry, where regprune then deletes the
	// tags left one by one); nil: not seen.
	DigestDeleteRemovesTags *bool `json:"digest_delete_removes_tags,omitempty"`
	// API is the vendor API regprune used beside v2 (github, dockerhub,
	// gitlab; empty for v2 alone), APIURL where, and APIUsedFor what it
	// did: "listing", "deletes", "tag deletes", "discovery".
	API        string   `json:"api,omitempty"`
	APIURL     string   `json:"api_url,omitempty"`
	APIUsedFor []string `json:"api_used_for,omitempty"`
	// Notes say what an answer means and what to do about it, once.
	Notes []string `json:"notes,omitempty"`
}

// Registry is the capabilities of one registry host, merged over its
// repositories.
type Registry struct {
	Host string `json:"host"`
	Capabilities
}

// merge folds c into r: a definite answer wins over unknown, and a refusal
// anywhere is reported.
func (r *Capabilities) merge(c *Capabilities) {
	pick := func(cur, next string) string {
		switch {
		case cur == "" || cur == CapUnknown:
			return next
		case next == CapRefused:
			return next
		}
		return cur
	}
	r.TagDelete = pick(r.TagDelete, c.TagDelete)
	r.Deletes = pick(r.Deletes, c.Deletes)
	if c.DigestDeleteRemovesTags != nil && (r.DigestDeleteRemovesTags == nil || !*c.DigestDeleteRemovesTags) {
		v := *c.DigestDeleteRemovesTags
		r.DigestDeleteRemovesTags = &v
	}
	if r.Referrers == "" || c.Referrers == ReferrersAPI {
		if c.Referrers != "" {
			r.Referrers = c.Referrers
		}
	}
	if r.API == "" {
		r.API, r.APIURL = c.API, c.APIURL
	}
	for _, u := range c.APIUsedFor {
		if !contains(r.APIUsedFor, u) {
			r.APIUsedFor = append(r.APIUsedFor, u)
		}
	}
	for _, n := range c.Notes {
		if !contains(r.Notes, n) {
			r.Notes = append(r.Notes, n)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// hostOf is the registry host of a repository name "host[:port]/path".
func hostOf(repo string) string {
	h, _, _ := strings.Cut(repo, "/")
	return h
}

// registries merges the capabilities of p's repositories per host.
func registries(repos []RepoPlan) []Registry {
	by := map[string]*Registry{}
	for i := range repos {
		c := repos[i].Capabilities
		if c == nil {
			continue
		}
		h := hostOf(repos[i].Name)
		r := by[h]
		if r == nil {
			r = &Registry{Host: h}
			by[h] = r
		}
		r.merge(c)
	}
	out := make([]Registry, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}
