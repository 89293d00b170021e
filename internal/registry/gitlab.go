package registry

// GitLab's container registry API (https://docs.gitlab.com/api/container_registry/).

import (
	"context"
)

type gitLab struct {
	a    *apiClient
	path string // the repository path under the registry host
	host string
}

func newGitLab(a *apiClient, path, host string) *gitLab {
	return &gitLab{a: a, path: path, host: host}
}

// list: no listing yet; v2 lists.
func (g *gitLab) list(context.Context) ([]Listed, error) { return nil, nil }

func (g *gitLab) deleteTag(context.Context, string) error    { return errUseV2 }
func (g *gitLab) deleteDigest(context.Context, string) error { return errUseV2 }
