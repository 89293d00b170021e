package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/registry"
)

// The journal decides digest or tag by the grammar (digest.KindOf), not
// by a ':' in the reference: a reference that is neither gets no entry
// and no request (the Target is nil here: any request would panic), and
// its error says it is an invalid reference.
func TestJournalEntryRefusesInvalidRef(t *testing.T) {
	jt := &journalTarget{run: &journalRun{id: "run"}, repo: "ci/app"}
	for _, ref := range []string{"sha256:" + strings.Repeat("z", 64), "sha384:" + strings.Repeat("a", 96), "a/../b", "", "-x"} {
		_, err := jt.entry(context.Background(), ref)
		if !errors.Is(err, ErrJournal) || !errors.Is(err, registry.ErrInvalidReference) {
			t.Errorf("entry(%q): %v, want ErrJournal and registry.ErrInvalidReference", ref, err)
		}
	}
	if n := jt.run.gets.Load(); n != 0 {
		t.Errorf("%d manifests read for invalid references", n)
	}
}
