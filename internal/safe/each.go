package safe

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// Each is regprune's one fan-out: it calls fn(i) for each i in [0, n),
// each in its own goroutine, at most limit at once (an errgroup with a
// limit, as go-containerregistry fans out). It returns the first error fn
// returned, else ctx's error; after either, calls not started are not
// made (a call started sees the slot it runs in free, so fn may itself
// look for an interrupt first and skip).
//
// A panic in fn ends the process with exit code 1 at once, as in a
// goroutine of Go: the fan-outs of regprune's core (a repository's plan or
// apply, a batch of deletes, the journal's entries) have nobody to hand a
// half-done result to. The test hook sees them as "go", named by the
// caller of Each.
func Each(ctx context.Context, n, limit int, fn func(i int) error) error {
	caller := testCaller()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, limit))
	for i := range n {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					p := Recover(v)
					crash(p)
					err = p // only where a test replaced crash
				}
			}()
			if gctx.Err() != nil {
				return nil // waited for a slot past an error or a cancel
			}
			testHook("go", caller)
			return fn(i)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
