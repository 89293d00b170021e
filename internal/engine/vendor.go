package engine

// The vendor API's listing (registry/vendor.go) is checked against what
// the registry itself lists before anything is planned: the v2 API is the
// ground truth, and a listing that does not add up (a tag on another
// digest, a tag one side lacks, a digest the registry does not have)
// fails the repository closed.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// checkVendor compares repo's vendor listing with g. It returns the
// capabilities to record (nil for a v2 registry).
func checkVendor(ctx context.Context, repo *registry.Repo, g *graph.Repository, concurrency int) (*plan.Capabilities, error) {
	api := repo.API()
	if api.API == registry.APIV2 {
		return nil, nil
	}
	c := &plan.Capabilities{API: string(api.API), APIURL: api.URL}
	l, err := repo.Listing(ctx)
	if err != nil && repo.VendorAnonymous() && (errors.Is(err, registry.ErrUnauthorized) || errors.Is(err, registry.ErrDenied)) {
		// Without a credential (a plan of a public image, say), the API
		// may refuse to list: plan over v2 alone, as on any registry,
		// and say what deletes will need.
		c.Notes = append(c.Notes, fmt.Sprintf("the %s API refused to list without a credential (%s): planned over the v2 API alone; deletes through it need %s",
			api.API, answerText(err), credentialHint(api.API)))
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the %s API's listing (its credential: %s): %w", api.API, repo.CredentialSource(), err)
	}
	if l == nil {
		return c, nil // this API lists nothing; v2 did
	}
	c.APIUsedFor = append(c.APIUsedFor, "listing")
	listed := map[string]string{}
	for _, e := range l {
		for _, t := range e.Tags {
			listed[t] = e.Digest
		}
	}
	tags := make([]string, 0, len(g.Tags))
	for t := range g.Tags {
		tags = append(tags, t)
	}
	sort.Strings(tags)
	for _, t := range tags {
		switch d, ok := listed[t]; {
		case !ok:
			return nil, fmt.Errorf("%w: the %s API lists no tag %s, which the registry resolves to %s", registry.ErrBadResponse, api.API, t, g.Tags[t])
		case d != g.Tags[t]:
			return nil, fmt.Errorf("%w: the %s API lists tag %s on %s, the registry resolves it to %s", registry.ErrBadResponse, api.API, t, d, g.Tags[t])
		}
	}
	for t, d := range listed {
		if _, ok := g.Tags[t]; !ok {
			return nil, fmt.Errorf("%w: the %s API lists tag %s on %s, which the registry does not list", registry.ErrBadResponse, api.API, t, d)
		}
	}
	// Push times: an age for images that carry no build time.
	for _, e := range l {
		if m := g.Manifests[e.Digest]; m != nil && !e.Created.IsZero() {
			m.Pushed = e.Created.UTC()
		}
	}
	// A digest the graph does not hold (an untagged manifest no tag
	// reaches) must exist in the registry.
	eg, ectx := errgroup.WithContext(ctx)
	eg.SetLimit(max(concurrency, 1))
	for _, e := range l {
		if g.Manifests[e.Digest] != nil {
			continue
		}
		eg.Go(func() error {
			_, err := repo.Head(ectx, e.Digest)
			if errors.Is(err, registry.ErrNotFound) {
				return fmt.Errorf("%w: the %s API lists %s, which the registry does not have", registry.ErrBadResponse, api.API, e.Digest)
			}
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return nil, err
	}
	return c, nil
}

// answerText is an answer's status, without the path.
func answerText(err error) string {
	var e *registry.Error
	if errors.As(err, &e) {
		return fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	}
	return err.Error()
}

func credentialHint(api registry.API) string {
	switch api {
	case registry.APIGitHub:
		return "GITHUB_TOKEN (or the registry password: a PAT with read:packages and delete:packages)"
	case registry.APIGitLab:
		return "GITLAB_TOKEN, CI_JOB_TOKEN or the registry password"
	}
	return "the registry credential"
}
