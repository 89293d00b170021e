package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	// Access controllers register themselves by init.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
)

// AdminUser is the user name of the registry's own credentials (see
// Registry.Credentials). It is added to TokenAuth.Users (with every action)
// and to Htpasswd, with a random password, so that the seeding helpers work
// whatever users a test defines. Tests should not define a user of this name.
const AdminUser = "registrytest-admin"

// Options configures Start.
type Options struct {
	// DeleteDisabled turns off storage.delete.enabled. The default is a
	// registry that accepts DELETE (unlike distribution's own default).
	DeleteDisabled bool
	// Dir is the filesystem driver root. "" means a new temporary directory
	// (under /dev/shm when writable, else os.TempDir()) that Close removes.
	// A Dir given by the caller is left in place.
	Dir string
	// From, if set, is a storage directory (another registry's Dir, that
	// registry closed) copied into Dir before the registry starts: tests
	// seed once and start each registry on a copy.
	From string
	// Auth, if set, turns on distribution's token access controller backed
	// by an in-process token server. nil means anonymous access.
	Auth *TokenAuth
	// Htpasswd, if set, turns on distribution's htpasswd access controller
	// (Basic auth) with these users (user -> password). Mutually exclusive
	// with Auth.
	Htpasswd map[string]string
}

// Registry is a running in-process distribution v3 registry.
type Registry struct {
	// Host is "127.0.0.1:PORT", usable in image references.
	Host string
	// URL is "http://127.0.0.1:PORT".
	URL string
	// Flavour is FlavourV3 (in-process) or FlavourDist2 (a child
	// process, see StartDist2).
	Flavour string

	dist2   *dist2 // the child process of a distribution 2.x registry
	opts    Options
	dir     string
	ownDir  bool
	auxDir  string
	srv     *http.Server
	srvDone chan struct{}
	app     *handlers.App
	driver  storagedriver.StorageDriver
	tokens  *tokenServer

	adminPass string

	closeOnce sync.Once
	closeErr  error
}

// Registry flavours.
const (
	FlavourV3    = "distribution v3"
	FlavourDist2 = "distribution 2.8"
)

// Start runs a registry on 127.0.0.1 with a random port. ctx bounds the
// start-up only; the registry runs until Close.
func Start(ctx context.Context, o Options) (_ *Registry, err error) {
	if o.Auth != nil && o.Htpasswd != nil {
		return nil, errors.New("registrytest: Options.Auth and Options.Htpasswd are mutually exclusive")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	quietLogs()
	r := &Registry{opts: o, srvDone: make(chan struct{}), Flavour: FlavourV3}
	defer func() {
		if err != nil {
			r.cleanup()
			restoreLogs()
		}
	}()

	if o.Dir == "" {
		r.dir, err = os.MkdirTemp(tempBase(), "registrytest-storage-")
		if err != nil {
			return nil, err
		}
		r.ownDir = true
	} else {
		r.dir, err = filepath.Abs(o.Dir)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			return nil, err
		}
	}
	if err := copyFrom(r.dir, o.From); err != nil {
		return nil, err
	}
	r.auxDir, err = os.MkdirTemp("", "registrytest-aux-")
	if err != nil {
		return nil, err
	}

	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	if o.Auth != nil || o.Htpasswd != nil {
		r.adminPass = hex.EncodeToString(secret[:8])
	}

	cfg := &configuration.Configuration{Version: "0.1"}
	cfg.Log.Level = "error"
	cfg.Log.AccessLog.Disabled = true
	cfg.HTTP.Secret = hex.EncodeToString(secret)
	// The defaults configuration.Parse applies to a YAML file; a
	// Configuration built in code has 0, which makes the catalog refuse
	// every n.
	cfg.Catalog.MaxEntries = 1000
	cfg.Tags.MaxTags = 1000
	cfg.Storage = configuration.Storage{
		"filesystem": configuration.Parameters{"rootdirectory": r.dir},
		"delete":     configuration.Parameters{"enabled": !o.DeleteDisabled},
		// No background upload purger walking the directory (GC and
		// Close must not race with it).
		"maintenance": configuration.Parameters{
			"uploadpurging": map[any]any{"enabled": false},
		},
	}

	switch {
	case o.Auth != nil:
		r.tokens, err = startTokenServer(*o.Auth, r.adminPass, r.auxDir)
		if err != nil {
			return nil, err
		}
		cfg.Auth = configuration.Auth{"token": configuration.Parameters{
			"realm":          r.tokens.realm,
			"service":        r.tokens.service,
			"issuer":         r.tokens.issuer,
			"rootcertbundle": r.tokens.certPath,
		}}
	case o.Htpasswd != nil:
		path := filepath.Join(r.auxDir, "htpasswd")
		if err := writeHtpasswd(path, o.Htpasswd, r.adminPass); err != nil {
			return nil, err
		}
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{
			"realm": "registrytest",
			"path":  path,
		}}
	}

	r.app, err = newApp(cfg)
	if err != nil {
		return nil, err
	}
	r.driver = filesystem.New(filesystem.DriverParameters{RootDirectory: r.dir, MaxThreads: 100})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.Host = ln.Addr().String()
	r.URL = "http://" + r.Host
	var handler http.Handler = r.app
	if r.tokens != nil {
		handler = r.tokens.wildcardScope(r.tokens.limitUses(handler))
	}
	r.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          discardLogger(),
	}
	go func() {
		defer close(r.srvDone)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}

func newApp(cfg *configuration.Configuration) (app *handlers.App, err error) {
	// NewApp panics on a bad configuration.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("registrytest: distribution NewApp: %v", p)
		}
	}()
	return handlers.NewApp(context.Background(), cfg), nil
}

func writeHtpasswd(path string, users map[string]string, adminPass string) error {
	var b strings.Builder
	all := map[string]string{AdminUser: adminPass}
	for u, p := range users {
		if strings.ContainsAny(u, ":\n") {
			return fmt.Errorf("registrytest: bad htpasswd user name %q", u)
		}
		all[u] = p
	}
	for u, p := range all {
		h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s:%s\n", u, h)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// copyFrom copies the storage directory from into dir (Options.From);
// from "" copies nothing.
func copyFrom(dir, from string) error {
	if from == "" {
		return nil
	}
	if err := os.CopyFS(dir, os.DirFS(from)); err != nil {
		return fmt.Errorf("registrytest: copy storage from %s: %w", from, err)
	}
	return nil
}

// tempBase is where a registry without Options.Dir keeps its storage:
// /dev/shm when it is a writable directory (the filesystem driver makes
// many small syscalls; on a tmpfs seeding is about 5 times faster than on
// the project's ext4 disks), else os.TempDir().
func tempBase() string {
	const shm = "/dev/shm"
	if fi, err := os.Stat(shm); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp(shm, "registrytest-probe-"); err == nil {
			_ = os.Remove(d)
			return shm
		}
	}
	return os.TempDir()
}

// Close stops the registry and its token server and removes the temporary
// directories it created. It is safe to call more than once.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		r.closeErr = r.cleanup()
		if r.dist2 == nil { // a child process never quietened this process' logs
			restoreLogs()
		}
	})
	return r.closeErr
}

func (r *Registry) cleanup() error {
	var errs []error
	if r.dist2 != nil {
		if err := r.dist2.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if r.srv != nil {
		if err := r.srv.Close(); err != nil {
			errs = append(errs, err)
		}
		<-r.srvDone
	}
	if r.app != nil {
		if err := r.app.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	if r.tokens != nil {
		r.tokens.close()
	}
	if r.ownDir && r.dir != "" {
		if err := os.RemoveAll(r.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if r.auxDir != "" {
		if err := os.RemoveAll(r.auxDir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Dir is the filesystem driver's root directory.
func (r *Registry) Dir() string { return r.dir }

// Ref returns "HOST/repo", the start of an image reference on this registry.
func (r *Registry) Ref(repo string) string { return r.Host + "/" + repo }

// Credentials returns the registry's own user and password: AdminUser and a
// random password when Auth or Htpasswd is set, "" and "" otherwise.
func (r *Registry) Credentials() (user, password string) {
	if r.adminPass == "" {
		return "", ""
	}
	return AdminUser, r.adminPass
}

// Authenticator returns the registry's own credentials for ggcr
// (authn.Anonymous for an anonymous registry).
func (r *Registry) Authenticator() authn.Authenticator {
	if r.adminPass == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: AdminUser, Password: r.adminPass}
}

// Remote returns go-containerregistry options that work against this
// registry, including its own credentials.
func (r *Registry) Remote() []remote.Option {
	return []remote.Option{remote.WithAuth(r.Authenticator()), remote.WithTransport(ggcrTransport)}
}

func (r *Registry) remote(ctx context.Context) []remote.Option {
	return append(r.Remote(), remote.WithContext(ctx))
}

func (r *Registry) repo(repo string) (name.Repository, error) {
	return name.NewRepository(r.Ref(repo), name.StrictValidation)
}

// GCResult reports the blob store before and after a garbage collection.
type GCResult struct {
	BlobsBefore, BlobsAfter int
	BytesBefore, BytesAfter int64
}

// Freed is the number of bytes the collection removed.
func (g GCResult) Freed() int64 { return g.BytesBefore - g.BytesAfter }

// GC runs the registry's own garbage collector with the command this
// project advises for it: on distribution v3 storage.MarkAndSweep with
// RemoveUntagged (`registry garbage-collect --delete-untagged`), on
// distribution 2.x `docker-registry garbage-collect CONFIG` without
// --delete-untagged, which on 2.x destroys the untagged children of kept
// indexes. The caller guarantees that the registry is idle: no request may
// be in flight while GC runs.
func (r *Registry) GC(ctx context.Context) (GCResult, error) {
	return r.gc(ctx, r.dist2 == nil)
}

// GCKeepUntagged runs the garbage collector without --delete-untagged on
// either flavour: untagged manifests and what they reference stay.
func (r *Registry) GCKeepUntagged(ctx context.Context) (GCResult, error) {
	return r.gc(ctx, false)
}

// GCDeleteUntagged runs the garbage collector with --delete-untagged on
// either flavour (on distribution 2.x it destroys the untagged children
// of kept indexes).
func (r *Registry) GCDeleteUntagged(ctx context.Context) (GCResult, error) {
	return r.gc(ctx, true)
}

func (r *Registry) gc(ctx context.Context, untagged bool) (GCResult, error) {
	var res GCResult
	var err error
	res.BlobsBefore, res.BytesBefore, err = r.BlobStore()
	if err != nil {
		return res, err
	}
	if r.dist2 != nil {
		if err := r.dist2.gc(ctx, untagged); err != nil {
			return res, err
		}
		res.BlobsAfter, res.BytesAfter, err = r.BlobStore()
		return res, err
	}
	ns, err := storage.NewRegistry(ctx, r.driver)
	if err != nil {
		return res, err
	}
	if err := storage.MarkAndSweep(ctx, r.driver, ns, storage.GCOpts{RemoveUntagged: untagged, Quiet: true}); err != nil {
		return res, err
	}
	res.BlobsAfter, res.BytesAfter, err = r.BlobStore()
	return res, err
}

// BlobStore counts the blobs in the registry's blob store (the `data` files
// under <root>/docker/registry/v2/blobs, manifests included) and adds up
// their sizes.
func (r *Registry) BlobStore() (count int, bytes int64, err error) {
	root := filepath.Join(r.dir, "docker", "registry", "v2", "blobs")
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || d.Name() != "data" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		count++
		bytes += info.Size()
		return nil
	})
	return count, bytes, err
}

// Logging: distribution and its GC log through logrus' standard logger at
// info level (every request, every deletion). While any registry of this
// package runs, that logger is set to the error level and discards output.
var (
	logMu       sync.Mutex
	logRefs     int
	savedLevel  logrus.Level
	savedOutput io.Writer
)

func quietLogs() {
	logMu.Lock()
	defer logMu.Unlock()
	if logRefs == 0 {
		std := logrus.StandardLogger()
		savedLevel = std.GetLevel()
		savedOutput = std.Out
		std.SetLevel(logrus.ErrorLevel)
		std.SetOutput(io.Discard)
	}
	logRefs++
}

func restoreLogs() {
	logMu.Lock()
	defer logMu.Unlock()
	logRefs--
	if logRefs == 0 {
		std := logrus.StandardLogger()
		std.SetLevel(savedLevel)
		std.SetOutput(savedOutput)
	}
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
