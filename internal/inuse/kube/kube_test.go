package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/inuse"
	"github.com/regprune/regprune/internal/kubetest"
)

type obj = map[string]any

// Every kind is read, in every namespace, across pages (limit 2).
func TestReadEveryKindAcrossPages(t *testing.T) {
	c := kubetest.Start(t)
	for _, ns := range []string{"a", "b"} {
		c.Namespace(t, ns)
	}
	sel := obj{"matchLabels": obj{"app": "x"}}
	tmpl := func(image string) obj {
		return obj{"metadata": obj{"labels": obj{"app": "x"}}, "spec": obj{"restartPolicy": "Never", "containers": []any{obj{"name": "c", "image": image}}}}
	}
	tmplAlways := func(image string) obj {
		t := tmpl(image)
		t["spec"].(obj)["restartPolicy"] = "Always"
		return t
	}
	want := map[string]string{}
	for i := range 5 {
		ns := []string{"a", "b"}[i%2]
		img := fmt.Sprintf("reg.example/app:pod%d", i)
		c.Create(t, "/api/v1/namespaces/"+ns+"/pods", obj{"apiVersion": "v1", "kind": "Pod", "metadata": obj{"name": fmt.Sprintf("p%d", i)},
			"spec": obj{"restartPolicy": "Never", "containers": []any{obj{"name": "c", "image": img}},
				"ephemeralContainers": nil}})
		want[img] = fmt.Sprintf("Pod %s/p%d", ns, i)
	}
	c.Create(t, "/apis/apps/v1/namespaces/a/statefulsets", obj{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": obj{"name": "db"},
		"spec": obj{"selector": sel, "serviceName": "db", "template": tmplAlways("reg.example/app:sts")}})
	want["reg.example/app:sts"] = "StatefulSet a/db"
	c.Create(t, "/apis/apps/v1/namespaces/b/daemonsets", obj{"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": obj{"name": "agent"},
		"spec": obj{"selector": sel, "template": tmplAlways("reg.example/app:ds")}})
	want["reg.example/app:ds"] = "DaemonSet b/agent"
	c.Create(t, "/apis/batch/v1/namespaces/a/jobs", obj{"apiVersion": "batch/v1", "kind": "Job", "metadata": obj{"name": "once"},
		"spec": obj{"template": obj{"spec": obj{"restartPolicy": "Never", "containers": []any{obj{"name": "c", "image": "reg.example/app:job"}}}}}})
	want["reg.example/app:job"] = "Job a/once"
	c.Create(t, "/apis/apps/v1/namespaces/b/controllerrevisions", obj{"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": obj{"name": "agent-1"},
		"revision": 1, "data": obj{"spec": obj{"template": obj{"spec": obj{"containers": []any{obj{"name": "c", "image": "reg.example/app:rev"}}}}}}})
	want["reg.example/app:rev"] = "ControllerRevision b/agent-1"

	kc := c.Kubeconfig(t, [2]string{"admin", kubetest.AdminToken}, [2]string{"nobody", kubetest.LimitedToken})
	s := inuse.NewSet()
	if err := Read(context.Background(), s, Options{Kubeconfig: kc, PageSize: 2}); err != nil {
		t.Fatal(err)
	}
	in := s.For("reg.example/app")
	for img, user := range want {
		tag := strings.TrimPrefix(img, "reg.example/app:")
		if !slices.Contains(in.Tags[tag], user+" (context admin)") {
			t.Errorf("%s: used by %v, want %s (context admin)", img, in.Tags[tag], user)
		}
	}
	if !slices.Equal(s.Sources(), []string{"kubernetes"}) {
		t.Errorf("sources %v", s.Sources())
	}

	// A user who may list nothing: forbidden on the first list, and
	// nothing of the source is kept as if complete.
	s = inuse.NewSet()
	err := Read(context.Background(), s, Options{Kubeconfig: kc, Context: "nobody"})
	if !errors.Is(err, inuse.ErrSource) || !strings.Contains(err.Error(), "forbidden") || !strings.Contains(err.Error(), "kubernetes:nobody") {
		t.Errorf("forbidden: %v", err)
	}
	if len(s.Sources()) != 0 {
		t.Errorf("a failed source counted: %v", s.Sources())
	}
}
