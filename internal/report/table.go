package report

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/regprune/regprune/internal/plan"
)

// Limits of the table, for people: the JSON keeps everything.
const (
	tableTags      = 3   // tags shown before "… (+N more)"
	tableReasonMax = 160 // characters of the REASON column
)

// tableRow is one line of a rendered plan: an item with its depth under the
// image it belongs to.
type tableRow struct {
	Item  *plan.Item
	Depth int
	// Frees is what deleting the item and everything nested under it frees.
	Frees int64
}

// orderRows orders r's items for people: images newest first (by tag when
// build times were not read), each followed by the children, signatures
// and referrers that belong to it, nested; manifests that belong to no
// image come last.
func orderRows(r *plan.RepoPlan) []tableRow {
	byDigest := map[string]int{}
	for i := range r.Items {
		if _, dup := byDigest[r.Items[i].Digest]; !dup {
			byDigest[r.Items[i].Digest] = i
		}
	}
	under := map[int][]int{}
	var tops []int
	for i := range r.Items {
		it := &r.Items[i]
		owner := it.Parent
		if owner == "" {
			owner = it.Subject
		}
		if j, ok := byDigest[owner]; ok && owner != "" && j != i && it.Kind != plan.KindImage {
			under[j] = append(under[j], i)
			continue
		}
		tops = append(tops, i)
	}
	sort.SliceStable(tops, func(a, b int) bool { return rowLess(&r.Items[tops[a]], &r.Items[tops[b]]) })
	var rows []tableRow
	seen := map[int]bool{}
	var walk func(i, depth int) int64
	walk = func(i, depth int) int64 {
		if seen[i] {
			return 0
		}
		seen[i] = true
		at := len(rows)
		rows = append(rows, tableRow{Item: &r.Items[i], Depth: depth})
		kids := under[i]
		sort.SliceStable(kids, func(a, b int) bool { return childLess(&r.Items[kids[a]], &r.Items[kids[b]]) })
		frees := r.Items[i].Frees
		for _, k := range kids {
			frees += walk(k, depth+1)
		}
		rows[at].Frees = frees
		return frees
	}
	for _, i := range tops {
		walk(i, 0)
	}
	// Anything left (a cycle the graph cannot have) still gets a line.
	for i := range r.Items {
		if !seen[i] {
			walk(i, 0)
		}
	}
	return rows
}

// rowLess puts images before other top-level manifests, then newer
// before older, then by tag (highest first, numbers compared as numbers),
// untagged last.
func rowLess(a, b *plan.Item) bool {
	if (a.Kind == plan.KindImage) != (b.Kind == plan.KindImage) {
		return a.Kind == plan.KindImage
	}
	switch {
	case a.Created != nil && b.Created != nil && !a.Created.Equal(*b.Created):
		return a.Created.After(*b.Created)
	case (a.Created != nil) != (b.Created != nil):
		return a.Created != nil
	}
	ta, tb := primaryTag(a), primaryTag(b)
	switch {
	case ta == "" || tb == "":
		if (ta == "") != (tb == "") {
			return tb == ""
		}
	case ta != tb:
		return tagLess(ta, tb)
	}
	return a.Digest < b.Digest
}

// tagLess orders tags so that builds group when ages are unknown: by
// family (the tag with each run of digits as "#": "#" for 52029,
// "multi-#" for multi-52031, "v#.#.#" for v1.2.3), families with numbers
// first, then the words (latest); within a family the highest first.
func tagLess(a, b string) bool {
	fa, fb := tagFamily(a), tagFamily(b)
	if fa != fb {
		na, nb := strings.Contains(fa, "#"), strings.Contains(fb, "#")
		if na != nb {
			return na
		}
		return fa < fb
	}
	return naturalLess(b, a)
}

func tagFamily(t string) string {
	var b strings.Builder
	for i := 0; i < len(t); {
		if n := digitRun(t[i:]); n > 0 {
			b.WriteByte('#')
			i += n
			continue
		}
		b.WriteByte(t[i])
		i++
	}
	return b.String()
}

func childLess(a, b *plan.Item) bool {
	rank := map[string]int{plan.KindImage: 0, plan.KindChild: 1, plan.KindReferrer: 2, plan.KindSignature: 3}
	if rank[a.Kind] != rank[b.Kind] {
		return rank[a.Kind] < rank[b.Kind]
	}
	return a.Digest < b.Digest
}

// primaryTag is the tag that names an image in a list: the first kept tag
// (the one that keeps it), else the first tag.
func primaryTag(it *plan.Item) string {
	if t := orderedTags(it); len(t) > 0 {
		return t[0]
	}
	return ""
}

// orderedTags lists an item's tags: first the tags a keep rule named
// (the ones that keep the image), then its other tags, then the tags apply
// removes, each group in natural order, highest first.
func orderedTags(it *plan.Item) []string {
	untag := map[string]bool{}
	for _, t := range it.Untag {
		untag[t] = true
	}
	var keeping, kept, gone []string
	for _, t := range it.Tags {
		switch {
		case untag[t]:
			gone = append(gone, t)
		case it.Action == plan.ActionKeep && namedByReason(it.Reasons, t):
			keeping = append(keeping, t)
		default:
			kept = append(kept, t)
		}
	}
	byNatural := func(s []string) {
		sort.SliceStable(s, func(i, j int) bool { return naturalLess(s[j], s[i]) })
	}
	byNatural(keeping)
	byNatural(kept)
	byNatural(gone)
	return append(append(keeping, kept...), gone...)
}

// namedByReason reports whether a "kept:" reason names tag t ("kept: tag
// latest", "kept: tag release-1 matches keep regex ...").
func namedByReason(reasons []plan.Reason, t string) bool {
	for _, reason := range reasons {
		r := reason.String()
		if !strings.HasPrefix(r, "kept:") {
			continue
		}
		for rest := r; ; {
			i := strings.Index(rest, "tag "+t)
			if i < 0 {
				break
			}
			end := i + len("tag "+t)
			if end == len(rest) || strings.ContainsRune(" ;,)", rune(rest[end])) {
				return true
			}
			rest = rest[end:]
		}
	}
	return false
}

// naturalLess compares strings with runs of digits as numbers: 9 < 10.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		ra, sa := utf8.DecodeRuneInString(a)
		rb, sb := utf8.DecodeRuneInString(b)
		if ra != rb {
			return ra < rb
		}
		a, b = a[sa:], b[sb:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// tagSummary renders tags for a table cell: the tags that keep the image
// first, then the tags apply removes ("latest; untag: 1399, 1398, 1397,
// … (+297 more)"), at most n of each.
func tagSummary(it *plan.Item, n int) string {
	tags := orderedTags(it)
	if len(tags) == 0 {
		return "-"
	}
	untag := map[string]bool{}
	if it.Action == plan.ActionKeep {
		for _, t := range it.Untag {
			untag[t] = true
		}
	}
	var kept, gone []string
	for _, t := range tags {
		if untag[t] {
			gone = append(gone, t)
		} else {
			kept = append(kept, t)
		}
	}
	var parts []string
	if len(kept) > 0 {
		parts = append(parts, summarizeList(kept, n))
	}
	if len(gone) > 0 {
		parts = append(parts, "untag: "+summarizeList(gone, n))
	}
	return strings.Join(parts, "; ")
}

// summarizeList joins at most n of list, then "… (+N more)".
func summarizeList(list []string, n int) string {
	var parts []string
	for i, t := range list {
		if i == n && len(list) > n+1 {
			parts = append(parts, fmt.Sprintf("… (+%d more)", len(list)-n))
			break
		}
		parts = append(parts, shortArtifactTag(t))
	}
	return strings.Join(parts, ", ")
}

// shortArtifactTag shortens sha256-<64 hex>.sig to sha256-<12 hex>….sig.
func shortArtifactTag(t string) string {
	if j := strings.IndexByte(t, '-'); j > 0 && len(t) > j+13+64-12 {
		if k := strings.IndexByte(t[j:], '.'); k > 0 || len(t) == j+65 {
			rest := ""
			if k > 0 {
				rest = t[j+k:]
			}
			return t[:j+13] + "…" + rest
		}
	}
	return t
}

// listRE finds comma-separated lists of five or more words in a reason.
var listRE = regexp.MustCompile(`(?:[^\s,;]+, ){4,}[^\s,;]+`)

// reasonSummary joins reasons, shortening long lists ("1001, 1002, 1003,
// … (+297 more)") and capping the length at max characters.
func reasonSummary(reasons []plan.Reason, max int) string {
	s := strings.Join(plan.Texts(reasons), "; ")
	s = listRE.ReplaceAllStringFunc(s, func(list string) string {
		return summarizeList(strings.Split(list, ", "), tableTags)
	})
	if max > 0 && utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max-1]) + "…"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// header is the provenance line of a rendered plan.
func header(p *plan.Plan) string {
	s := "regprune " + string(p.Mode)
	if !p.Generated.IsZero() {
		s += ", " + p.Generated.UTC().Format("2006-01-02 15:04 UTC")
	}
	if p.Generator != "" {
		s += ", by " + p.Generator
	}
	return s
}

func renderTable(w io.Writer, p *plan.Plan) error {
	apply := p.Mode == plan.ModeApply
	fmt.Fprintf(w, "%s\n\n", header(p))
	for ri := range p.Repositories {
		r := &p.Repositories[ri]
		fmt.Fprintf(w, "%s", r.Name)
		if r.Rule != "" {
			fmt.Fprintf(w, "  (rule: %s)", r.Rule)
		}
		fmt.Fprintln(w)
		if r.Err != nil {
			what := "FAILED, nothing deleted"
			if r.Refused {
				what = "REFUSED"
			}
			fmt.Fprintf(w, "  %s: %s\n", what, r.Err)
		}
		for _, wn := range r.Warnings {
			fmt.Fprintf(w, "  WARNING: %s\n", wn)
		}
		if len(r.Items) > 0 {
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			head := "  ACTION\tKIND\tDIGEST\tTAGS\tCREATED\tSIZE\tREASON"
			if apply {
				head += "\tRESULT"
			}
			fmt.Fprintln(tw, head)
			for _, row := range orderRows(r) {
				it := row.Item
				created := "unknown"
				if !r.AgesRead {
					created = "-"
				}
				if it.Created != nil {
					created = it.Created.UTC().Format(time.DateTime)
				}
				action := string(it.Action)
				if len(it.Untag) > 0 {
					action += "+untag"
				}
				kind := it.Kind
				if row.Depth > 0 {
					kind = strings.Repeat("  ", row.Depth-1) + "└ " + kind
				}
				size := "-"
				if row.Frees > 0 {
					size = HumanBytes(row.Frees)
				}
				line := fmt.Sprintf("  %s\t%s\t%s\t%s\t%s\t%s\t%s", action, kind, plan.ShortDigest(it.Digest),
					tagSummary(it, tableTags), created, size, reasonSummary(it.Reasons, tableReasonMax))
				if apply {
					res := string(it.Result)
					if res == "" {
						res = "-"
					}
					if why := it.ResultReason.String(); why != "" {
						res += " (" + why + ")"
					}
					line += "\t" + res
				}
				fmt.Fprintln(tw, line)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		s := r.Summary
		fmt.Fprintf(w, "  %s: keep %d, delete %d, untag %d; %s to delete; frees %s\n",
			plural(s.Images, "image", "images"), s.Keep, s.Delete, s.Untag,
			plural(s.DeleteManifests, "manifest", "manifests"), HumanBytes(s.ReclaimableBytes))
		if apply {
			fmt.Fprintf(w, "  result: %d deleted, %d untagged, %d skipped, %d failed; %s\n",
				s.Deleted, s.Untagged, s.Skipped, s.Failed, freedText(s.FreedBytes, s.Deleted, s.DeleteManifests))
		}
		fmt.Fprintln(w)
	}
	t := p.Summary
	if u := p.InUse; u != nil {
		fmt.Fprintf(w, "in use: %s read, %s, %s kept\n", plural(u.Sources, "source", "sources"),
			plural(u.References, "reference", "references"), plural(u.Images, "image", "images"))
	}
	fmt.Fprintf(w, "total: %s (%d failed), %s: keep %d, delete %d, untag %d; frees %s\n",
		plural(t.Repositories, "repository", "repositories"), t.Failed, plural(t.Images, "image", "images"),
		t.Keep, t.Delete, t.Untag, HumanBytes(t.ReclaimableBytes))
	if apply {
		fmt.Fprintf(w, "result: %d deleted, %d untagged, %d skipped, %d failed; %s\n",
			t.Deleted, t.Untagged, t.Skipped, t.FailedItems, freedText(t.FreedBytes, t.Deleted, t.DeleteManifests))
		if p.RunID != "" {
			fmt.Fprintf(w, "run id: %s (until the registry's garbage collector runs: regprune restore %s)\n", p.RunID, p.RunID)
		} else if p.Journal != "" {
			fmt.Fprintf(w, "journal: %s (no run recorded)\n", p.Journal)
		} else {
			fmt.Fprintln(w, "journal: off; nothing this run deleted can be restored")
		}
	}
	return nil
}
