package plan

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestLoadRoundTripAndRefusals(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, samplePlan(), "json"); err != nil {
		t.Fatal(err)
	}
	good := strings.Replace(b.String(), `"0|x"`, `"old"`, 1) // "0|x" exercises Markdown escaping, not a valid tag
	p, err := Load(strings.NewReader(good), "plan.json")
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if p.Summary.Delete != 1 || p.Repositories[0].Items[0].Untag[0] != "1" {
		t.Fatalf("loaded %+v", p.Summary)
	}
	for name, tc := range map[string]struct{ in, want string }{
		"trailing data": {good + "{}", "data after"},
		"foreign":       {`{"schemaVersion":2}`, `kind ""`},
		"version":       {strings.Replace(good, `"version": 2`, `"version": 9`, 1), "version 9"},
		"bad digest":    {strings.Replace(good, "sha256:"+strings.Repeat("b", 64), "sha256:zz", 1), `"sha256:zz"`},
		"bad action":    {strings.Replace(good, `"action": "delete"`, `"action": "nuke"`, 1), `"nuke"`},
		"syntax":        {"{\n  \"kind\": ,\n}", "line 2, column 11"},
	} {
		_, err := Load(strings.NewReader(tc.in), "plan.json")
		if !errors.Is(err, ErrBadPlan) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want ErrBadPlan mentioning %q", name, err, tc.want)
		}
	}
}
