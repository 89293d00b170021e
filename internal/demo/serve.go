package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/regprune/regprune/internal/report"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	Options
	// Ready, if set, is called once the registry is seeded and the
	// instructions are printed, with the registry's host:port.
	Ready func(host string)
}

// Serve starts the demo's registry, seeds it like Run does (CI builds,
// multi-arch images signed with cosign, a release tag sharing a build's
// digest), prints the repositories and a plan command to try, and serves
// until ctx is done (Ctrl-C). Nothing is planned or deleted by Serve.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.Builds <= 0 {
		o.Builds = 8
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	w := o.Out
	reg, blobs, bytes, err := startSeeded(ctx, o.Builds, o.Now)
	if err != nil {
		return err
	}
	defer reg.Close()
	fmt.Fprintf(w, "CNCF distribution v3 on %s (plain HTTP on loopback, anonymous, delete enabled)\n\n", reg.Host)
	fmt.Fprintf(w, "repositories:\n")
	fmt.Fprintf(w, "  %s  %d CI builds tagged by job id (1001..%d), the last also 'latest'\n", reg.Ref(fedora), o.Builds, 1000+o.Builds)
	fmt.Fprintf(w, "  %s  %d multi-arch builds (amd64, arm64), each signed with cosign;\n", reg.Ref(ubuntu), o.Builds)
	fmt.Fprintf(w, "  %s  build 1002 is also tagged release-1 (one digest, two tags)\n", pad(reg.Ref(ubuntu)))
	fmt.Fprintf(w, "blob store: %d blobs, %s\n\n", blobs, report.HumanBytes(bytes))
	fmt.Fprintf(w, "try:\n  regprune plan %s %s --keep-tag latest --keep-regex 'release-.*'\n", reg.Ref(fedora), reg.Ref(ubuntu))
	fmt.Fprintf(w, "  regprune apply %s --keep-newest 3          (asks before deleting; --yes without a terminal)\n\n", reg.Ref(fedora))
	fmt.Fprintf(w, "serving until interrupted (Ctrl-C); the storage is removed on exit\n")
	if o.Ready != nil {
		o.Ready(reg.Host)
	}
	<-ctx.Done()
	return nil
}

func pad(s string) string {
	b := make([]byte, len(s))
	for i := range b {
		b[i] = ' '
	}
	return string(b)
}
