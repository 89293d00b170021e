package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/config"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// writePolicy writes a policy file with every "HOST" replaced by host and
// loads it.
func writePolicy(t *testing.T, host, text string) (*config.Config, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "HOST", host)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

func seedCI(t *testing.T, reg *registrytest.Registry, builds int, repos ...string) {
	t.Helper()
	for _, repo := range repos {
		if _, err := reg.SeedCI(context.Background(), repo, builds, t0, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
}

const multiRulePolicy = `version: 1
rules:
  # A literal name, first: it wins over the "**" below.
  - repositories: [HOST/team/b/c]
    keep: {newest: 1}
  # "*" is one segment: team/a, not team/b/c/d.
  - repositories: [HOST/team/*]
    keep: {tags: [latest]}
  # "**" is any depth: team/b/c/d (team/a and team/b/c matched first above).
  - repositories: [HOST/team/**]
    keep: {newest: 2}
  # A later literal team/a does not override rule 2; nothing/** matches nothing;
  # other/* is not other/y/z.
  - repositories: [HOST/other/*, HOST/team/a, HOST/nothing/**]
    keep: {newest: 3}
`

// A multi-rule policy file over repositories at different depths: patterns
// are expanded over distribution's _catalog (anonymous here), listed once;
// the first rule that matches a repository applies; what each repository
// keeps follows its rule.
func TestPolicyFileRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	seedCI(t, reg, 4, "team/a", "team/b/c", "team/b/c/d")
	seedCI(t, reg, 3, "other/x", "other/y/z")
	proxy := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	host := proxy.Host
	cfg, path := writePolicy(t, host, multiRulePolicy)

	o := engine.Options{Client: registry.New(registry.Options{}), Now: t0.Add(30 * 24 * time.Hour)}
	targets, unmatched, err := engine.Discover(ctx, o.Client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c := proxy.Counts(); c.Catalog != 1 || c.Total != c.Catalog+c.Other {
		t.Errorf("discovery sent %+v, want one catalog listing (and its auth ping) only", c)
	}
	if want := []string{host + "/nothing/**"}; !slices.Equal(unmatched, want) {
		t.Errorf("unmatched = %q, want %q", unmatched, want)
	}
	// Each target with the line of the rule that applies to it.
	wantRule := map[string]int{"other/x": 14, "team/a": 7, "team/b/c": 4, "team/b/c/d": 10}
	var got []string
	for _, tg := range targets {
		repo := strings.TrimPrefix(tg.Repository, host+"/")
		got = append(got, repo)
		if want := fmt.Sprintf("%s:%d:5", path, wantRule[repo]); tg.Rule != want {
			t.Errorf("%s: rule %s, want %s", repo, tg.Rule, want)
		}
	}
	if want := []string{"other/x", "team/a", "team/b/c", "team/b/c/d"}; !slices.Equal(got, want) {
		t.Fatalf("targets = %q, want %q", got, want)
	}

	pl := engine.Plan(ctx, targets, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	if err := engine.Result(pl); err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string][]string{
		"team/a":     {"1004", "latest"},         // rule 2: tag latest; its image keeps every tag
		"team/b/c":   {"1004", "latest"},         // rule 1: newest 1 keeps the image and its tags
		"team/b/c/d": {"1003", "1004", "latest"}, // rule 3: newest 2
		"other/x":    {"1001", "1002", "1003", "latest"},
		"other/y/z":  {"1001", "1002", "1003", "latest"}, // no rule: untouched
	} {
		if got := tags(t, reg, repo); !slices.Equal(got, want) {
			t.Errorf("%s: tags %v, want %v", repo, got, want)
		}
	}
	if c := proxy.Counts(); c.Catalog != 1 {
		t.Errorf("catalog listed %d times, want once", c.Catalog)
	}
}

// Patterns that match nothing are reported, each once, in the order of
// the file; a literal name is never "unmatched" (it is not looked up).
func TestPolicyFileUnmatched(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	seedCI(t, reg, 2, "team/a")
	cfg, _ := writePolicy(t, reg.Host, `version: 1
rules:
  - repositories: [HOST/team/*, HOST/nope/**, HOST/team/a/*]
    keep: {tags: [latest]}
  - repositories: [HOST/missing/literal, HOST/team-*/x]
    keep: {newest: 1}
`)
	targets, unmatched, err := engine.Discover(ctx, registry.New(registry.Options{}), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{reg.Host + "/nope/**", reg.Host + "/team/a/*", reg.Host + "/team-*/x"}; !slices.Equal(unmatched, want) {
		t.Errorf("unmatched = %q, want %q", unmatched, want)
	}
	var got []string
	for _, tg := range targets {
		got = append(got, tg.Repository)
	}
	if want := []string{reg.Host + "/missing/literal", reg.Host + "/team/a"}; !slices.Equal(got, want) {
		t.Errorf("targets = %q, want %q", got, want)
	}
}

// With token auth, distribution grants registry:catalog:* only to a user
// allowed "*": for anyone else Discover fails with ErrCatalogRefused and
// asks for literal names. Literal names need no catalog and still work.
func TestPolicyFileCatalogRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{Auth: &registrytest.TokenAuth{Users: map[string]registrytest.TokenUser{
		"ci": {Password: "ci-secret", Actions: []string{"pull", "push", "delete"}},
	}}})
	seedCI(t, reg, 3, "team/a")
	client := func(user, password string) *registry.Client {
		env := map[string]string{"REGPRUNE_USERNAME": user, "REGPRUNE_PASSWORD": password}
		return registry.New(registry.Options{Keychain: registry.Keychain(func(k string) string { return env[k] })})
	}

	globbed, _ := writePolicy(t, reg.Host, `version: 1
rules:
  - repositories: [HOST/team/**]
    keep: {tags: [latest]}
`)
	_, _, err := engine.Discover(ctx, client("ci", "ci-secret"), globbed)
	if !errors.Is(err, engine.ErrCatalogRefused) {
		t.Fatalf("Discover without catalog access: %v, want ErrCatalogRefused", err)
	}
	t.Logf("refused: %v", err)
	if msg := err.Error(); !strings.Contains(msg, reg.Host) || !strings.Contains(msg, "literally") {
		t.Errorf("error %q should name the registry and ask for literal repository names", msg)
	}

	// The registry's admin (actions "*") may list the catalog.
	admin, password := reg.Credentials()
	targets, _, err := engine.Discover(ctx, client(admin, password), globbed)
	if err != nil || len(targets) != 1 || targets[0].Repository != reg.Ref("team/a") {
		t.Fatalf("Discover as admin = %v, %v; want team/a", targets, err)
	}

	// Literal names: no catalog needed, and the plan runs with ci's rights.
	literal, _ := writePolicy(t, reg.Host, `version: 1
rules:
  - repositories: [HOST/team/a]
    keep: {tags: [latest]}
`)
	c := client("ci", "ci-secret")
	targets, unmatched, err := engine.Discover(ctx, c, literal)
	if err != nil || len(targets) != 1 || len(unmatched) != 0 {
		t.Fatalf("Discover of a literal name = %v, %v, %v", targets, unmatched, err)
	}
	o := engine.Options{Client: c, Now: t0.Add(30 * 24 * time.Hour)}
	pl := engine.Plan(ctx, targets, plan.ModeApply, o)
	engine.Apply(ctx, pl, o)
	if err := engine.Result(pl); err != nil {
		t.Fatal(err)
	}
	if got := tags(t, reg, "team/a"); !slices.Equal(got, []string{"1003", "latest"}) {
		t.Errorf("tags = %v, want [1003 latest]", got)
	}
}
