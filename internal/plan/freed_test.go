package plan

import (
	"testing"
	"time"
)

// After apply, freed bytes are claimed only for deletions done: all of
// reclaimable_bytes when every planned deletion succeeded, none when none
// did, and the deleted manifests' own bytes for a partial apply
// (internal/report's TestFreedText checks what the table says of them).
func TestFreedBytes(t *testing.T) {
	mk := func(results ...Result) *Plan {
		r := RepoPlan{Name: "reg.example.com/app", Summary: Summary{DeleteManifests: len(results), ReclaimableBytes: 1000}}
		for _, res := range results {
			r.Items = append(r.Items, Item{Digest: "sha256:x", Kind: KindImage, Action: ActionDelete, Size: 100, Result: res})
		}
		r.Capabilities = &Capabilities{Deletes: CapRefused, Notes: []string{"n"}}
		return New(ModeApply, time.Unix(0, 0), []RepoPlan{r})
	}
	for _, c := range []struct {
		results []Result
		freed   int64
	}{
		{[]Result{ResultFailed, ResultSkipped}, 0},
		{[]Result{ResultDeleted, ResultDeleted}, 1000},
		{[]Result{ResultDeleted, ResultFailed}, 100},
	} {
		p := mk(c.results...)
		if f := p.Summary.FreedBytes; f == nil || *f != c.freed {
			t.Errorf("%v: freed %v, want %d", c.results, f, c.freed)
		}
		if regs := p.Registries; len(regs) != 1 || regs[0].Host != "reg.example.com" || regs[0].Deletes != CapRefused {
			t.Errorf("registries %+v", regs)
		}
	}
	if p := New("plan", time.Unix(0, 0), []RepoPlan{{Name: "r.example/app"}}); p.Summary.FreedBytes != nil {
		t.Errorf("a plan claims freed bytes")
	}
}
