package plan

// The counts of a repository's plan and the bytes its deletions free.

import "github.com/regprune/regprune/internal/graph"

// summarize counts items and the bytes that deleting frees: the deleted
// manifests, plus every blob that only deleted manifests reference.
func summarize(repo *graph.Repository, items []Item) Summary {
	s, deleted := countItems(items)
	s.ReclaimableBytes = satAdd(s.ReclaimableBytes, ReclaimableBlobs(repo, deleted))
	return s
}

// countItems counts items, and sums the bytes of the deleted manifests
// themselves into ReclaimableBytes; deleted holds their digests.
func countItems(items []Item) (s Summary, deleted map[string]bool) {
	deleted = map[string]bool{}
	for _, it := range items {
		s.Manifests++
		if it.Kind == KindImage {
			s.Images++
			if it.Action == ActionKeep {
				s.Keep++
			} else {
				s.Delete++
			}
		}
		if len(it.Untag) > 0 {
			s.Untag++
		}
		if it.Action == ActionDelete {
			s.DeleteManifests++
			deleted[it.Digest] = true
			s.ReclaimableBytes = satAdd(s.ReclaimableBytes, it.Size)
		}
	}
	return s, deleted
}

// ReclaimableBlobs is the size of the blobs referenced by deleted
// manifests and by no other manifest of repo.
func ReclaimableBlobs(repo *graph.Repository, deleted map[string]bool) int64 {
	held := map[string]bool{}
	for d, m := range repo.Manifests {
		if !deleted[d] {
			for _, b := range m.Blobs {
				held[b.Digest] = true
			}
		}
	}
	var n int64
	counted := map[string]bool{}
	for d := range deleted {
		m := repo.Manifests[d]
		if m == nil {
			continue
		}
		for _, b := range m.Blobs {
			if !held[b.Digest] && !counted[b.Digest] {
				counted[b.Digest] = true
				n = satAdd(n, b.Size)
			}
		}
	}
	return n
}
