package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/regprune/regprune/internal/config"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
)

// flagError turns pflag's parse errors into messages that name the flag
// and what it wants, without strconv's words, and suggests a flag for a
// misspelled one.
func flagError(cmd *cobra.Command, err error) error {
	var (
		iv *pflag.InvalidValueError
		ne *pflag.NotExistError
	)
	switch {
	case errors.As(err, &iv):
		f := iv.GetFlag()
		return usagef("--%s %q: %s", f.Name, iv.GetValue(), wantOf(f))
	case errors.As(err, &ne):
		// A misspelt command ("regprune aply REPO --keep-tag x") reaches
		// here as the root's unknown flag: name the command instead.
		if args := cmd.Flags().Args(); !cmd.HasParent() && len(args) > 0 {
			return usagef("unknown command %q for %q%s", args[0], cmd.CommandPath(), suggestCommand(cmd, args))
		}
		name := ne.GetSpecifiedName()
		msg := err.Error()
		if s := suggestFlag(cmd, name); s != "" {
			msg += "; did you mean --" + s + "?"
		}
		return usagef("%s (see %s --help)", msg, cmd.CommandPath())
	}
	return usagef("%v", err)
}

// wantOf says what values a flag takes.
func wantOf(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "int", "count":
		return "want a whole number"
	case "float64":
		return "want a number"
	case "duration":
		return "want a duration such as 30s, 5m or 1h"
	case "bool":
		return "want true or false"
	}
	return "invalid value"
}

// suggestFlag returns the flag of cmd closest to name (without dashes),
// or "" when none is close.
func suggestFlag(cmd *cobra.Command, name string) string {
	name = strings.TrimLeft(name, "-")
	if name == "" {
		return ""
	}
	best, bestD := "", 3
	visit := func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		d := policy.EditDistance(name, f.Name, bestD+1)
		if strings.HasPrefix(f.Name, name) || strings.HasPrefix(name, f.Name) {
			d = min(d, 1)
		}
		if d < bestD || (d == bestD && f.Name < best) {
			best, bestD = f.Name, d
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	return best
}

// suggestCommand appends cobra's suggestions for an unknown subcommand.
func suggestCommand(cmd *cobra.Command, args []string) string {
	if len(args) == 0 || !cmd.HasSubCommands() {
		return ""
	}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	s := cmd.SuggestionsFor(args[0])
	if len(s) == 0 {
		return ""
	}
	sort.Strings(s)
	return "; did you mean " + strings.Join(s, " or ") + "?"
}

// schemeHint explains a repository given as a URL.
func schemeHint(arg string) error {
	for _, s := range []string{"https://", "http://", "oci://", "docker://"} {
		if len(arg) > len(s) && strings.EqualFold(arg[:len(s)], s) {
			hint := ""
			if strings.EqualFold(s, "http://") {
				hint = " (plain HTTP is used for loopback hosts; --insecure allows it elsewhere)"
			}
			return fmt.Errorf("repository %q: drop the scheme and give host[:port]/path: %s%s", arg, arg[len(s):], hint)
		}
	}
	return nil
}

// checkCredentialEnv refuses half-set credentials before any request.
func checkCredentialEnv(getenv func(string) string) error {
	u, p := getenv("REGPRUNE_USERNAME"), getenv("REGPRUNE_PASSWORD")
	switch {
	case u != "" && p == "":
		return usagef("REGPRUNE_USERNAME is set but REGPRUNE_PASSWORD is empty: set both, or neither")
	case u == "" && p != "":
		return usagef("REGPRUNE_PASSWORD is set but REGPRUNE_USERNAME is empty: set both, or neither")
	}
	return nil
}

// flagRule rewrites a rule error from config in the words of the flags:
// the field becomes the flag, and key names in the problem become flags.
func flagRule(fe *config.FieldError) error {
	name := flagOf[fe.Field]
	if name == "" {
		name = fe.Field
	}
	e := *fe
	pairs := []string{"leave the key out", "leave the flag out", "leave it out", "leave the flag out"}
	keys := make([]string, 0, len(flagOf))
	for k := range flagOf {
		keys = append(keys, k)
	}
	// Longest first, so that keep.semver.per is not read as keep.semver.
	sort.Slice(keys, func(i, j int) bool {
		return len(keys[i]) > len(keys[j]) || (len(keys[i]) == len(keys[j]) && keys[i] < keys[j])
	})
	for _, k := range keys {
		pairs = append(pairs, k, flagOf[k])
	}
	e.Problem = strings.NewReplacer(pairs...).Replace(e.Problem)
	return usagef("%s", e.Named(name))
}

// explain adds what an operator needs to act on a repository's failure:
// the credential source behind a 401 or 403, the flag behind a deadline.
func explain(ctx context.Context, creds func(host string) string, repo string, err error) error {
	switch {
	case errors.Is(err, registry.ErrUnauthorized), errors.Is(err, registry.ErrDenied):
		host, _, _ := strings.Cut(repo, "/")
		return fmt.Errorf("%w (credentials: %s)", err, creds(host))
	case ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.DeadlineExceeded) {
			return fmt.Errorf("%w (%v)", err, c)
		}
	case errors.Is(err, http.ErrSchemeMismatch):
		// Plain HTTP is tried on its own only for loopback hosts (and
		// with --insecure); elsewhere this answer means it is needed.
		if host, _, _ := strings.Cut(repo, "/"); !registry.IsLoopback(host) {
			return fmt.Errorf("%w (%s speaks plain HTTP: pass --insecure to use it, for a registry you trust)", err, host)
		}
	}
	return err
}
