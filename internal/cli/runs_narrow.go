package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/regprune/regprune/internal/journal"
)

// narrowEntries writes a run's entries in at most 100 columns: time of
// day, repository path, what was deleted, short digest, tags and result,
// each cut with "…" when longer; -o wide shows them in full, with the
// reasons.
func narrowEntries(w io.Writer, entries []journal.Entry) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tREPOSITORY\tDELETED\tDIGEST\tTAGS\tRESULT")
	hosts := map[string]bool{}
	for _, e := range entries {
		hosts[journal.RegistryOf(e.Repository)] = true
	}
	for _, e := range entries {
		repo := e.Repository
		if len(hosts) == 1 {
			repo = strings.TrimPrefix(repo, journal.RegistryOf(repo)+"/")
		}
		what := dashIfEmpty(e.ItemKind)
		if e.Kind == journal.KindTag {
			what = "tag " + e.Tag
		}
		res := e.Result
		if !e.Restored.IsZero() {
			res = "restored"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.TimeOnly), clip(repo, 26), clip(what, 14),
			shortDigest(e.Digest), clip(dashIfEmpty(strings.Join(e.Tags, ", ")), 14), clip(res, 9))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(hosts) == 1 {
		for h := range hosts {
			fmt.Fprintf(w, "\nrepositories on %s; -o wide shows every column in full, -o json everything\n", h)
		}
	}
	return nil
}

// clip cuts s to n characters, the last one "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// shortDigest is a digest as the plan tables print it: sha256: and 12 hex.
func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i > 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}
