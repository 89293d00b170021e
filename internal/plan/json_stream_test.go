package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// WriteJSON streams what json.Encoder writes of p.wire(), byte for byte:
// no repository, a repository without images, a failed one, and images
// whose texts hold characters HTML escaping would change.
func TestRenderJSONStreamsTheSameBytes(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	created := now.Add(-time.Hour)
	items := []Item{
		{Digest: "sha256:" + string(bytes.Repeat([]byte("a"), 64)), Kind: KindImage, Tags: []string{"v<1>&2"}, Action: ActionDelete,
			Reasons: []Reason{{Code: ReasonPolicyAlone, Text: "older than <30d> & untagged"}}, Created: &created, Size: 10, Frees: 10,
			Result: ResultDeleted},
		{Digest: "sha256:" + string(bytes.Repeat([]byte("b"), 64)), Kind: KindImage, Tags: []string{"latest"}, Action: ActionKeep,
			Reasons: []Reason{{Code: ReasonPolicyAlone, Text: "kept: tag latest"}}},
	}
	for name, p := range map[string]*Plan{
		"none":  New(ModePlan, now, nil),
		"empty": New(ModeApply, now, []RepoPlan{{Name: "r/empty", Tags: map[string]string{}}}),
		"mixed": New(ModeApply, now, []RepoPlan{
			{Name: "r/app", Items: items, Tags: map[string]string{"latest": items[1].Digest}},
			Failed("r/broken", Fail(ErrorRead, errors.New("listing <failed> & stopped"))),
		}),
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(p.wire()); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := WriteJSON(&got, p); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("%s: streamed\n%s\nwant\n%s", name, got.Bytes(), want.Bytes())
		}
	}
}
