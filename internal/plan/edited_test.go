package plan

import (
	"bytes"
	"strings"
	"testing"
)

// A row of a saved plan turned from delete to keep by hand shows a keep
// reason, not "delete: ..."; an apply report names its run and the
// restore command in Markdown and HTML.
func TestEditedRowAndRunLine(t *testing.T) {
	it := Item{Action: ActionKeep, Reasons: []Reason{{loaded: "delete: older than 30d; no keep rule holds it"}}}
	followAction(&it)
	if got := ReasonSummary(it.Reasons, 0); !strings.HasPrefix(got, "kept: the plan file says keep") {
		t.Errorf("reason %q for a row edited to keep", got)
	}
	it = Item{Action: ActionDelete, Reasons: []Reason{{loaded: "kept: tag latest"}}}
	followAction(&it)
	if got := ReasonSummary(it.Reasons, 0); !strings.HasPrefix(got, "delete: the plan file says delete") {
		t.Errorf("reason %q for a row edited to delete", got)
	}
	it = Item{Action: ActionKeep, Reasons: []Reason{{loaded: "kept: tag latest"}}}
	followAction(&it)
	if got := ReasonSummary(it.Reasons, 0); got != "kept: tag latest" {
		t.Errorf("an unedited row's reason changed: %q", got)
	}

	p := &Plan{Mode: ModeApply, RunID: "20261201T150700Z-3fa9c1"}
	for _, format := range []string{"markdown", "html", "table"} {
		var b bytes.Buffer
		if err := Render(&b, p, format); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "run id: 20261201T150700Z-3fa9c1") || !strings.Contains(b.String(), "regprune restore 20261201T150700Z-3fa9c1") {
			t.Errorf("%s report without the run id and restore command:\n%s", format, b.String())
		}
	}
}

// With no ages read, images sort so that builds group: each family of
// tags (52029 and 52031; multi-52030 and multi-52031; v1.2.3 and v1.10.0)
// together, highest first, words last.
func TestRowsGroupBuildsWithoutAges(t *testing.T) {
	var r Repository
	for i, tag := range []string{"v1.2.3", "multi-52031", "latest", "52029", "52031", "multi-52030", "v1.10.0"} {
		r.Items = append(r.Items, Item{Digest: "sha256:" + strings.Repeat(string(rune('a'+i)), 64), Kind: KindImage, Action: ActionDelete, Tags: []string{tag}})
	}
	var got []string
	for _, row := range Rows(&r) {
		got = append(got, row.Item.Tags[0])
	}
	want := "52031 52029 multi-52031 multi-52030 v1.10.0 v1.2.3 latest"
	if strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}
