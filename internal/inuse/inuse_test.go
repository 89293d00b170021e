package inuse

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/regprune/regprune/internal/policy"
)

const (
	dA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	dB = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestParseRefNormalizesAsDocker(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                                    "docker.io/library/nginx:latest",
		"nginx:1.25":                               "docker.io/library/nginx:1.25",
		"library/nginx":                            "docker.io/library/nginx:latest",
		"bitnami/redis:7":                          "docker.io/bitnami/redis:7",
		"docker.io/nginx":                          "docker.io/library/nginx:latest",
		"index.docker.io/library/nginx:1":          "docker.io/library/nginx:1",
		"registry-1.docker.io/nginx":               "docker.io/library/nginx:latest",
		"nginx:1.25@" + dA:                         "docker.io/library/nginx@" + dA,
		"docker.io/library/nginx@" + dA:            "docker.io/library/nginx@" + dA,
		"docker-pullable://nginx@" + dA:            "docker.io/library/nginx@" + dA,
		"127.0.0.1:5000/ci/app:1001":               "127.0.0.1:5000/ci/app:1001",
		"localhost:5000/ci/app@" + dB:              "localhost:5000/ci/app@" + dB,
		"localhost/ci/app":                         "localhost/ci/app:latest",
		"Registry.Example.com/team/app:v1":         "registry.example.com/team/app:v1",
		"registry.gitlab.com/group/sub/app:main-1": "registry.gitlab.com/group/sub/app:main-1",
		"[::1]:5000/app:x":                         "[::1]:5000/app:x",
		"  ghcr.io/o/r:t  ":                        "ghcr.io/o/r:t",
	} {
		r, err := ParseRef(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if r.String() != want {
			t.Errorf("%q: %s, want %s", in, r, want)
		}
	}
}

func TestParseRefRefuses(t *testing.T) {
	for _, in := range []string{
		"", "sha256:" + strings.Repeat("a", 64), strings.Repeat("a", 64), "docker://sha256:" + strings.Repeat("a", 64),
		"nginx@sha256:abc", "Nginx", "nginx:bad tag", "host.io/", "a//b", "nginx:-x",
	} {
		if _, err := ParseRef(in); !errors.Is(err, ErrBadReference) {
			t.Errorf("%q: %v, want ErrBadReference", in, err)
		}
	}
}

func TestForMatchesHostAndRepositoryExactly(t *testing.T) {
	s := NewSet()
	for ref, user := range map[string]string{
		"127.0.0.1:5000/ci/app:1001":       "Deployment prod/web (context prod)",
		"127.0.0.1:5000/ci/app@" + dA:      "Pod prod/web-1 (context prod)",
		"localhost:5000/ci/app:1002":       "Pod other/x (context prod)",
		"127.0.0.1:5000/ci/app/sub:1003":   "Pod other/y (context prod)",
		"127.0.0.1:5000/ci/app:1001@" + dB: "Pod prod/web-2 (context prod)",
		"nginx":                            "list images.txt:1",
	} {
		if err := s.Add(ref, user); err != nil {
			t.Fatal(err)
		}
	}
	got := s.For("127.0.0.1:5000/ci/app")
	want := policy.InUse{
		Digests: map[string][]string{dA: {"Pod prod/web-1 (context prod)"}, dB: {"Pod prod/web-2 (context prod)"}},
		Tags:    map[string][]string{"1001": {"Deployment prod/web (context prod)"}},
	}
	if !equal(got, want) {
		t.Errorf("For: %v, want %v", got, want)
	}
	if got := s.For("localhost:5000/ci/app"); len(got.Digests) != 0 || !slices.Equal(got.Tags["1002"], []string{"Pod other/x (context prod)"}) || len(got.Tags) != 1 {
		t.Errorf("localhost: %v", got)
	}
	if got := s.For("index.docker.io/library/nginx"); len(got.Tags["latest"]) != 1 {
		t.Errorf("docker hub: %v", got)
	}
	if got := s.For("127.0.0.1:5001/ci/app"); !got.Empty() {
		t.Errorf("other port: %v", got)
	}
	if s.References() != 6 {
		t.Errorf("references %d, want 6", s.References())
	}
}

func equal(a, b policy.InUse) bool {
	eq := func(x, y map[string][]string) bool {
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if !slices.Equal(v, y[k]) {
				return false
			}
		}
		return true
	}
	return eq(a.Digests, b.Digests) && eq(a.Tags, b.Tags)
}

func TestReadListLines(t *testing.T) {
	s := NewSet()
	in := "# images the batch cluster runs\n\n127.0.0.1:5000/ci/app:1001   # nightly\n  127.0.0.1:5000/ci/app@" + dA + "\n"
	if err := ReadList(s, strings.NewReader(in), "images.txt"); err != nil {
		t.Fatal(err)
	}
	got := s.For("127.0.0.1:5000/ci/app")
	if !slices.Equal(got.Tags["1001"], []string{"list images.txt:3"}) || !slices.Equal(got.Digests[dA], []string{"list images.txt:4"}) {
		t.Errorf("%v", got)
	}
	if !slices.Equal(s.Sources(), []string{"file:images.txt"}) {
		t.Errorf("sources %v", s.Sources())
	}
	err := ReadList(NewSet(), strings.NewReader("ok.io/a:1\nnot a reference\n"), "bad.txt")
	if !errors.Is(err, ErrSource) || !errors.Is(err, ErrBadReference) || !strings.Contains(err.Error(), "bad.txt:2") {
		t.Errorf("bad line: %v", err)
	}
}

func TestReadListKubectlJSON(t *testing.T) {
	doc := `{"apiVersion":"v1","kind":"List","items":[
 {"kind":"Pod","metadata":{"name":"web-1","namespace":"prod"},
  "spec":{"initContainers":[{"name":"init","image":"127.0.0.1:5000/ci/init:7"}],
          "containers":[{"name":"app","image":"127.0.0.1:5000/ci/app:1001"}],
          "ephemeralContainers":[{"name":"debug","image":"busybox"}]},
  "status":{"containerStatuses":[{"name":"app","image":"127.0.0.1:5000/ci/app:1001","imageID":"127.0.0.1:5000/ci/app@` + dA + `"}],
            "initContainerStatuses":[{"name":"init","image":"127.0.0.1:5000/ci/init:7","imageID":"docker://sha256:` + strings.Repeat("c", 64) + `"}]}}]}`
	s := NewSet()
	if err := ReadList(s, strings.NewReader(doc), "pods.json"); err != nil {
		t.Fatal(err)
	}
	app := s.For("127.0.0.1:5000/ci/app")
	user := []string{"Pod prod/web-1 (pods.json)"}
	if !slices.Equal(app.Tags["1001"], user) || !slices.Equal(app.Digests[dA], user) {
		t.Errorf("app: %v", app)
	}
	if got := s.For("127.0.0.1:5000/ci/init"); !slices.Equal(got.Tags["7"], user) {
		t.Errorf("init: %v", got)
	}
	if got := s.For("docker.io/library/busybox"); !slices.Equal(got.Tags["latest"], user) {
		t.Errorf("ephemeral: %v", got)
	}
	for _, bad := range []string{`{"items": 3}`, `{"foo": 1}`, `{`} {
		if err := ReadList(NewSet(), strings.NewReader(bad), "x.json"); !errors.Is(err, ErrSource) {
			t.Errorf("%s: %v, want ErrSource", bad, err)
		}
	}
}

func TestObjectImagesReadsTemplatesAndRevisions(t *testing.T) {
	cron := map[string]any{"kind": "CronJob", "spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []any{map[string]any{"image": "a.io/x:1"}}}}}}}}
	rev := map[string]any{"kind": "ControllerRevision", "data": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []any{map[string]any{"image": "a.io/y:2"}}, "initContainers": []any{map[string]any{"image": "a.io/z:3"}}}}}}}
	if got := ObjectImages(cron); !slices.Equal(got, []string{"a.io/x:1"}) {
		t.Errorf("cronjob: %v", got)
	}
	if got := ObjectImages(rev); !slices.Equal(got, []string{"a.io/y:2", "a.io/z:3"}) {
		t.Errorf("revision: %v", got)
	}
}
