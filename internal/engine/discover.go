package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/regprune/regprune/internal/config"
	"github.com/regprune/regprune/internal/registry"
)

// ErrCatalogRefused means a pattern needed a registry's catalog and the
// registry would not list it.
var ErrCatalogRefused = errors.New("catalog refused")

// Discover expands the rules of cfg into targets: literal repository names
// as they are, patterns over each registry's catalog (listed once per
// host). The first rule that matches a repository applies to it. It
// returns the patterns that matched nothing, for the caller to warn about.
func Discover(ctx context.Context, c *registry.Client, cfg *config.Config) (targets []Job, unmatched []string, err error) {
	catalogs := map[string][]string{}
	listed := func(host string) ([]string, error) {
		if repos, ok := catalogs[host]; ok {
			return repos, nil
		}
		var repos []string
		err := c.Catalog(ctx, host, func(page []string) error {
			for _, r := range page {
				repos = append(repos, host+"/"+r)
			}
			return nil
		})
		if err != nil {
			if errors.Is(err, registry.ErrUnauthorized) || errors.Is(err, registry.ErrDenied) || errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrUnsupported) {
				return nil, fmt.Errorf("%w: %s will not list its repositories (%v); name repositories literally in the policy file", ErrCatalogRefused, host, err)
			}
			return nil, fmt.Errorf("listing the catalog of %s: %w", host, err)
		}
		catalogs[host] = repos
		return repos, nil
	}
	// A host whose API is gitlab (GitLab.com disables _catalog) is listed
	// through GitLab's API: the group or project the pattern's literal
	// segments name.
	discovered := map[string]string{} // repository -> the API that found it
	listGitLab := func(p config.Pattern) ([]string, error) {
		key := p.Registry() + "/" + literalPrefix(p)
		if repos, ok := catalogs[key]; ok {
			return repos, nil
		}
		repos, err := c.Discover(ctx, p.Registry(), literalPrefix(p))
		if err != nil {
			return nil, fmt.Errorf("discovering %s through GitLab's API: %w", p, err)
		}
		catalogs[key] = repos
		for _, r := range repos {
			discovered[r] = string(registry.APIGitLab)
		}
		return repos, nil
	}
	candidates := map[string]bool{}
	for _, rule := range cfg.Rules {
		for _, p := range rule.Patterns {
			if p.Literal() {
				if !candidates[p.String()] {
					candidates[p.String()] = true
				}
				continue
			}
			var repos []string
			var err error
			if api, aerr := c.APIOf(p.Registry()); aerr == nil && api.API == registry.APIGitLab {
				repos, err = listGitLab(p)
			} else {
				repos, err = listed(p.Registry())
			}
			if err != nil {
				return nil, nil, err
			}
			n := 0
			for _, r := range repos {
				if p.Match(r) {
					candidates[r] = true
					n++
				}
			}
			if n == 0 {
				unmatched = append(unmatched, p.String())
			}
		}
	}
	names := make([]string, 0, len(candidates))
	for r := range candidates {
		names = append(names, r)
	}
	sort.Strings(names)
	for _, r := range names {
		if rule, ok := cfg.RuleFor(r); ok {
			targets = append(targets, Job{Repository: r, Policy: rule.Policy, Rule: rule.Source, DiscoveredBy: discovered[r]})
		}
	}
	return targets, unmatched, nil
}

// literalPrefix is the path of p's segments before the first wildcard:
// "mygroup" for registry.gitlab.com/mygroup/**.
func literalPrefix(p config.Pattern) string {
	_, path, _ := strings.Cut(p.String(), "/")
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.Contains(seg, "*") {
			break
		}
		out = append(out, seg)
	}
	return strings.Join(out, "/")
}
