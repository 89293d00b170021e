package restore

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/regprune/regprune/internal/journal"
	"github.com/regprune/regprune/internal/registry"
)

// maxSources bounds the repositories asked for one blob: each is a HEAD.
const maxSources = 100

// mount is a blob to mount from another repository of the same registry.
type mount struct{ digest, from string }

// sources finds, after the garbage collector has run, another repository
// of the same registry that still holds a blob this one lost: the
// registry's catalog (when it answers) gives the candidates, each asked
// with a HEAD of the blob. Safe for concurrent use.
type sources struct {
	mu    sync.Mutex
	repos map[string][]string // host -> repository paths, from the catalog
	found map[string]string   // host + " " + blob -> path holding it, "" for none
}

// find returns the path (on repository's registry) of another repository
// that serves blob, or "" when none does or the catalog is refused.
func (s *sources) find(ctx context.Context, o Options, repository, blob string) string {
	host := journal.RegistryOf(repository)
	self := strings.TrimPrefix(repository, host+"/")
	key := host + " " + blob
	s.mu.Lock()
	if s.found == nil {
		s.found, s.repos = map[string]string{}, map[string][]string{}
	}
	if from, ok := s.found[key]; ok {
		s.mu.Unlock()
		return from
	}
	repos, listed := s.repos[host]
	s.mu.Unlock()
	if !listed {
		err := o.Client.Catalog(ctx, host, func(page []string) error {
			repos = append(repos, page...)
			return nil
		})
		if err != nil {
			o.Logger.Info("restore: the catalog is not readable, so no blob is mounted from another repository", "registry", host, "err", err)
			repos = nil
		}
		s.mu.Lock()
		s.repos[host] = repos
		s.mu.Unlock()
	}
	from, asked := "", 0
	for _, cand := range repos {
		if cand == self || asked >= maxSources {
			continue
		}
		asked++
		r, err := o.Client.Open(ctx, host+"/"+cand, registry.Pull)
		if err != nil {
			continue
		}
		if ok, err := r.BlobExists(ctx, blob); err == nil && ok {
			from = cand
			break
		}
	}
	s.mu.Lock()
	s.found[key] = from
	s.mu.Unlock()
	return from
}

// mountBlobs mounts m's lost blobs from where check found them. A mount
// that fails makes m unrecoverable, and nothing of it is pushed.
func mountBlobs(ctx context.Context, repo *registry.Repo, m *Manifest) bool {
	for _, mt := range m.mounts {
		ok, err := repo.MountBlob(ctx, mt.digest, mt.from)
		if err == nil && ok {
			continue
		}
		why := "the registry did not mount it"
		if err != nil {
			why = err.Error()
		}
		m.Action = ActionUnrecoverable
		m.Reason = fmt.Sprintf("its blob %s is gone from here, and mounting it from %s failed: %s", mt.digest, mt.from, why)
		return false
	}
	return true
}
