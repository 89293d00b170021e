// Package inuse collects the images that something still runs or names
// (Kubernetes workloads, a list) and matches them to the repositories
// regprune cleans. References are normalized as docker and containerd do:
// a name without a host is on docker.io, a single-segment Docker Hub name
// gets library/, and @digest wins over :tag. Matching is by host and
// repository, exactly: 127.0.0.1:5000/ci/app and localhost:5000/ci/app are
// different registries.
//
// The package is pure except for ReadFile; the Kubernetes source is in
// internal/inuse/kube, which the CLI alone imports.
package inuse

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/regprune/regprune/internal/digest"
)

// ErrBadReference is wrapped by ParseRef's errors.
var ErrBadReference = errors.New("bad image reference")

// Ref is a normalized image reference.
type Ref struct {
	// Repository is host[:port]/path, as regprune names repositories:
	// docker.io/library/nginx, 127.0.0.1:5000/ci/app.
	Repository string
	Tag        string // "" when Digest is set or no tag was given (then "latest")
	Digest     string // "sha256:<64 hex>" or "sha512:<128 hex>"; "" for a tag reference
}

// String is the canonical form: repository@digest or repository:tag.
func (r Ref) String() string {
	if r.Digest != "" {
		return r.Repository + "@" + r.Digest
	}
	return r.Repository + ":" + r.Tag
}

var (
	imageIDRE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	hostRE      = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)
)

// dockerHub is the host docker and containerd give a name without one.
const dockerHub = "docker.io"

// ParseRef normalizes an image reference as docker and containerd do. It
// also takes the forms a pod's status imageID has: "docker-pullable://"
// and "docker://" prefixes, and name@digest. A bare digest or image id
// ("sha256:..." alone) names no repository and is refused.
func ParseRef(s string) (Ref, error) {
	in := strings.TrimSpace(s)
	for _, p := range []string{"docker-pullable://", "docker://", "containerd://", "cri-o://"} {
		in = strings.TrimPrefix(in, p)
	}
	bad := func(why string) (Ref, error) {
		return Ref{}, fmt.Errorf("%w %q: %s", ErrBadReference, s, why)
	}
	if in == "" {
		return bad("empty")
	}
	if digest.Digest(in).Valid() || imageIDRE.MatchString(in) {
		return bad("an image id names no repository")
	}
	var r Ref
	if i := strings.IndexByte(in, '@'); i >= 0 {
		r.Digest = in[i+1:]
		in = in[:i]
		if !digest.Digest(r.Digest).Valid() {
			return bad("digest " + r.Digest + " is not sha256:<64 hex> or sha512:<128 hex>")
		}
	}
	// A tag follows the last ':' after the last '/'.
	if i := strings.LastIndexByte(in, ':'); i > strings.LastIndexByte(in, '/') {
		tag := in[i+1:]
		in = in[:i]
		if !digest.ValidTag(tag) {
			return bad("tag " + tag + " is not a valid tag")
		}
		if r.Digest == "" {
			r.Tag = tag
		}
	}
	if r.Digest == "" && r.Tag == "" {
		r.Tag = "latest"
	}
	repo, err := NormalizeRepository(in)
	if err != nil {
		return bad(err.Error())
	}
	r.Repository = repo
	return r, nil
}

// NormalizeRepository is the canonical name of a repository: the host
// docker would use (docker.io for none, and for index.docker.io and
// registry-1.docker.io), library/ for a single-segment Docker Hub name.
// The host is lower-cased; the port stays as written.
func NormalizeRepository(name string) (string, error) {
	if name == "" {
		return "", errors.New("no repository name")
	}
	host, path := dockerHub, name
	if i := strings.IndexByte(name, '/'); i > 0 {
		first := name[:i]
		if strings.ContainsAny(first, ".:[") || first == "localhost" || strings.ToLower(first) != first {
			host, path = strings.ToLower(first), name[i+1:]
		}
	}
	if !hostRE.MatchString(host) {
		return "", fmt.Errorf("host %s is not a valid registry host", host)
	}
	switch host {
	case "index.docker.io", "registry-1.docker.io":
		host = dockerHub
	}
	if path == "" {
		return "", errors.New("no repository path")
	}
	for _, c := range strings.Split(path, "/") {
		if !componentRE.MatchString(c) {
			return "", fmt.Errorf("path component %q is not valid (lower-case letters, digits, separators)", c)
		}
	}
	if host == dockerHub && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	return host + "/" + path, nil
}
