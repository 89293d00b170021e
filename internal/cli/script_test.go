package cli_test

// The CLI contract tests: testdata/script/*.txtar, run by testscript. Each
// script runs the real regprune main (cli.Main, in a copy of this test
// binary, registered with testscript.Main) against its own in-process
// distribution v3 registry.
//
// Environment of every script:
//
//	$REGISTRY  host:port of the registry, seeded with ci/app: 5 CI builds
//	           (tags 1001..1005, "latest" on 1005), built 5d, 4d, 3d, 2d
//	           and 1d ago.
//	$PROXY     host:port of a counting proxy in front of the same registry.
//
// Commands added to testscript's:
//
//	exitcode N     the exit code of the last `exec regprune` was N.
//	requests N [KIND]
//	               the proxy has seen exactly N requests (! requests N: not
//	               N), of KIND when given: total, taglist, head, get,
//	               delete, blob, catalog.
//	jsonvalid F    F (or stdout/stderr) is exactly one JSON value, nothing
//	               else (! jsonvalid F: it is not).
//	tags REPO      print REPO's tags on the registry, sorted, one a line,
//	               to stdout (for the stdout command); none when the
//	               registry no longer knows REPO.
//	envsubst F...  replace $VAR in files with the script's environment.
//	runid          set $RUN to the run id the last stdout names ("run id: X").
//	gc             run the registry's garbage collector.
//	ghcr [TOKEN]   start the GHCR stand-in (sandbox/github.go) in front of
//	               the registry: $GHCR is its registry host, $GHCR_API its
//	               API URL; with TOKEN, the API requires it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/kubetest"
	"github.com/regprune/regprune/internal/registrytest"
)

// exitFileVar names the file the regprune command writes its exit code to,
// for the exitcode command: testscript's `! exec` only knows "non-zero".
const exitFileVar = "REGPRUNE_TEST_EXIT_FILE"

func TestMain(m *testing.M) {
	testscript.Main(ownHome{m}, map[string]func(){"regprune": regpruneMain})
}

// ownHome runs the tests (not the regprune commands testscript starts,
// which get their environment from the script) with XDG_STATE_HOME and
// XDG_CACHE_HOME in a directory of their own: the tests that run cli.Run
// with the process's environment would otherwise write the journal and
// the cache under the user's home, and read whatever another build of
// regprune left there.
type ownHome struct{ m *testing.M }

func (h ownHome) Run() int {
	dir, err := os.MkdirTemp("", "regprune-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "regprune test:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The kube-apiserver of the images-in-use tests is cached under the
	// user's cache directory: found there before XDG_CACHE_HOME moves.
	if apiserver, _, why := kubetest.Binaries(); why == "" && os.Getenv("REGPRUNE_KUBE_APISERVER") == "" {
		if err := os.Setenv("REGPRUNE_KUBE_APISERVER", apiserver); err != nil {
			fmt.Fprintln(os.Stderr, "regprune test:", err)
			return 1
		}
	}
	for k, sub := range map[string]string{"XDG_STATE_HOME": "state", "XDG_CACHE_HOME": "cache"} {
		if err := os.Setenv(k, filepath.Join(dir, sub)); err != nil {
			fmt.Fprintln(os.Stderr, "regprune test:", err)
			return 1
		}
	}
	return h.m.Run()
}

// regpruneMain runs the real main (cli.Main, all cmd/regprune does) and
// records its exit code for the exitcode command.
func regpruneMain() {
	code := cli.Main()
	if f := os.Getenv(exitFileVar); f != "" {
		if werr := os.WriteFile(f, []byte(strconv.Itoa(code)), 0o644); werr != nil {
			fmt.Fprintln(os.Stderr, "regprune test: writing the exit code:", werr)
			os.Exit(100)
		}
	}
	os.Exit(code)
}

type (
	registryKey struct{}
	proxyKey    struct{}
)

func TestScripts(t *testing.T) {
	golden := seedScriptRegistry(t)
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup:               func(e *testscript.Env) error { return setupScript(e, golden) },
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"exitcode":     cmdExitcode,
			"requests":     cmdRequests,
			"jsonvalid":    cmdJSONValid,
			"tags":         cmdTags,
			"envsubst":     cmdEnvsubst,
			"authregistry": cmdAuthRegistry,
			"waitrequests": cmdWaitRequests,
			"runid":        cmdRunID,
			"gc":           cmdGC,
			"ghcr":         cmdGHCR,
		},
	})
}

// setupScript starts a registry and a counting proxy for one script. The
// registries start on copies of golden (see seedScriptRegistry).
func setupScript(e *testscript.Env, golden string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg, err := registrytest.Start(ctx, registrytest.Options{From: golden})
	if err != nil {
		return err
	}
	e.Defer(func() { reg.Close() })
	proxy, err := registrytest.NewProxy(reg.URL, registrytest.ProxyOptions{})
	if err != nil {
		return err
	}
	e.Defer(func() { proxy.Close() })
	// A registry that refuses deletes ($NODELETE), seeded alike.
	nodel, err := registrytest.Start(ctx, registrytest.Options{DeleteDisabled: true, From: golden})
	if err != nil {
		return err
	}
	e.Defer(func() { nodel.Close() })
	e.Setenv("NODELETE", nodel.Host)
	e.Setenv("REGISTRY", reg.Host)
	e.Setenv("PROXY", proxy.Host)
	e.Setenv(exitFileVar, filepath.Join(e.WorkDir, ".regprune-exit"))
	// The journal of deletions lives in the script's own directory.
	e.Setenv("XDG_STATE_HOME", filepath.Join(e.WorkDir, ".state"))
	// A race-enabled binary sleeps 1 s at exit by default; each exec is one.
	e.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	e.Values[registryKey{}] = reg
	e.Values[proxyKey{}] = proxy
	return nil
}

// exitcode N: the last `exec regprune` exited with N. The recorded code is
// consumed, so a check never reads a stale one.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: exitcode N")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	f := ts.Getenv(exitFileVar)
	data, err := os.ReadFile(f)
	if errors.Is(err, os.ErrNotExist) {
		ts.Fatalf("no exit code recorded: run exec regprune first")
	}
	ts.Check(err)
	ts.Check(os.Remove(f))
	got, err := strconv.Atoi(string(data))
	ts.Check(err)
	if got != want {
		ts.Fatalf("regprune exited %d, want %d", got, want)
	}
}

// requests N [KIND]: the proxy has counted exactly N requests, of KIND
// when given (see requestKinds).
func cmdRequests(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: requests N [KIND]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	kind := "total"
	if len(args) == 2 {
		kind = args[1]
	}
	count, ok := requestKinds[kind]
	if !ok {
		ts.Fatalf("unknown request kind %q", kind)
	}
	c := ts.Value(proxyKey{}).(*registrytest.Proxy).Counts()
	got := count(c)
	switch {
	case !neg && got != want:
		ts.Fatalf("the proxy saw %d %s requests, want %d: %+v", got, kind, want, c)
	case neg && got == want:
		ts.Fatalf("the proxy saw %d %s requests, want another number", got, kind)
	}
	ts.Logf("requests: %+v", c)
}

var requestKinds = map[string]func(registrytest.Counts) int{
	"total":   func(c registrytest.Counts) int { return c.Total },
	"taglist": func(c registrytest.Counts) int { return c.TagList },
	"head":    func(c registrytest.Counts) int { return c.ManifestHEAD },
	"get":     func(c registrytest.Counts) int { return c.ManifestGET },
	"delete":  func(c registrytest.Counts) int { return c.ManifestDELETE },
	"blob":    func(c registrytest.Counts) int { return c.BlobGET },
	"catalog": func(c registrytest.Counts) int { return c.Catalog },
}

// envsubst FILE...: replace $VAR and ${VAR} in each file with the script's
// environment (policy files need $PROXY).
func cmdEnvsubst(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: envsubst FILE...")
	}
	for _, f := range args {
		data := ts.ReadFile(f)
		ts.Check(os.WriteFile(ts.MkAbs(f), []byte(os.Expand(data, ts.Getenv)), 0o644))
	}
}

// jsonvalid F: F holds exactly one JSON value and only whitespace around it.
func cmdJSONValid(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: jsonvalid FILE|stdout|stderr")
	}
	data := ts.ReadFile(args[0])
	err := oneJSONValue([]byte(data))
	switch {
	case !neg && err != nil:
		ts.Fatalf("%s: %v", args[0], err)
	case neg && err == nil:
		ts.Fatalf("%s is valid JSON", args[0])
	}
}

func oneJSONValue(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("empty")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the first JSON value (offset %d)", dec.InputOffset())
	}
	return nil
}

// tags REPO: REPO's tags on the script's registry, sorted, to stdout.
func cmdTags(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: tags REPO")
	}
	reg := ts.Value(registryKey{}).(*registrytest.Registry)
	tags, err := reg.Tags(context.Background(), args[0])
	ts.Check(err)
	slices.Sort(tags)
	if len(tags) > 0 {
		fmt.Fprintln(ts.Stdout(), strings.Join(tags, "\n"))
	} else {
		ts.Stdout() // an empty listing still replaces the last stdout
	}
}

func TestOneJSONValue(t *testing.T) {
	for in, ok := range map[string]bool{
		`{"a":1}`: true, "{\n}\n": true, `[1]`: true,
		``: false, ` `: false, `{"a":1}{"b":2}`: false, `{"a":1} x`: false, `{"a":`: false, `plan: {"a":1}`: false,
	} {
		if err := oneJSONValue([]byte(in)); (err == nil) != ok {
			t.Errorf("oneJSONValue(%q) = %v, want ok=%v", in, err, ok)
		}
	}
}

// runid: set $RUN to the run id of the last apply's table ("run id: X").
func cmdRunID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: runid")
	}
	for _, line := range strings.Split(ts.ReadFile("stdout"), "\n") {
		if rest, ok := strings.CutPrefix(line, "run id: "); ok {
			id, _, _ := strings.Cut(rest, " ")
			ts.Setenv("RUN", id)
			return
		}
	}
	ts.Fatalf("no run id in the last stdout")
}

// gc: run the registry's garbage collector (no request may be in flight).
func cmdGC(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: gc")
	}
	_, err := ts.Value(registryKey{}).(*registrytest.Registry).GC(context.Background())
	ts.Check(err)
}

// ghcr [TOKEN]: start the GHCR stand-in in front of the script's registry.
func cmdGHCR(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) > 1 {
		ts.Fatalf("usage: ghcr [TOKEN]")
	}
	var o registrytest.GitHubOptions
	if len(args) == 1 {
		o.Token = args[0]
	}
	g, err := registrytest.StartGitHub(ts.Value(registryKey{}).(*registrytest.Registry), o)
	ts.Check(err)
	ts.Defer(func() { g.Close() })
	ts.Setenv("GHCR", g.Host)
	ts.Setenv("GHCR_API", g.URL)
}
