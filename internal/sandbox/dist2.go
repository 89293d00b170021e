package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// Dist2Binary is the distribution 2.x registry binary of Debian's
// docker-registry package (distribution 2.8.2), the family GitLab's
// container registry was forked from.
const Dist2Binary = "docker-registry"

// RequireDist2Env, when set to 1, turns the skip of a test that needs
// Dist2Binary into a failure (.ci/run sets it).
const RequireDist2Env = "REGPRUNE_REQUIRE_DIST2"

// ErrNoDist2 means Dist2Binary is not installed.
var ErrNoDist2 = errors.New("registrytest: " + Dist2Binary + " (distribution 2.x) not found on PATH; install it with: apt-get install docker-registry")

// dist2 is the child process of a distribution 2.x registry.
type dist2 struct {
	bin    string
	config string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error // the process' exit, once exited is closed
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Dist2Path returns the path of Dist2Binary, or ErrNoDist2.
func Dist2Path() (string, error) {
	p, err := exec.LookPath(Dist2Binary)
	if err != nil {
		return "", ErrNoDist2
	}
	return p, nil
}

// StartDist2 runs `docker-registry serve CONFIG` as a child process on
// 127.0.0.1 with a free port, filesystem storage in a temporary directory
// (or o.Dir) and storage.delete.enabled as o.DeleteDisabled says. It
// returns once /v2/ answers, or fails after 30 seconds. The Registry it
// returns has the API of the in-process one; its GC runs
// `docker-registry garbage-collect CONFIG`. Auth and Htpasswd are not
// supported.
func StartDist2(ctx context.Context, o Options) (_ *Registry, err error) {
	if o.Auth != nil || o.Htpasswd != nil {
		return nil, errors.New("registrytest: StartDist2 supports neither Auth nor Htpasswd")
	}
	bin, err := Dist2Path()
	if err != nil {
		return nil, err
	}
	r := &Registry{opts: o, Flavour: FlavourDist2}
	defer func() {
		if err != nil {
			_ = r.cleanup()
		}
	}()
	if o.Dir == "" {
		if r.dir, err = os.MkdirTemp(tempBase(), "registrytest-dist2-"); err != nil {
			return nil, err
		}
		r.ownDir = true
	} else {
		if r.dir, err = filepath.Abs(o.Dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			return nil, err
		}
	}
	if err := copyFrom(r.dir, o.From); err != nil {
		return nil, err
	}
	if r.auxDir, err = os.MkdirTemp("", "registrytest-aux-"); err != nil {
		return nil, err
	}
	// A free port: taken from the kernel, released, then given to the
	// child. Another process could take it in between; start-up then
	// fails and says so.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.Host = ln.Addr().String()
	ln.Close()
	r.URL = "http://" + r.Host

	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	config := filepath.Join(r.auxDir, "config.yml")
	yml := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: %t
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %q
  secret: %q
`, r.dir, !o.DeleteDisabled, r.Host, hex.EncodeToString(secret))
	if err := os.WriteFile(config, []byte(yml), 0o600); err != nil {
		return nil, err
	}
	d := &dist2{bin: bin, config: config, out: &syncBuffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(bin, "serve", config)
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	d.cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("registrytest: %s serve: %w", bin, err)
	}
	r.dist2 = d
	go func() {
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	if err := d.waitReady(ctx, r.URL, 30*time.Second); err != nil {
		return nil, err
	}
	return r, nil
}

// waitReady polls /v2/ until it answers 200, the process exits, or the
// timeout passes.
func (d *dist2) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v2/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-d.exited:
			return fmt.Errorf("registrytest: %s serve exited before answering: %v; output:\n%s", d.bin, d.err, d.out.String())
		case <-ctx.Done():
			return fmt.Errorf("registrytest: %s serve did not answer /v2/ within %s; output:\n%s", d.bin, timeout, d.out.String())
		case <-tick.C:
		}
	}
}

// stop ends the child process and waits for it.
func (d *dist2) stop() error {
	select {
	case <-d.exited:
		return nil
	default:
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	return nil
}

// gc runs `docker-registry garbage-collect CONFIG` (with
// --delete-untagged when untagged is set) on the registry's storage.
func (d *dist2) gc(ctx context.Context, untagged bool) error {
	args := []string{"garbage-collect", d.config}
	if untagged {
		args = append(args, "--delete-untagged")
	}
	cmd := exec.CommandContext(ctx, d.bin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("registrytest: %s %v: %w; output:\n%s", d.bin, args, err, tail(out, 4096))
	}
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
