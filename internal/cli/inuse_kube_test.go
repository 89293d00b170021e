package cli_test

// The images in use, end to end: workloads in a real kube-apiserver (with
// etcd; internal/kubetest) on old builds of the seed's CI layout, then
// `regprune apply REPO --keep-tag latest --keep-in-use-from kubernetes`.
// Without the binaries the test skips and says why; CI sets
// REGPRUNE_REQUIRE_KUBE=1 when scripts/kube-test-binaries.sh's binary is
// cached.

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/kubetest"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registrytest"
	"github.com/regprune/regprune/internal/testnet"
)

type obj = map[string]any

func podSpec(containers ...obj) obj {
	return obj{"restartPolicy": "Never", "containers": containers}
}

func ctr(name, image string) obj { return obj{"name": name, "image": image} }

func template(spec obj) obj {
	return obj{"metadata": obj{"labels": obj{"app": "web"}}, "spec": spec}
}

func meta(name string) obj { return obj{"name": name, "namespace": "prod"} }

// rbacRole is the ClusterRole that deploy/kubernetes/rbac.yaml ships.
func rbacRole(t *testing.T) obj {
	t.Helper()
	for _, d := range yamlDocs(t, filepath.Join(repoRoot, "deploy", "kubernetes", "rbac.yaml")) {
		if d["kind"] == "ClusterRole" {
			return d
		}
	}
	t.Fatal("no ClusterRole in deploy/kubernetes/rbac.yaml")
	return nil
}

// bind binds ClusterRole role to user.
func bind(t *testing.T, c *kubetest.Cluster, role obj, user string) {
	t.Helper()
	c.Create(t, "/apis/rbac.authorization.k8s.io/v1/clusterroles", role)
	name := role["metadata"].(obj)["name"].(string)
	c.Create(t, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", obj{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
		"metadata": obj{"name": name + "-" + user},
		"roleRef":  obj{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
		"subjects": []any{obj{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}},
	})
}

func TestKubernetesInUse(t *testing.T) {
	c := kubetest.Start(t)
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	day := 24 * time.Hour
	builds, err := reg.SeedCI(ctx, "ci/app", 8, time.Now().Add(-30*day), day) // 1001..1008, latest = 1008
	if err != nil {
		t.Fatal(err)
	}
	idxImg, idx, err := reg.PushIndex(ctx, "ci/app", types.OCIImageIndex, []registrytest.Child{
		{Spec: &registrytest.ImageSpec{Created: time.Now().Add(-40 * day)}}, {Spec: &registrytest.ImageSpec{Created: time.Now().Add(-40 * day)}},
	}, nil, "multi-1")
	if err != nil {
		t.Fatal(err)
	}
	im, err := idxImg.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	child := im.Manifests[1].Digest
	sig, err := reg.Sign(ctx, "ci/app", idx, "sig")
	if err != nil {
		t.Fatal(err)
	}
	ref := func(s string) string { return reg.Host + "/ci/app" + s }

	// The cluster: a reader bound to rbac.yaml's ClusterRole, and a user
	// whose role lacks cronjobs.
	role := rbacRole(t)
	bind(t, c, role, "regprune")
	limited := obj{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": obj{"name": "limited"}, "rules": []any{}}
	for _, r := range role["rules"].([]any) {
		r := r.(obj)
		var res []any
		for _, x := range r["resources"].([]any) {
			if x != "cronjobs" {
				res = append(res, x)
			}
		}
		limited["rules"] = append(limited["rules"].([]any), obj{"apiGroups": r["apiGroups"], "resources": res, "verbs": r["verbs"]})
	}
	bind(t, c, limited, "limited")

	c.Namespace(t, "prod")
	sel := obj{"matchLabels": obj{"app": "web"}}
	c.Create(t, "/apis/apps/v1/namespaces/prod/deployments", obj{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
		"spec": obj{"selector": sel, "template": template(obj{"containers": []any{ctr("web", ref(":1002"))}})}})
	c.Create(t, "/api/v1/namespaces/prod/pods", obj{"apiVersion": "v1", "kind": "Pod", "metadata": meta("arm"),
		"spec": podSpec(ctr("arm", ref("@"+child.String())))})
	c.Create(t, "/apis/batch/v1/namespaces/prod/cronjobs", obj{"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta("nightly"),
		"spec": obj{"schedule": "0 3 * * *", "jobTemplate": obj{"spec": obj{"template": template(podSpec(ctr("job", ref(":1003"))))}}}})
	c.Create(t, "/apis/apps/v1/namespaces/prod/replicasets", obj{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta("web-old"),
		"spec": obj{"replicas": 0, "selector": sel, "template": template(obj{"containers": []any{ctr("web", ref(":1004"))}})}})
	c.Create(t, "/api/v1/namespaces/prod/pods", obj{"apiVersion": "v1", "kind": "Pod", "metadata": meta("with-init"),
		"spec": obj{"restartPolicy": "Never", "initContainers": []any{ctr("migrate", ref(":1005"))}, "containers": []any{ctr("app", ref(":latest"))}}})
	moved := c.Create(t, "/api/v1/namespaces/prod/pods", obj{"apiVersion": "v1", "kind": "Pod", "metadata": meta("moved"),
		"spec": podSpec(ctr("app", ref(":latest")))})
	// latest moved on since this pod started: its imageID is build 1006.
	moved["status"] = obj{"phase": "Running", "containerStatuses": []any{obj{"name": "app", "image": ref(":latest"),
		"imageID": ref("@" + builds[5].String()), "ready": true, "restartCount": 0, "state": obj{"running": obj{}}}}}
	c.UpdateStatus(t, "/api/v1/namespaces/prod/pods/moved/status", moved)
	ghost := "sha256:" + strings.Repeat("0", 64)
	c.Create(t, "/api/v1/namespaces/prod/pods", obj{"apiVersion": "v1", "kind": "Pod", "metadata": meta("ghost"),
		"spec": podSpec(ctr("app", ref("@"+ghost)))})
	// Another registry's name for the same path is another image.
	c.Create(t, "/api/v1/namespaces/prod/pods", obj{"apiVersion": "v1", "kind": "Pod", "metadata": meta("elsewhere"),
		"spec": podSpec(ctr("app", strings.Replace(ref(":1007"), "127.0.0.1", "localhost", 1)))})

	kc := c.Kubeconfig(t, [2]string{"reader", kubetest.ReaderToken}, [2]string{"limited", kubetest.LimitedToken},
		[2]string{"expired", kubetest.ExpiredToken})
	env := func() func(string) string {
		return envOf(map[string]string{"XDG_CACHE_HOME": t.TempDir(), "XDG_STATE_HOME": t.TempDir()})
	}
	tagsBefore, err := reg.Tags(ctx, "ci/app")
	if err != nil {
		t.Fatal(err)
	}

	// Sources that cannot be read stop the run: nothing deleted, exit 1.
	for _, tc := range []struct{ context, want string }{
		{"limited", "cronjobs.batch is forbidden"},
		{"expired", "unauthorized"},
	} {
		r := runRegprune(t, []string{"apply", "--yes", ref(""), "--keep-tag", "latest", "--keep-in-use-from", "kubernetes:" + tc.context,
			"--kubeconfig", kc, "-o", "json"}, env())
		if cli.ExitCode(r.err) != 1 || !strings.Contains(r.err.Error(), "kubernetes:"+tc.context) || !strings.Contains(r.err.Error(), tc.want) ||
			strings.Contains(r.err.Error()+r.stderr, "-token-") {
			t.Errorf("%s: exit %d, %v; want 1 naming the source and %s", tc.context, cli.ExitCode(r.err), r.err, tc.want)
		}
		t.Logf("%s: %v", tc.context, r.err)
		if tags, _ := reg.Tags(ctx, "ci/app"); !slices.Equal(sorted(tags), sorted(tagsBefore)) {
			t.Fatalf("%s: tags %v after a failed source, want %v", tc.context, tags, tagsBefore)
		}
	}

	r := runRegprune(t, []string{"apply", "--yes", ref(""), "--keep-tag", "latest", "--keep-in-use-from", "kubernetes",
		"--kubeconfig", kc, "-o", "json"}, env())
	if r.err != nil {
		t.Fatalf("apply: %v\n%s", r.err, r.stderr)
	}
	rp := r.plan.Repositories[0]
	want := map[string]string{ // kept image -> its workload
		builds[1].String(): "Deployment prod/web (context reader)",
		idx.String():       "Pod prod/arm (context reader)",
		builds[2].String(): "CronJob prod/nightly (context reader)",
		builds[3].String(): "ReplicaSet prod/web-old (context reader)",
		builds[4].String(): "Pod prod/with-init (context reader)",
		builds[5].String(): "Pod prod/moved (context reader)",
	}
	deleted := map[string]bool{}
	for _, it := range rp.Items {
		if it.Result == plan.ResultDeleted {
			deleted[it.Digest] = true
		}
		if w, ok := want[it.Digest]; ok {
			if it.Action != plan.ActionKeep || !plan.HasCode(it.Reasons, "keep_in_use") || !strings.Contains(it.Reasons[0].String(), "kept: in use by") ||
				!strings.Contains(it.Reasons[0].String(), w) {
				t.Errorf("%s %v: %s %v; want kept in use by %s", it.Digest[:19], it.Tags, it.Action, plan.Texts(it.Reasons), w)
			}
		}
	}
	for _, d := range []v1.Hash{builds[0], builds[6]} {
		if !deleted[d.String()] {
			t.Errorf("%s not deleted", d)
		}
	}
	if len(deleted) != 2 {
		t.Errorf("deleted %d manifests, want 2 (builds 1001 and 1007)", len(deleted))
	}
	if u := r.plan.InUse; u == nil || u.Sources != 1 || u.Images != 7 || u.References != 9 {
		t.Errorf("in_use %+v; want 1 source, 7 images (latest too), 9 references", u)
	}
	if len(rp.InUseMissing) != 1 || rp.InUseMissing[0].Reference != ref("@"+ghost) || !slices.Equal(rp.InUseMissing[0].UsedBy, []string{"Pod prod/ghost (context reader)"}) {
		t.Errorf("in_use_missing %+v", rp.InUseMissing)
	}

	// At the registry, after its GC: every image in use pulls in full.
	if _, err := reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	pulls := reg.PullSet()
	for _, d := range append([]string{child.String(), sig.String(), builds[7].String()}, keys(want)...) {
		if err := pulls.Pullable(ctx, "ci/app@"+d); err != nil {
			t.Errorf("in use, after GC: %v", err)
		}
	}
	for _, tag := range []string{"1002", "1003", "1004", "1005", "1006", "multi-1", "latest", "1008"} {
		if err := pulls.Pullable(ctx, "ci/app:"+tag); err != nil {
			t.Errorf("tag %s after GC: %v", tag, err)
		}
	}
}

// An unreachable cluster: exit 1, nothing deleted (no binaries needed).
func TestKubernetesUnreachable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.SeedCI(ctx, "ci/app", 3, time.Now().Add(-10*24*time.Hour), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"https://" + testnet.RefusedAddr(t) + "\"}\n" +
		"users:\n- name: u\n  user: {token: t0ken}\ncontexts:\n- name: prod\n  context: {cluster: c, user: u}\ncurrent-context: prod\n"
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	list := filepath.Join(t.TempDir(), "images.txt")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unreachable cluster", []string{"--keep-in-use-from", "kubernetes", "--kubeconfig", kc}, "kubernetes"},
		{"unknown context", []string{"--keep-in-use-from", "kubernetes:staging", "--kubeconfig", kc}, `no context "staging"`},
		{"missing file", []string{"--keep-in-use-from", "file:" + list}, "images.txt"},
	} {
		r := runRegprune(t, append([]string{"apply", "--yes", reg.Ref("ci/app"), "--keep-tag", "latest", "-o", "json"}, tc.args...),
			envOf(map[string]string{"XDG_CACHE_HOME": t.TempDir(), "XDG_STATE_HOME": t.TempDir()}))
		t.Logf("%s: %v", tc.name, r.err)
		if cli.ExitCode(r.err) != 1 || !strings.Contains(r.err.Error(), tc.want) || strings.Contains(r.err.Error(), "t0ken") {
			t.Errorf("%s: exit %d, %v; want 1 naming %s", tc.name, cli.ExitCode(r.err), r.err, tc.want)
		}
		if tags, _ := reg.Tags(ctx, "ci/app"); len(tags) != 4 {
			t.Errorf("%s: tags %v, want all 4", tc.name, tags)
		}
	}
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
