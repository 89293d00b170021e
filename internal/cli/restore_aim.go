package cli

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/registry"
)

// shortDigestRE is a digest as the tables print it (sha256:21f3f89c5801),
// or any prefix of at least 6 hex digits, with or without the algorithm.
var shortDigestRE = regexp.MustCompile(`^(sha256:|sha512:)?[0-9a-f]{6,127}$`)

// aimRestore turns --digest (full, or a prefix unique in the runs) or
// --tag (a tag the runs deleted or took from a manifest) into the full
// digest to restore. It reads the journal only: no request is sent.
func aimRestore(ctx context.Context, j *journal.Journal, runs []string, repository, digest, tag string) (string, error) {
	switch {
	case digest != "" && tag != "":
		return "", usagef("--digest and --tag: give one of them")
	case digest == "" && tag == "":
		return "", nil
	case digest != "" && registry.ValidDigest(digest):
		return digest, nil
	case digest != "" && !shortDigestRE.MatchString(digest):
		return "", usagef("--digest %q: want sha256:<64 hex digits>, or its first 12 as the tables print it (sha256:21f3f89c5801)", digest)
	}
	var entries []journal.Entry
	for _, run := range runs {
		es, err := j.Entries(ctx, run, journal.Filter{Repository: repository})
		if err != nil {
			return "", err // never "" here: that would restore the whole run
		}
		entries = append(entries, es...)
	}
	run := runs[0]
	var found []string
	add := func(d string) {
		if !slices.Contains(found, d) {
			found = append(found, d)
		}
	}
	for _, e := range entries {
		switch {
		case digest != "":
			want := digest
			if !strings.Contains(want, ":") {
				want = "sha256:" + want
			}
			if strings.HasPrefix(e.Digest, want) {
				add(e.Digest)
			}
		case e.Tag == tag || slices.Contains(e.Tags, tag):
			add(e.Digest)
		}
	}
	what := "--digest " + digest
	if tag != "" {
		what = "--tag " + tag
	}
	in := "run " + strings.Join(runs, ", ")
	if repository != "" {
		in += " in " + repository
	}
	switch len(found) {
	case 0:
		if tag != "" {
			return "", usagef("%s: %s deleted no manifest with that tag (see regprune runs show %s)", what, in, run)
		}
		return "", usagef("%s: %s deleted no manifest whose digest starts so (see regprune runs show %s)", what, in, run)
	case 1:
		return found[0], nil
	}
	slices.Sort(found)
	if len(found) > 4 {
		found = append(found[:4], "…")
	}
	hint := "give more of the digest"
	if tag != "" {
		hint = "name the repository with --repository, or give --digest"
	}
	return "", usagef("%s names %d manifests of %s (%s): %s", what, len(found), in, strings.Join(found, ", "), hint)
}
