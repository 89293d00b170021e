//go:build unix

package main

// regprune is one process (issue 19, points 8 and 9): a signal is seen
// once, killing it stops its work, and a panic exits 1, never 2 (bad
// input). These tests run the real main (this test binary running main(),
// see TestMain) against a registry whose DELETEs are slow.

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/registrytest"
)

// regprune returns a command that runs the real main() with args: this
// test binary with runMainEnv set (see TestMain), with its own journal,
// cache and home.
func regprune(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1",
		"HOME="+dir, "XDG_STATE_HOME="+filepath.Join(dir, "state"), "XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
		"DOCKER_CONFIG="+filepath.Join(dir, "docker"))
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	if err == nil {
		return 0
	}
	if !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return ee.ExitCode()
}

// slowRegistry is a registry with ci/app (12 CI builds, "latest" on the
// last) behind a proxy that holds each DELETE for a second; deleteSeen is
// closed when the first DELETE arrives.
func slowRegistry(t *testing.T) (host string, proxy *registrytest.Proxy, deleteSeen chan struct{}) {
	t.Helper()
	reg := registrytest.New(t, registrytest.Options{})
	day := 24 * time.Hour
	if _, err := reg.SeedCI(context.Background(), "ci/app", 12, time.Now().Add(-20*day), day); err != nil {
		t.Fatal(err)
	}
	deleteSeen = make(chan struct{})
	var first bool
	proxy = registrytest.NewTestProxy(t, reg.URL, registrytest.ProxyOptions{
		Intercept: func(w http.ResponseWriter, r *http.Request) bool {
			if r.Method == http.MethodDelete {
				if !first {
					first = true
					close(deleteSeen)
				}
				time.Sleep(time.Second)
			}
			return false
		},
	})
	return proxy.Host, proxy, deleteSeen
}

func waitDelete(t *testing.T, seen chan struct{}) {
	t.Helper()
	select {
	case <-seen:
	case <-time.After(time.Minute):
		t.Fatal("no DELETE reached the registry in a minute")
	}
}

func TestBadInputExits2(t *testing.T) {
	var stderr bytes.Buffer
	cmd := regprune(t, "validate", "-f", "/dev/zero")
	cmd.Stderr = &stderr
	if code := exitCode(t, cmd.Run()); code != 2 || !strings.Contains(stderr.String(), "bound of a policy file") {
		t.Fatalf("validate -f /dev/zero: exit %d, stderr %q; want 2 naming the bound", code, stderr.String())
	}
}

// A panic in a goroutine exits 1 with "internal error", never 2: in an
// errgroup's goroutine (recovered into an error, the repository fails
// closed, the run ends) and in one started with safe.Go (the process ends
// at once).
func TestPanicExits1(t *testing.T) {
	reg := registrytest.New(t, registrytest.Options{})
	if _, err := reg.SeedCI(context.Background(), "ci/app", 3, time.Now().Add(-5*24*time.Hour), time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, where := range []string{"func", "internal/engine."} {
		t.Run(where, func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := regprune(t, "apply", reg.Host+"/ci/app", "--keep-tag", "latest", "--yes")
			cmd.Env = append(cmd.Env, panicEnv+"="+where)
			cmd.Stderr = &stderr
			code := exitCode(t, cmd.Run())
			if code != 1 || !strings.Contains(stderr.String(), "regprune: internal error") || !strings.Contains(stderr.String(), "test panic") {
				t.Fatalf("exit %d, want 1 with the internal error; stderr:\n%.3000s", code, stderr.String())

			}
			tags, err := reg.Tags(context.Background(), "ci/app")
			if err != nil || len(tags) != 4 {
				t.Errorf("after the crash ci/app has tags %v (%v), want all 4", tags, err)
			}
		})
	}
}

// SIGTERM to regprune's PID stops an apply cleanly: a report, exit 143.
func TestSIGTERMExits143(t *testing.T) {
	host, proxy, seen := slowRegistry(t)
	var stdout, stderr bytes.Buffer
	cmd := regprune(t, "apply", host+"/ci/app", "--keep-tag", "latest", "--yes")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitDelete(t, seen)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := exitCode(t, cmd.Wait())
	if code != 143 || !strings.Contains(stderr.String(), "regprune: interrupted (SIGTERM)") || !strings.Contains(stdout.String(), "run id:") {
		t.Fatalf("exit %d, want 143 with a report; stdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	if n := proxy.Counts().ManifestDELETE; n >= 11 {
		t.Errorf("%d DELETEs after SIGTERM at the first: the run did not stop", n)
	}
}

// SIGKILL to regprune's PID leaves no process behind: regprune has no
// child, and its process group is empty once it is gone.
func TestSIGKILLLeavesNoProcess(t *testing.T) {
	host, _, seen := slowRegistry(t)
	cmd := regprune(t, "apply", host+"/ci/app", "--keep-tag", "latest", "--yes")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	waitDelete(t, seen)
	if kids := children(t, pid); kids != "" {
		t.Errorf("regprune (pid %d) runs child processes: %s", pid, kids)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		t.Fatalf("after kill -9 of regprune, its process group %d still has a process (kill -0: %v)", pid, err)
	}
}

// children lists the child processes of pid (Linux's /proc), "" for none.
func children(t *testing.T, pid int) string {
	t.Helper()
	tasks, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	if err != nil || len(tasks) == 0 {
		t.Skipf("no /proc/%d/task/*/children here", pid)
	}
	var all []string
	for _, f := range tasks {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // a thread that ended
		}
		all = append(all, strings.Fields(string(data))...)
	}
	return strings.Join(all, " ")
}
