package plan

import "math"

// satAdd adds two byte counts, saturating at math.MaxInt64 instead of
// wrapping: a registry can claim any size, and a sum must never turn
// negative. A negative operand counts as 0.
func satAdd(a, b int64) int64 {
	a, b = max(a, 0), max(b, 0)
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// MaxFileSize bounds a plan file: far above the plan of a million images
// (about 500 bytes an item), far below what would exhaust memory.
const MaxFileSize = 256 << 20

// recount recomputes a loaded repository's summary from its items
// instead of trusting the file. The blobs behind reclaimable_bytes are
// not in the file: the figure is kept, clamped to at least the deleted
// manifests' own bytes and never negative.
func (r *RepoPlan) recount() {
	s, _ := countItems(r.Items)
	s.ReclaimableBytes = max(r.Summary.ReclaimableBytes, s.ReclaimableBytes)
	if s.DeleteManifests == 0 {
		s.ReclaimableBytes = 0
	}
	r.Summary = s
}
