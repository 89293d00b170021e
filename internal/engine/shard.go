package engine

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is one share of a horizontal split: repository r belongs to shard
// I of N when FNV-1a-64(r) mod N == I, r being the full "host[:port]/path"
// name. The hash depends on the name alone, so N processes (a Kubernetes
// Indexed Job's pods) that are given the same repository list cover it
// exactly once between them, whatever order they list it in. The zero
// Shard takes everything.
type Shard struct {
	Index, Total int
}

// JobIndexEnv is the variable a Kubernetes Indexed Job sets in each pod.
const JobIndexEnv = "JOB_COMPLETION_INDEX"

// ErrBadShard marks an unusable --shard value.
var ErrBadShard = errors.New("bad shard")

// ParseShard parses "I/N" (0 <= I < N), or "/N" to take I from
// JOB_COMPLETION_INDEX through getenv (as in a Kubernetes Indexed Job with
// completions N). "" is the zero Shard.
func ParseShard(s string, getenv func(string) string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	is, ns, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, fmt.Errorf("%w %q: want I/N (e.g. 0/4), or /N to take I from $%s", ErrBadShard, s, JobIndexEnv)
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 || n > 1<<16 {
		return Shard{}, fmt.Errorf("%w %q: the total %q must be a whole number from 1 to 65536", ErrBadShard, s, ns)
	}
	from := "index"
	if is == "" {
		if getenv != nil {
			is = getenv(JobIndexEnv)
		}
		if is == "" {
			return Shard{}, fmt.Errorf("%w %q: no index given and $%s is not set", ErrBadShard, s, JobIndexEnv)
		}
		from = "$" + JobIndexEnv
	}
	i, err := strconv.Atoi(is)
	if err != nil || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("%w %q: %s %q must be a whole number from 0 to %d", ErrBadShard, s, from, is, n-1)
	}
	return Shard{Index: i, Total: n}, nil
}

// String renders s as "I/N"; "" for the zero Shard.
func (s Shard) String() string {
	if s.Total == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Total)
}

// Of returns the shard index of repository among total shards.
func Of(repository string, total int) int {
	h := fnv.New64a()
	h.Write([]byte(repository))
	return int(h.Sum64() % uint64(total))
}

// Has reports whether repository belongs to s.
func (s Shard) Has(repository string) bool {
	return s.Total <= 1 || Of(repository, s.Total) == s.Index
}

// Filter returns the targets of s, in their order.
func (s Shard) Filter(targets []Job) []Job {
	if s.Total <= 1 {
		return targets
	}
	out := make([]Job, 0, len(targets)/s.Total+1)
	for _, t := range targets {
		if s.Has(t.Repository) {
			out = append(out, t)
		}
	}
	return out
}
