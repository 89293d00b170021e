package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/regprune/regprune/internal/plan"
)

// The HTML report is one self-contained page: inline CSS and script, an
// inline SVG chart, no external asset, readable offline. Filters can be
// given in the URL fragment: report.html#q=1001&action=delete.

//go:embed report.html.tmpl
var reportTemplate string

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"bytes": HumanBytes,
	"plural": func(n int, one, many string) string {
		return plural(n, one, many)
	},
}).Parse(reportTemplate))

type htmlRow struct {
	Action, Kind, Digest, Short, Tags, AllTags, Created, Age, Reason, Result string
	CreatedUnix                                                              int64
	Depth                                                                    int
	Frees                                                                    int64
	Image                                                                    bool
}

type htmlGroup struct {
	Rows []htmlRow
}

type htmlRepo struct {
	ID         string
	Repository string
	Rule       string
	Error      string
	Refused    bool
	Summary    plan.Summary
	Freed      int64
	Warnings   []string
	Groups     []htmlGroup
}

type htmlBar struct {
	Repository string
	Bytes      int64
	Y, Width   int
}

type htmlData struct {
	Plan    *plan.Plan
	Title   string
	Header  string
	Apply   bool
	Freed   int64
	RunLine string // apply: the run id and the restore command
	Repos   []htmlRepo
	Bars    []htmlBar
	ChartH  int
	ChartW  int
	BarMaxW int
}

// errText is err's text, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func renderHTML(w io.Writer, p *plan.Plan) error {
	d := htmlData{Plan: p, Title: "regprune " + string(p.Mode), Header: header(p), Apply: p.Mode == plan.ModeApply, Freed: p.FreedBytes(), ChartW: 760, BarMaxW: 640}
	if d.Apply {
		d.RunLine = runLine(p)
	}
	var maxBytes int64 = 1
	for i := range p.Repositories {
		maxBytes = max(maxBytes, p.Repositories[i].Summary.ReclaimableBytes)
	}
	for i := range p.Repositories {
		r := &p.Repositories[i]
		hr := htmlRepo{ID: fmt.Sprintf("repo-%d", i), Repository: r.Name, Rule: r.Rule, Error: errText(r.Err), Refused: r.Refused, Summary: r.Summary, Freed: r.FreedBytes(), Warnings: r.Warnings}
		var g *htmlGroup
		for _, row := range orderRows(r) {
			it := row.Item
			if row.Depth == 0 {
				hr.Groups = append(hr.Groups, htmlGroup{})
				g = &hr.Groups[len(hr.Groups)-1]
			}
			action := it.Action
			if len(it.Untag) > 0 {
				action += "+untag"
			}
			hrow := htmlRow{Action: string(action), Kind: it.Kind, Digest: it.Digest, Short: plan.ShortDigest(it.Digest),
				Tags: tagSummary(it, 6), AllTags: strings.Join(orderedTags(it), " "), Reason: strings.Join(plan.Texts(it.Reasons), "; "),
				Depth: row.Depth, Frees: row.Frees, Image: it.Kind == plan.KindImage && row.Depth == 0, Created: "-"}
			if it.Created != nil {
				hrow.Created = it.Created.UTC().Format(time.DateTime)
				hrow.CreatedUnix = it.Created.Unix()
				if !p.Generated.IsZero() {
					hrow.Age = age(p.Generated.Sub(*it.Created))
				}
			}
			if it.Result != "" {
				hrow.Result = strings.TrimSpace(string(it.Result) + " " + it.ResultReason.String())
			}
			g.Rows = append(g.Rows, hrow)
		}
		d.Repos = append(d.Repos, hr)
		d.Bars = append(d.Bars, htmlBar{Repository: r.Name, Bytes: r.Summary.ReclaimableBytes,
			Y: 6 + 44*i, Width: int(int64(d.BarMaxW) * r.Summary.ReclaimableBytes / maxBytes)})
	}
	d.ChartH = 12 + 44*len(p.Repositories)
	return reportTmpl.Execute(w, d)
}

// age renders how long before the plan an image was built: 36h, 12d.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
