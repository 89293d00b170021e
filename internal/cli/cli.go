// Package cli holds regprune's cobra commands: it turns flags and files
// into configuration and hands them to the engine. It holds no logic of
// its own and never calls os.Exit.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/regprune/regprune/internal/cache"
	"github.com/regprune/regprune/internal/config"
	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/inventory"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/report"
)

// Version is set at build time with -ldflags "-X .../internal/cli.Version=...".
var Version = "dev"

// ErrUsage marks bad input: exit 2, reported before any request.
var ErrUsage = errors.New("bad input")

func usagef(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUsage, fmt.Sprintf(format, a...))
}

// Env is what the commands read from the process; tests pass their own.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
	// Stdin is read for "-f -" and "--plan -", and for apply's question.
	Stdin io.Reader
	// Interactive: stdin is a terminal, so apply asks first (whatever
	// stdout is: `apply ... | tee log` asks too). Off a terminal, apply
	// from rules needs --yes.
	Interactive bool
	// StdoutTerminal: stdout is a terminal, so apply's question goes there
	// with the table; otherwise it goes to stderr.
	StdoutTerminal bool
	// StderrTerminal: stderr is a terminal, so progress is shown there.
	StderrTerminal bool
}

// Run executes regprune with args (without the program name).
func Run(ctx context.Context, args []string, env Env) error {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	root := newRoot(&env)
	usageArgs(root)
	root.SetArgs(args)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(flagError)
	_, err := root.ExecuteContextC(ctx)
	return err
}

type globals struct {
	concurrency    int
	parallel       int
	insecure       bool
	plainCreds     bool
	timeout        time.Duration
	requestTimeout time.Duration
	maxRPS         float64
	verbose        int
	api, apiURL    string
	apiHosts       map[string]registry.APISetting // a policy file's registries
	ux
}

func newRoot(env *Env) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "regprune",
		Short: "Keep container registries lean without deleting what is still needed",
		Long: `regprune plans and applies retention policies over any OCI registry.

It lists tags and resolves each with one request (a GET, which returns the
manifest with its digest, or a HEAD when the cache already holds the
manifest the tag named last time; HEAD always on Docker Hub), builds the
graph of images, index children, signatures and referrers, decides per
image with a reason, and deletes only what nothing kept reaches. 'plan'
stops before the first DELETE; 'apply' runs the same steps, re-checks each
target, then deletes.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	pf := root.PersistentFlags()
	pf.IntVar(&g.concurrency, "concurrency", 8, "requests in flight per registry host (1-256)")
	pf.IntVar(&g.parallel, "parallel", 4, "repositories processed at once (1-64)")
	pf.BoolVar(&g.insecure, "insecure", false, "allow plain HTTP to non-loopback hosts and skip TLS verification")
	pf.BoolVar(&g.plainCreds, "insecure-plain-http-credentials", false, "with --insecure: allow sending credentials over plain HTTP to a host that is not loopback")
	pf.DurationVar(&g.timeout, "timeout", 0, "give up the whole run after this long (0: no limit)")
	pf.DurationVar(&g.requestTimeout, "request-timeout", 60*time.Second, "give up one request after this long")
	pf.Float64Var(&g.maxRPS, "max-requests-per-second", 0, "cap on requests per second per registry host (0: no cap)")
	pf.CountVarP(&g.verbose, "verbose", "v", "log progress to stderr (-v info, -vv debug)")
	pf.StringVar(&g.api, "api", "auto", "API beside v2 for every registry of the run: auto (ghcr.io: github, Docker Hub: dockerhub, registry.gitlab.com: gitlab, others v2), v2, github, dockerhub or gitlab")
	pf.StringVar(&g.apiURL, "api-url", "", "base URL of that API (default per API: https://api.github.com, https://hub.docker.com, https://gitlab.com/api/v4); with auto, a URL ending in /api/v3 is GitHub's, /api/v4 GitLab's")
	g.ux.add(root, env)

	root.AddCommand(newPlanCmd(env, g, plan.ModePlan), newPlanCmd(env, g, plan.ModeApply), newValidateCmd(env), newVersionCmdUX(env, &g.ux))
	root.AddCommand(newRunsCmd(env), newRestoreCmd(env, g))
	return root
}

func (g *globals) check() error {
	if g.concurrency < 1 || g.concurrency > 256 {
		return usagef("--concurrency %d: want 1 to 256", g.concurrency)
	}
	if g.parallel < 1 || g.parallel > 64 {
		return usagef("--parallel %d: want 1 to 64", g.parallel)
	}
	if g.plainCreds && !g.insecure {
		return usagef("--insecure-plain-http-credentials goes with --insecure: without it plain HTTP is allowed to loopback hosts only")
	}
	if g.timeout < 0 {
		return usagef("--timeout %s: must not be negative", g.timeout)
	}
	if g.requestTimeout <= 0 {
		return usagef("--request-timeout %s: must be positive", g.requestTimeout)
	}
	if _, err := registry.ParseAPI(g.api); err != nil {
		return usagef("--api %q: %v", g.api, err)
	}
	if g.apiURL != "" {
		if err := registry.CheckAPIURL(g.apiURL); err != nil {
			return usagef("--api-url %q: %v", g.apiURL, err)
		}
	}
	if g.maxRPS < 0 {
		return usagef("--max-requests-per-second %g: must not be negative", g.maxRPS)
	}
	if math.IsNaN(g.maxRPS) || math.IsInf(g.maxRPS, 0) || (g.maxRPS != 0 && (g.maxRPS < minRPS || g.maxRPS > maxRPS)) {
		return usagef("--max-requests-per-second %g: want 0 (no cap) or %g to %g", g.maxRPS, minRPS, float64(maxRPS))
	}
	return g.ux.check()
}

// Bounds of --max-requests-per-second: below one request in 100 s a run
// never ends; above 100,000 a cap means nothing.
const (
	minRPS = 0.01
	maxRPS = 100_000
)

func (g *globals) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case g.verbose == 1:
		level = slog.LevelInfo
	case g.verbose > 1:
		level = slog.LevelDebug
	}
	return g.ux.logger(w, level)
}

// apis is the API configuration of the run: --api and --api-url, and a
// policy file's registries (set on g before client is called).
func (g *globals) apis(env *Env) registry.APIConfig {
	return registry.APIConfig{Default: registry.APISetting{API: registry.API(g.api), URL: g.apiURL}, Hosts: g.apiHosts, Getenv: env.Getenv}
}

// setRegistries takes a policy file's registries.
func (g *globals) setRegistries(regs map[string]config.RegistrySpec) {
	if len(regs) == 0 {
		return
	}
	g.apiHosts = map[string]registry.APISetting{}
	for h, r := range regs {
		g.apiHosts[h] = registry.APISetting{API: registry.API(r.API), URL: r.APIURL}
	}
}

// checkAPIs resolves the API of each host before any request: an
// --api-url auto cannot place is bad input.
func (g *globals) checkAPIs(env *Env, hosts []string) error {
	apis := g.apis(env)
	for _, h := range hosts {
		if _, err := apis.Resolve(h); err != nil {
			return usagef("%s: %v", h, err)
		}
	}
	return nil
}

func (g *globals) client(env *Env, log *slog.Logger) *registry.Client {
	return registry.New(registry.Options{
		APIs:                 g.apis(env),
		Keychain:             registry.Keychain(env.Getenv),
		Insecure:             g.insecure,
		PlainHTTPCredentials: g.plainCreds,
		Concurrency:          g.concurrency,
		MaxRequestsPerSecond: g.maxRPS,
		RequestTimeout:       g.requestTimeout,
		Logger:               log,
		UserAgent:            "regprune/" + g.build.userAgentVersion(),
	})
}

// ruleFlags are the one-off rule flags; they fill a config.RuleSpec.
type ruleFlags struct {
	keepTags, keepRegex, deleteRegex []string
	keepNewest                       int
	keepNewerThan, olderThan         string
	semverNewest                     int
	semverPer                        string
	groupRegex                       string
	groupNewest                      int
	allowEmpty                       bool
	untagUnkept                      bool
	ageFrom                          string
	deleteOrphans                    bool
	expireByLabel                    bool
	expiryLabels                     []string
}

// ruleFlag is one rule flag: its name, the policy-file keys it stands for
// (config's errors are told in the words of the flags: flagOf), and how
// it is registered. ruleFlagTable is the one list of them: add, any,
// flagOf and render all read it, and render writes a rule back in its
// order.
type ruleFlag struct {
	name string
	keys []string
	add  func(f *pflag.FlagSet, r *ruleFlags, name string)
}

var ruleFlagTable = []ruleFlag{
	{"keep-tag", []string{"keep.tags"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.StringArrayVar(&r.keepTags, n, nil, "keep the image this tag names (repeatable)")
	}},
	{"keep-regex", []string{"keep.regex"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.StringArrayVar(&r.keepRegex, n, nil, "keep images with a tag matching this RE2 expression, whole tag (repeatable)")
	}},
	{"keep-newest", []string{"keep.newest"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.IntVar(&r.keepNewest, n, 0, "keep the N newest images by build time")
	}},
	{"keep-newer-than", []string{"keep.newer_than"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.StringVar(&r.keepNewerThan, n, "", "keep images built less than this long ago (36h, 30d, 2w)")
	}},
	{"keep-semver", []string{"keep.semver", "keep.semver.newest"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.IntVar(&r.semverNewest, n, 0, "keep the N highest semver releases (per --semver-per)")
	}},
	{"semver-per", []string{"keep.semver.per"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.StringVar(&r.semverPer, n, "", "with --keep-semver: count per 'major' or 'minor' version line")
	}},
	{"keep-group-regex", []string{"keep.group", "keep.group.regex"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.StringVar(&r.groupRegex, n, "", "with --keep-group-newest: group images by this RE2's first capture group")
	}},
	{"keep-group-newest", []string{"keep.group.newest"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.IntVar(&r.groupNewest, n, 0, "keep the N newest images of each group")
	}},
	{"delete-regex", []string{"delete.regex"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.StringArrayVar(&r.deleteRegex, n, nil, "only images all of whose tags match this RE2 expression are candidates (repeatable)")
	}},
	{"older-than", []string{"delete.older_than"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.StringVar(&r.olderThan, n, "", "only images built longer ago than this are candidates (36h, 30d, 2w)")
	}},
	{"allow-empty", []string{"allow_empty"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.BoolVar(&r.allowEmpty, n, false, "allow a plan that deletes every image of a repository")
	}},
	{"age-from", []string{"age_from"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.StringVar(&r.ageFrom, n, "", "age source: created, label or annotation (default: created, then label, then annotation)")
	}},
	{"untag-unkept", []string{"untag_unkept"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.BoolVar(&r.untagUnkept, n, false, "also remove, from kept images, the tags no rule holds (default: a kept image keeps every tag)")
	}},
	{"delete-orphan-artifacts", []string{"delete_orphan_artifacts"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.BoolVar(&r.deleteOrphans, n, false, "delete signatures and referrers whose subject is in no image of the repository (listed as orphans otherwise)")
	}},
	{"expire-by-label", []string{"delete.expired_labels"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.BoolVar(&r.expireByLabel, n, false, "images whose expiry label (quay.expires-after: 2w from the build time) has passed are candidates; alone, only they are")
	}},
	{"expiry-label", []string{"delete.expiry_labels"}, func(f *pflag.FlagSet, r *ruleFlags, n string) {
		f.StringArrayVar(&r.expiryLabels, n, nil, "with --expire-by-label: also read this label or annotation key (repeatable)")
	}},
}

func (r *ruleFlags) add(cmd *cobra.Command) {
	for _, row := range ruleFlagTable {
		row.add(cmd.Flags(), r, row.name)
	}
}

// flagOf names the flag of each policy-file key a rule flag sets.
var flagOf = func() map[string]string {
	m := map[string]string{}
	for _, row := range ruleFlagTable {
		for _, k := range row.keys {
			m[k] = "--" + row.name
		}
	}
	return m
}()

// any reports whether a rule flag was given, other than those of except.
func (r *ruleFlags) any(cmd *cobra.Command, except ...string) bool {
	for _, row := range ruleFlagTable {
		if cmd.Flags().Changed(row.name) && !slices.Contains(except, row.name) {
			return true
		}
	}
	return false
}

func (r *ruleFlags) rule(cmd *cobra.Command, repos []string) (config.Rule, error) {
	spec := config.RuleSpec{
		Repositories: repos,
		Keep:         config.KeepSpec{Tags: r.keepTags, Regex: r.keepRegex, NewerThan: r.keepNewerThan},
		Delete:       config.DeleteSpec{Regex: r.deleteRegex, OlderThan: r.olderThan, ExpiredLabels: r.expireByLabel, ExpiryLabels: r.expiryLabels},
		AllowEmpty:   r.allowEmpty, AgeFrom: r.ageFrom, UntagUnkept: r.untagUnkept, DeleteOrphanArtifacts: r.deleteOrphans,
	}
	if cmd.Flags().Changed("keep-newest") {
		n := r.keepNewest
		spec.Keep.Newest = &n
	}
	if cmd.Flags().Changed("keep-semver") || cmd.Flags().Changed("semver-per") {
		spec.Keep.Semver = &config.SemverSpec{Newest: r.semverNewest, Per: r.semverPer}
	}
	if cmd.Flags().Changed("keep-group-regex") || cmd.Flags().Changed("keep-group-newest") {
		spec.Keep.Group = &config.GroupSpec{Regex: r.groupRegex, Newest: r.groupNewest}
	}
	rule, err := config.FromSpec("flags", spec)
	if err != nil {
		var fe *config.FieldError
		if errors.As(err, &fe) {
			return config.Rule{}, flagRule(fe)
		}
		return config.Rule{}, usagef("%v", err)
	}
	return rule, nil
}

func checkFormat(o string) error {
	for _, f := range report.Formats {
		if o == f {
			return nil
		}
	}
	return usagef("-o %q: want one of %s", o, strings.Join(report.Formats, ", "))
}

// targetsFromArgs resolves the repositories and their rules, without requests for
// literal names (globs in a policy file need the catalog).
func targetsFromArgs(args []string, rule config.Rule, insecure bool) ([]engine.Job, error) {
	seen := map[string]bool{}
	var out []engine.Job
	for _, a := range args {
		ref, err := parseRepository(a, insecure)
		if err != nil {
			return nil, usagef("%v", err)
		}
		if seen[ref.Name()] {
			continue
		}
		seen[ref.Name()] = true
		out = append(out, engine.Job{Repository: ref.Name(), Policy: rule.Policy, Rule: rule.Source})
	}
	return out, nil
}

// parseRepository checks the name of a repository, given as an argument
// or in a plan file, the one way: no scheme, registry.ParseRepository (a
// registry host, no :tag or @digest, distribution's grammar) and the
// pattern grammar of policy files and rules (config.ParsePattern: a host
// by DNS rules, no empty, "." or ".." path segment).
func parseRepository(s string, insecure bool) (name.Repository, error) {
	if err := registry.CheckNoUserinfo(s); err != nil {
		return name.Repository{}, err
	}
	if err := schemeHint(s); err != nil {
		return name.Repository{}, err
	}
	ref, err := registry.ParseRepository(s, insecure)
	if err != nil {
		return name.Repository{}, err
	}
	if _, err := config.ParsePattern(s); err != nil {
		return name.Repository{}, fmt.Errorf("repository %q: %v", s, err)
	}
	return ref, nil
}

// cacheFlags choose the manifest and config cache.
type cacheFlags struct {
	dir     string
	disable bool
}

func (c *cacheFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.dir, "cache-dir", "", "cache of manifests and configs by digest (default $XDG_CACHE_HOME/regprune, else ~/.cache/regprune)")
	f.BoolVar(&c.disable, "no-cache", false, "neither read nor write the cache")
}

// open returns the cache, or nil (with a warning) when it cannot be used:
// a run never fails for want of a cache.
func (c *cacheFlags) open(env *Env, log *slog.Logger) inventory.Cache {
	if c.disable {
		return nil
	}
	dir := c.dir
	if dir == "" {
		dir = cache.DefaultDir(env.Getenv)
	}
	if dir == "" {
		log.Warn("no cache directory: set XDG_CACHE_HOME or HOME, or give --cache-dir; running without a cache")
		return nil
	}
	cc, err := cache.Open(dir, cache.Options{Logger: log})
	if err != nil {
		log.Warn("running without a cache", "err", err)
		return nil
	}
	return cc
}
