package cli_test

// Tests of the ready-made integrations under deploy/ and the Dockerfile:
// the YAML parses, names the image the Dockerfile builds, and the regprune
// commands in it run against the in-process registry (with the example
// registry host replaced by the test registry's). Kubernetes and GitLab
// themselves cannot run here; what they add (scheduling, volumes, rules)
// is checked structurally.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registrytest"
)

const repoRoot = "../.."

// dockerImage is the image name the Dockerfile says it builds.
func dockerImage(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^# image: (\S+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("the Dockerfile does not say which image it builds (# image: NAME)")
	}
	s := string(data)
	for _, want := range []string{"CGO_ENABLED=0", "\nUSER 65532", " AS build", "COPY --from=build"} {
		if !strings.Contains(s, want) {
			t.Errorf("the Dockerfile lacks %q (static, non-root, multi-stage)", want)
		}
	}
	return string(m[1])
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

// dig walks nested maps and lists: dig(doc, "spec", "containers", 0).
func dig(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a mapping at %q", path, k)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("%v: no item %d", path, k)
			}
			v = l[k]
		}
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// deployRegistry seeds five repositories under ci/ and team/ with 12
// builds each, one a day, the oldest 19 days old.
func deployRegistry(t *testing.T) (*registrytest.Registry, []string) {
	t.Helper()
	ctx := context.Background()
	reg, err := registrytest.Start(ctx, registrytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	repos := []string{"ci/app", "ci/base", "team/api", "team/web", "team/worker"}
	day := 24 * time.Hour
	for _, r := range repos {
		builds, err := reg.SeedCI(ctx, r, 12, time.Now().Add(-20*day), day)
		if err != nil {
			t.Fatal(err)
		}
		// The ConfigMap's policy keeps release-.* under ci/: with
		// --strict, a keep regex that matches nothing would fail the run.
		if strings.HasPrefix(r, "ci/") {
			if err := reg.Tag(ctx, r, builds[0], "release-1"); err != nil {
				t.Fatal(err)
			}
		}
	}
	return reg, repos
}

type runResult struct {
	plan   plan.Plan
	stdout string
	stderr string
	err    error
}

func runRegprune(t *testing.T, args []string, getenv func(string) string) runResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := cli.Run(context.Background(), args, cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
	res := runResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
	if err == nil && slices.Contains(args, "json") {
		if jerr := json.Unmarshal(stdout.Bytes(), &res.plan); jerr != nil {
			t.Fatalf("regprune %s: stdout is not a JSON plan: %v", strings.Join(args, " "), jerr)
		}
	}
	return res
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestKubernetesManifests(t *testing.T) {
	t.Parallel() // its own registry, nothing global
	image := dockerImage(t)
	dir := filepath.Join(repoRoot, "deploy", "kubernetes")
	var policy string
	for _, d := range yamlDocs(t, filepath.Join(dir, "configmap.yaml")) {
		if d["kind"] == "ConfigMap" {
			policy = dig(t, d, "data", "policy.yaml").(string)
		}
	}
	if policy == "" {
		t.Fatal("no policy.yaml in configmap.yaml")
	}
	kust := yamlDocs(t, filepath.Join(dir, "kustomization.yaml"))
	for _, r := range strs(dig(t, kust[0], "resources")) {
		if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}

	reg, repos := deployRegistry(t)
	work := t.TempDir()
	policyPath := filepath.Join(work, "policy.yaml")
	if err := os.WriteFile(policyPath, []byte(strings.ReplaceAll(policy, "registry.example.com", reg.Host)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The policy validates on its own, in_use and all.
	if r := runRegprune(t, []string{"validate", policyPath}, envOf(nil)); r.err != nil || !strings.Contains(r.stdout, "in use from kubernetes") {
		t.Fatalf("the ConfigMap's policy: %v %s", r.err, r.stdout)
	}
	// There is no cluster here: the runs below go without the in-use
	// source, which TestKubernetesInUse reads from a real API server
	// with rbac.yaml's ClusterRole.
	if err := os.WriteFile(policyPath, []byte(withoutInUse(strings.ReplaceAll(policy, "registry.example.com", reg.Host))), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, file := range []string{"cronjob.yaml", "cronjob-indexed.yaml"} {
		t.Run(file, func(t *testing.T) {
			var cron map[string]any
			for _, d := range yamlDocs(t, filepath.Join(dir, file)) {
				if d["kind"] == "CronJob" {
					cron = d
				}
			}
			if cron == nil {
				t.Fatal("no CronJob")
			}
			job := dig(t, cron, "spec", "jobTemplate", "spec")
			pod := dig(t, job, "template", "spec")
			c := dig(t, pod, "containers", 0)
			if got := dig(t, c, "image"); got != image {
				t.Errorf("image %v, the Dockerfile builds %s", got, image)
			}
			if dig(t, pod, "securityContext", "runAsNonRoot") != true {
				t.Error("the pod may run as root")
			}
			if dig(t, c, "securityContext", "readOnlyRootFilesystem") != true {
				t.Error("the root filesystem is writable")
			}
			env := map[string]string{}
			for _, e := range dig(t, c, "env").([]any) {
				if v, ok := e.(map[string]any)["value"].(string); ok {
					env[e.(map[string]any)["name"].(string)] = v
				}
			}
			mounts := map[string]bool{}
			for _, m := range dig(t, c, "volumeMounts").([]any) {
				mounts[m.(map[string]any)["mountPath"].(string)] = true
			}
			for _, p := range []string{env["DOCKER_CONFIG"], env["XDG_CACHE_HOME"], "/policy"} {
				if !mounts[p] {
					t.Errorf("%s is not a mounted volume", p)
				}
			}
			if state := env["XDG_STATE_HOME"]; state == "" || !mounts[filepath.Dir(state)] && !mounts[state] {
				t.Errorf("the journal (XDG_STATE_HOME %q) is not on a mounted volume", state)
			}
			checkJournalVolume(t, job, pod, c, env["XDG_STATE_HOME"], yamlDocs(t, filepath.Join(dir, file)))
			args := strs(dig(t, c, "args"))
			for i, a := range args {
				if a == "/policy/policy.yaml" {
					args[i] = policyPath
				}
			}
			shards := 1
			if dig(t, job, "completionMode") == "Indexed" {
				shards = dig(t, job, "completions").(int)
				if !slices.Contains(args, "/"+strconv.Itoa(shards)) {
					t.Errorf("an Indexed Job of %d pods without --shard /%d: %v", shards, shards, args)
				}
			}
			// Each pod of the job, against the test registry (plan first,
			// so that the check runs against the full registry).
			// apply asks nothing here: no terminal in a pod, so --yes.
			if !slices.Contains(args, "--yes") {
				t.Errorf("apply without --yes fails with no terminal: %v", args)
			}
			planArgs := []string{"plan"}
			for _, a := range args[1:] {
				if a != "--yes" {
					planArgs = append(planArgs, a)
				}
			}
			seen := map[string]int{}
			for i := 0; i < shards; i++ {
				r := runRegprune(t, planArgs, envOf(map[string]string{
					"JOB_COMPLETION_INDEX": strconv.Itoa(i), "XDG_CACHE_HOME": t.TempDir(),
				}))
				if r.err != nil {
					t.Fatalf("pod %d: %v\n%s", i, r.err, r.stderr)
				}
				for _, rp := range r.plan.Repositories {
					seen[rp.Name]++
					if rp.Summary.Delete == 0 || rp.Summary.Keep == 0 {
						t.Errorf("pod %d, %s: keep %d, delete %d", i, rp.Name, rp.Summary.Keep, rp.Summary.Delete)
					}
				}
			}
			for _, r := range repos {
				if seen[reg.Host+"/"+r] != 1 {
					t.Errorf("%s planned by %d pods, want 1", r, seen[reg.Host+"/"+r])
				}
			}
		})
	}
	// The single CronJob's command, applied, deletes.
	r := runRegprune(t, []string{"apply", "--yes", "-f", policyPath, "-o", "json"}, envOf(map[string]string{"XDG_CACHE_HOME": t.TempDir(), "XDG_STATE_HOME": t.TempDir()}))
	if r.err != nil || r.plan.Summary.Deleted == 0 || r.plan.Summary.FailedItems != 0 {
		t.Fatalf("apply: %v, %+v\n%s", r.err, r.plan.Summary, r.stderr)
	}
}

// withoutInUse drops the in_use block from a policy file.
func withoutInUse(policy string) string {
	var out []string
	skip := false
	for _, l := range strings.Split(policy, "\n") {
		switch {
		case strings.HasPrefix(l, "in_use:"):
			skip = true
			continue
		case skip && strings.HasPrefix(l, " "):
			continue
		}
		skip = false
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// shellWords splits a script line like sh does for the simple lines of the
// template: words, double and single quotes, and one "> FILE" redirect.
func shellWords(t *testing.T, line string) (words []string, redirect string) {
	t.Helper()
	var (
		cur   strings.Builder
		quote rune
		in    bool
		next  bool // the next word is the redirect target
	)
	flush := func() {
		if !in {
			return
		}
		if next {
			redirect, next = cur.String(), false
		} else {
			words = append(words, cur.String())
		}
		cur.Reset()
		in = false
	}
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			flush()
		case r == '>':
			flush()
			next = true
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("unbalanced quote in %q", line)
	}
	flush()
	return words, redirect
}

func TestGitLabTemplate(t *testing.T) {
	image := dockerImage(t)
	dir := filepath.Join(repoRoot, "deploy", "gitlab")
	doc := yamlDocs(t, filepath.Join(dir, "regprune.gitlab-ci.yml"))[0]
	vars := dig(t, doc, "variables").(map[string]any)
	if vars["REGPRUNE_IMAGE"] != image {
		t.Errorf("REGPRUNE_IMAGE %v, the Dockerfile builds %s", vars["REGPRUNE_IMAGE"], image)
	}
	job := dig(t, doc, "regprune").(map[string]any)
	if dig(t, job, "image", "name") != "$REGPRUNE_IMAGE" {
		t.Errorf("the job's image is %v", dig(t, job, "image", "name"))
	}
	// One job: every other top-level key is a keyword.
	for k := range doc {
		if k != "regprune" && k != "variables" {
			t.Errorf("a second top-level entry %q", k)
		}
	}
	// Rules: schedules with REGPRUNE_APPLY apply, everything else plans.
	modes := map[string]bool{}
	ruleVars := map[string]map[string]any{}
	for _, r := range dig(t, job, "rules").([]any) {
		rule := r.(map[string]any)
		mode := dig(t, rule, "variables", "REGPRUNE_MODE").(string)
		modes[mode] = true
		ruleVars[mode] = dig(t, rule, "variables").(map[string]any)
		if mode == "apply" && !strings.Contains(rule["if"].(string), `$REGPRUNE_APPLY == "true"`) {
			t.Errorf("apply without the REGPRUNE_APPLY opt-in: %v", rule["if"])
		}
		if mode == "apply" && !strings.Contains(rule["if"].(string), `"schedule"`) {
			t.Errorf("apply outside schedules: %v", rule["if"])
		}
	}
	if !modes["plan"] || !modes["apply"] {
		t.Fatalf("modes %v", modes)
	}
	policyName := vars["REGPRUNE_POLICY"].(string)
	policy, err := os.ReadFile(filepath.Join(dir, "regprune-policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	artifacts := strs(dig(t, job, "artifacts", "paths"))

	// Run the script's regprune lines in a project directory, as the
	// runner would: first a merge request's plan, then a scheduled apply.
	ctx := context.Background()
	reg, err := registrytest.Start(ctx, registrytest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, r := range []string{"group/project/fedora/28", "group/project/ubuntu/18.04", "group/other/app"} {
		builds, err := reg.SeedCI(ctx, r, 6, time.Now().Add(-7*24*time.Hour), 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		// The policy keeps release-.*, and the job runs with --strict.
		if err := reg.Tag(ctx, r, builds[0], "release-1"); err != nil {
			t.Fatal(err)
		}
	}
	// The policy's pattern is resolved through GitLab's API (the
	// stand-in refuses _catalog, as GitLab does).
	gl, err := registrytest.StartGitLab(reg, registrytest.GitLabOptions{Projects: []string{"group/project", "group/other"}, Token: "job-token-0123"})
	if err != nil {
		t.Fatal(err)
	}
	defer gl.Close()
	project := t.TempDir()
	t.Chdir(project)
	if err := os.MkdirAll(filepath.Dir(policyName), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(policyName, bytes.ReplaceAll(policy, []byte("registry.gitlab.example.com"), []byte(gl.Host)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"plan", "apply"} {
		env := map[string]string{
			"REGPRUNE_MODE": mode, "REGPRUNE_POLICY": policyName, "CI_REGISTRY": gl.Host,
			"REGPRUNE_REGISTRY": gl.Host, "CI_API_V4_URL": gl.URL, "CI_JOB_TOKEN": "job-token-0123", "XDG_CACHE_HOME": filepath.Join(project, ".cache"),
			"XDG_STATE_HOME": filepath.Join(project, ".cache", "state"),
			"CI_PROJECT_DIR": project,
		}
		for k, v := range ruleVars[mode] {
			env[k] = v.(string)
		}
		for _, line := range strs(dig(t, job, "script")) {
			words, redirect := shellWords(t, os.Expand(line, func(k string) string { return env[k] }))
			if len(words) == 0 || words[0] != "regprune" {
				t.Fatalf("a script line that is not a regprune command: %q", line)
			}
			var stdout, stderr bytes.Buffer
			err := cli.Run(ctx, words[1:], cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: envOf(env)})
			if err != nil {
				t.Fatalf("%s: %q: %v\n%s", mode, words, err, stderr.String())
			}
			if redirect != "" {
				if err := os.WriteFile(redirect, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, a := range artifacts {
			if fi, err := os.Stat(a); err != nil || fi.Size() == 0 {
				t.Errorf("%s: artifact %s: %v", mode, a, err)
			}
		}
		var p plan.Plan
		data, _ := os.ReadFile("regprune-plan.json")
		if err := json.Unmarshal(data, &p); err != nil {
			t.Fatalf("%s: regprune-plan.json: %v", mode, err)
		}
		md, _ := os.ReadFile("regprune.md")
		if string(p.Mode) != mode || p.Summary.Repositories != 2 || !bytes.HasPrefix(md, []byte("## regprune "+mode)) {
			t.Errorf("%s: mode %s, %d repositories; markdown %.40q", mode, p.Mode, p.Summary.Repositories, md)
		}
		if mode == "plan" && (p.Summary.Delete == 0 || p.Summary.Deleted != 0) {
			t.Errorf("plan: %+v", p.Summary)
		}
		if mode == "apply" && (p.Summary.Deleted == 0 || p.Summary.FailedItems != 0) {
			t.Errorf("apply: %+v", p.Summary)
		}
	}
}
