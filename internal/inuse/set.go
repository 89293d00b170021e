package inuse

import (
	"sync"

	"github.com/regprune/regprune/internal/policy"
)

// Set is every image reference the sources of a run gave, with who uses
// each. It is safe for concurrent use once filled (For and Missing only
// read).
type Set struct {
	mu      sync.Mutex
	sources []string
	users   map[Ref][]string
	seen    map[Ref]map[string]bool
	skipped int
}

// NewSet returns an empty set.
func NewSet() *Set { return &Set{users: map[Ref][]string{}, seen: map[Ref]map[string]bool{}} }

// AddSource records that source was read in full.
func (s *Set) AddSource(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sources = append(s.sources, name)
}

// Add records that user ("Deployment prod/web (context prod)") uses the
// image reference raw. A reference that does not parse is returned as an
// error wrapping ErrBadReference and not recorded.
func (s *Set) Add(raw, user string) error {
	r, err := ParseRef(raw)
	if err != nil {
		return err
	}
	s.AddRef(r, user)
	return nil
}

// AddRef records that user uses r.
func (s *Set) AddRef(r Ref, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[r] == nil {
		s.seen[r] = map[string]bool{}
	}
	if s.seen[r][user] {
		return
	}
	s.seen[r][user] = true
	s.users[r] = append(s.users[r], user)
}

// Skipped counts a reference a source gave that names no repository (an
// image id without a name); it is shown, not matched.
func (s *Set) Skipped() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skipped++
}

// Unmatched counts the references that named no repository.
func (s *Set) Unmatched() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped
}

// Sources are the names of the sources read.
func (s *Set) Sources() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sources...)
}

// References counts the distinct normalized references.
func (s *Set) References() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.users)
}

// For is what the set names in repository (host[:port]/path), matched by
// host and path after normalization.
func (s *Set) For(repository string) policy.InUse {
	var in policy.InUse
	if s == nil {
		return in
	}
	name, err := NormalizeRepository(repository)
	if err != nil {
		return in
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for r, users := range s.users {
		if r.Repository != name {
			continue
		}
		if r.Digest != "" {
			if in.Digests == nil {
				in.Digests = map[string][]string{}
			}
			in.Digests[r.Digest] = append(in.Digests[r.Digest], users...)
			continue
		}
		if in.Tags == nil {
			in.Tags = map[string][]string{}
		}
		in.Tags[r.Tag] = append(in.Tags[r.Tag], users...)
	}
	return in
}
