package apply_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/plan"
)

// The read-back lists the tags beside its HEADs of the deleted digests,
// not before them (one serial round trip fewer), and sends one listing
// and one HEAD per deleted digest. Its listing is held until a HEAD of a
// deleted digest arrives; a read-back that lists first waits out the hold
// (a deadlock breaker, not a timing: the test checks what arrived, not
// how fast).
func TestReadBackListsBesideItsHeads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "app")
	const builds = 12
	if _, err := e.reg.SeedCI(e.ctx, e.repo, builds, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	r := e.plan(keep("latest"))
	var (
		digestDeletes, readBackHeads, readBackLists atomic.Int64
		headed                                      = make(chan struct{})
		once                                        sync.Once
		listedAlone                                 atomic.Bool
	)
	h := &hooked{Repo: e.open()}
	h.del = func(_ context.Context, ref string, real func() error) error {
		if strings.HasPrefix(ref, "sha256:") {
			digestDeletes.Add(1)
		}
		return real()
	}
	h.head = func(ref string) error {
		if strings.HasPrefix(ref, "sha256:") && digestDeletes.Load() > 0 {
			readBackHeads.Add(1)
			once.Do(func() { close(headed) })
		}
		return nil
	}
	h.list = func() error {
		if digestDeletes.Load() == 0 {
			return nil // the plan's and the re-checks' listings
		}
		readBackLists.Add(1)
		select {
		case <-headed:
		case <-time.After(10 * time.Second):
			listedAlone.Store(true)
		}
		return nil
	}
	if err := e.apply(h, r); err != nil {
		t.Fatal(err)
	}
	for i := range r.Items {
		if it := &r.Items[i]; it.Action == plan.ActionDelete && it.Result != plan.ResultDeleted {
			t.Errorf("%s: %s %s", it.Digest, it.Result, it.ResultReason.Code)
		}
	}
	if listedAlone.Load() {
		t.Error("the read-back listed the tags with no HEAD of a deleted digest in flight: the listing ran before the HEADs")
	}
	if got, want := digestDeletes.Load(), int64(builds-1); got != want {
		t.Errorf("%d digest DELETEs, want %d", got, want)
	}
	if got, want := readBackHeads.Load(), int64(builds-1); got != want {
		t.Errorf("the read-back sent %d HEADs of digests, want %d (one per deleted digest)", got, want)
	}
	if got := readBackLists.Load(); got != 1 {
		t.Errorf("the read-back listed the tags %d times, want 1", got)
	}
}
