package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/regprune/regprune"

// deps lists the packages pkg is built from (tests excluded), with go list.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
	}
	list := strings.Fields(string(out))
	if len(list) == 0 {
		t.Fatalf("go list -deps %s listed nothing", pkg)
	}
	return list
}

// The product binary carries neither the test harness nor the registry
// server: those live in internal/sandbox, used by cmd/regprune-demo, the
// benchmark and (through internal/registrytest) the tests.
func TestProductBinaryDeps(t *testing.T) {
	list := deps(t, module+"/cmd/regprune")
	banned := []string{
		"testing", "net/http/httptest",
		"github.com/distribution/distribution/v3",
		module + "/internal/sandbox", module + "/internal/registrytest", module + "/internal/demo",
		module + "/internal/kubetest",
		// The Kubernetes source reads with client-go's rest client and
		// decodes plain JSON: the typed clientset and the API types
		// would add 22 MB to the stripped binary (bench/README.md, Size).
		"k8s.io/client-go/kubernetes", "k8s.io/api",
	}
	for _, p := range list {
		for _, b := range banned {
			if p == b || strings.HasPrefix(p, b+"/") {
				t.Errorf("cmd/regprune depends on %s", p)
			}
		}
	}
	if !slices.Contains(list, module+"/internal/engine") {
		t.Errorf("go list -deps cmd/regprune lacks internal/engine: %v", list)
	}
}

// Policy code is pure: the standard library, each other, and the semver
// library, nothing else.
func TestPolicyDeps(t *testing.T) {
	allowed := func(p string) bool {
		return p == module+"/internal/policy" || p == module+"/internal/graph" ||
			p == "github.com/Masterminds/semver/v3" ||
			!strings.Contains(strings.SplitN(p, "/", 2)[0], ".") // standard library
	}
	for _, pkg := range []string{"internal/policy", "internal/graph"} {
		for _, p := range deps(t, module+"/"+pkg) {
			if !allowed(p) {
				t.Errorf("%s depends on %s: policy code may import only the standard library and github.com/Masterminds/semver/v3", pkg, p)
			}
		}
	}
}

// The harness the demo and the benchmark use is not test code.
func TestSandboxDeps(t *testing.T) {
	for _, p := range deps(t, module+"/internal/sandbox") {
		if p == "testing" || p == "net/http/httptest" {
			t.Errorf("internal/sandbox depends on %s", p)
		}
	}
}

// The in-use matching is pure too: references, lists and kubectl JSON
// are read with the standard library; only internal/inuse/kube, which
// the CLI alone imports, speaks to a cluster.
func TestInUseDeps(t *testing.T) {
	for _, p := range deps(t, module+"/internal/inuse") {
		if strings.Contains(strings.SplitN(p, "/", 2)[0], ".") && !strings.HasPrefix(p, module+"/internal/") &&
			p != "github.com/Masterminds/semver/v3" {
			t.Errorf("internal/inuse depends on %s", p)
		}
	}
	for _, pkg := range []string{"internal/engine", "internal/plan", "internal/apply"} {
		for _, p := range deps(t, module+"/"+pkg) {
			if strings.HasPrefix(p, "k8s.io/") {
				t.Errorf("%s depends on %s: only internal/inuse/kube may", pkg, p)
			}
		}
	}
}

// Rendering lives apart from the model: internal/plan (the model, Build,
// Load and the plan-file JSON) has no template or table writer, and
// internal/report renders a plan without speaking to a registry, a
// journal or the engine.
func TestReportDeps(t *testing.T) {
	for _, p := range deps(t, module+"/internal/plan") {
		if p == "html/template" || p == "text/template" || p == "text/tabwriter" || p == module+"/internal/report" {
			t.Errorf("internal/plan depends on %s: rendering for people belongs in internal/report", p)
		}
	}
	for _, p := range deps(t, module+"/internal/report") {
		for _, b := range []string{"internal/registry", "internal/engine", "internal/apply", "internal/journal", "internal/inventory"} {
			if p == module+"/"+b {
				t.Errorf("internal/report depends on %s", p)
			}
		}
	}
}
