package engine_test

// Authentication against distribution's real token access controller and
// the in-process token server: wrong credentials, a user who may only
// pull, and a Bearer token that expires in the middle of a run. Every test
// also checks that no password or token reaches the plan, the report or
// the log.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
	"github.com/regprune/regprune/internal/report"
)

const (
	aWriterPass = "wr1ter-Pa55word-9f3c"
	aReaderPass = "re4der-Pa55word-17ab"
)

func aRegistry(t *testing.T, ttl time.Duration) *registrytest.Registry {
	t.Helper()
	return registrytest.New(t, registrytest.Options{Auth: &registrytest.TokenAuth{TTL: ttl, Users: map[string]registrytest.TokenUser{
		"writer": {Password: aWriterPass, Actions: []string{"pull", "push", "delete"}},
		"reader": {Password: aReaderPass, Actions: []string{"pull"}},
	}}})
}

func aEnv(user, pass string) func(string) string {
	return func(k string) string {
		switch k {
		case "REGPRUNE_USERNAME":
			return user
		case "REGPRUNE_PASSWORD":
			return pass
		case "DOCKER_CONFIG":
			return "/nonexistent" // no docker credentials of the machine
		}
		return ""
	}
}

// aRun plans and applies with user's credentials; it returns the plan and
// everything the run wrote: the JSON and table reports and the debug log.
func aRun(t *testing.T, host, repo, user, pass string, o registry.Options) (*plan.Plan, *registry.Client, string) {
	t.Helper()
	ctx := context.Background()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.Keychain = registry.Keychain(aEnv(user, pass))
	o.Logger = log
	client := registry.New(o)
	eo := engine.Options{Client: client, Logger: log, Now: t0.Add(30 * 24 * time.Hour)}
	target := []engine.Job{{Repository: host + "/" + repo, Policy: keepTag("latest")}}
	p := engine.Plan(ctx, target, plan.ModeApply, eo)
	engine.Apply(ctx, p, eo)
	var out bytes.Buffer
	for _, f := range report.Formats {
		if err := report.Render(&out, p, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := engine.Result(p); err != nil {
		out.WriteString(err.Error())
	}
	return p, client, out.String() + logs.String()
}

func aNoSecret(t *testing.T, output string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if len(s) >= 6 && strings.Contains(output, s) {
			t.Errorf("output contains the secret %.4s…", s)
		}
	}
}

// Wrong password: a clear message, nothing deleted, no secret printed.
func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := aRegistry(t, 0)
	if _, err := reg.SeedCI(ctx, "app", 3, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	const wrong = "not-the-Pa55word-0042"
	for _, tc := range []struct{ user, pass, want string }{
		{"writer", wrong, "invalid username or password"},
		{"nobody", wrong, "invalid username or password"},
		{"", "", "401"}, // anonymous: a token that grants nothing
	} {
		p, client, output := aRun(t, reg.Host, "app", tc.user, tc.pass, registry.Options{})
		r := p.Repositories[0]
		t.Logf("user %q: %s", tc.user, r.Err)
		if !errors.Is(r.Err, registry.ErrUnauthorized) || plan.CodeOf(r.Err) != plan.ErrorRead {
			t.Errorf("%q: repository error %v (%s), want ErrUnauthorized while reading", tc.user, r.Err, plan.CodeOf(r.Err))
		}
		if !strings.Contains(output, tc.want) { // what the user reads
			t.Errorf("%q: output does not say %q:\n%s", tc.user, tc.want, output)
		}
		if err := engine.Result(p); !errors.Is(err, engine.ErrNothing) {
			t.Errorf("%q: result %v, want ErrNothing (exit 1)", tc.user, err)
		}
		if st := client.Stats().Snapshot(); st.Delete != 0 {
			t.Errorf("%q: %d DELETEs", tc.user, st.Delete)
		}
		aNoSecret(t, output, wrong, base64.StdEncoding.EncodeToString([]byte(tc.user+":"+wrong)))
	}
	if got := tags(t, reg, "app"); len(got) != 4 {
		t.Fatalf("tags %v: something was deleted", got)
	}
}

// A user who may only pull: the plan works, the first DELETE is refused
// (401 insufficient_scope), nothing else is attempted, nothing deleted.
func TestPullOnlyUserCannotDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := aRegistry(t, 0)
	if _, err := reg.SeedCI(ctx, "app", 4, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	rec := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	p, client, output := aRun(t, rec.Host, "app", "reader", aReaderPass, registry.Options{})
	r := p.Repositories[0]
	if r.Err != nil || r.Summary.Delete != 3 {
		t.Fatalf("plan: error %q, %d to delete", r.Err, r.Summary.Delete)
	}
	var failed, skipped int
	for _, it := range r.Items {
		switch {
		case it.Result == plan.ResultFailed:
			failed++
			if why := it.ResultReason; why.Code != plan.ReasonDeleteDenied || !errors.Is(why.Err, registry.ErrUnauthorized) {
				t.Errorf("refusal %s %v: want delete_denied with the 401", why.Code, why.Err)
			}
		case it.Result == plan.ResultSkipped && it.ResultReason.Code == plan.ReasonNotAttempted:
			skipped++
		case it.Result != "":
			t.Errorf("%s: %s %q", it.Digest, it.Result, it.ResultReason)
		}
	}
	if failed != 1 || skipped != 2 { // 3 deletions; latest keeps its job tag
		t.Errorf("%d failed, %d skipped; want 1 refusal and 2 not attempted", failed, skipped)
	}
	if err := engine.Result(p); !errors.Is(err, engine.ErrNothing) {
		t.Errorf("result %v, want ErrNothing (exit 1)", err)
	}
	// One DELETE, sent again once by the token transport after fetching a
	// token for the scope the challenge named.
	if c := rec.Counts(); c.ManifestDELETE < 1 || c.ManifestDELETE > 2 {
		t.Errorf("%d DELETEs reached the registry, want 1 (2 with the token retry)", c.ManifestDELETE)
	}
	t.Logf("pull-only user: %d DELETEs reached the registry, client sent %d requests", rec.Counts().ManifestDELETE, client.Stats().Snapshot().Requests)
	if got := tags(t, reg, "app"); len(got) != 5 {
		t.Fatalf("tags %v", got)
	}
	secrets := append(rec.Credentials(), aReaderPass)
	if len(secrets) < 2 {
		t.Fatal("no token recorded: the secret check proves nothing")
	}
	aNoSecret(t, output, secrets...)
}

// Tokens expire after 8 requests (by use, not by time: no test sleeps),
// and a run needs many more: the token is refreshed transparently and the
// run succeeds in full.
func TestTokenExpiresMidRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{Auth: &registrytest.TokenAuth{MaxUses: 8, Users: map[string]registrytest.TokenUser{
		"writer": {Password: aWriterPass, Actions: []string{"pull", "push", "delete"}},
	}}})
	if _, err := reg.SeedCI(ctx, "app", 10, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	// One request at a time: planning (about 35 requests) and applying
	// (about 35) each outlive several tokens.
	rec := registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{})
	before := reg.TokenRequests()
	start := time.Now()
	p, client, output := aRun(t, rec.Host, "app", "writer", aWriterPass, registry.Options{Concurrency: 1})
	took := time.Since(start)
	issued := reg.TokenRequests() - before
	if err := engine.Result(p); err != nil {
		t.Fatalf("result: %v", err)
	}
	if s := p.Summary; s.Deleted != 9 || s.Untagged != 0 {
		t.Fatalf("summary %+v", s)
	}
	if got := tags(t, reg, "app"); !slices.Equal(got, []string{"1010", "latest"}) {
		t.Fatalf("tags %v", got)
	}
	if err := reg.Pullable(ctx, "app:latest"); err != nil {
		t.Fatal(err)
	}
	// One token per repository opened (plan, apply); more means refreshes.
	if issued <= 2 {
		t.Errorf("%d tokens issued over the run: no refresh happened", issued)
	}
	st := client.Stats().Snapshot()
	t.Logf("8 uses a token: run of %d requests took %s (not asserted), %d tokens issued, %d distinct tokens seen by the registry",
		st.Requests, took.Round(time.Millisecond), issued, len(rec.Credentials()))
	aNoSecret(t, output, append(rec.Credentials(), aWriterPass)...)
}

// Issue 19 point 17: a registry of the Gitea family answers every 401
// with scope="*". regprune reads it as naming no resource, asks the token
// endpoint only for the repository's scopes (never "*", even after a
// token runs out and the challenge names "*" again), and plan and apply
// work. A challenge naming another repository is still refused
// (TestHostileChallengeWidensScope).
func TestWildcardChallengeScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{Auth: &registrytest.TokenAuth{WildcardScope: true, MaxUses: 8, Users: map[string]registrytest.TokenUser{
		"writer": {Password: aWriterPass, Actions: []string{"pull", "push", "delete"}},
	}}})
	if _, err := reg.SeedCI(ctx, "app", 4, t0, time.Hour); err != nil {
		t.Fatal(err)
	}
	before := len(reg.TokenScopes())
	p, _, output := aRun(t, reg.Host, "app", "writer", aWriterPass, registry.Options{Concurrency: 1})
	if err := engine.Result(p); err != nil {
		t.Fatalf("result: %v\n%s", err, output)
	}
	if s := p.Summary; s.Deleted != 3 {
		t.Fatalf("summary %+v", s)
	}
	asked := reg.TokenScopes()[before:]
	if len(asked) < 3 {
		t.Fatalf("token requests asked for %q: the tokens did not run out, the test proves little", asked)
	}
	for _, s := range asked {
		if s != "repository:app:pull" && s != "repository:app:pull,delete" && s != "repository:app:delete" {
			t.Errorf("the token endpoint was asked for %q; want only the repository's scopes", s)
		}
	}
	if got := tags(t, reg, "app"); len(got) != 2 {
		t.Fatalf("tags %v", got)
	}
}
