package cli

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// BuildInfo is what regprune knows of its own build.
type BuildInfo struct {
	Version  string `json:"version"`            // module version, or Version set with -ldflags, or "(devel)"
	Revision string `json:"revision,omitempty"` // VCS revision the binary was built from
	Modified bool   `json:"modified,omitempty"` // the work tree had uncommitted changes
	Go       string `json:"go,omitempty"`
}

// readBuildInfo reads the module version and VCS stamp of the binary.
func readBuildInfo() BuildInfo {
	b := BuildInfo{Version: Version}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Go = bi.GoVersion
	if b.Version == "dev" || b.Version == "" {
		b.Version = bi.Main.Version
		if b.Version == "" {
			b.Version = "(devel)"
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is "v1.2.3 (revision 0123456789ab, modified)".
func (b BuildInfo) String() string {
	var extra []string
	if b.Revision != "" {
		r := b.Revision
		if len(r) > 12 {
			r = r[:12]
		}
		extra = append(extra, "revision "+r)
	}
	if b.Modified {
		extra = append(extra, "modified")
	}
	if len(extra) == 0 {
		return b.Version
	}
	return fmt.Sprintf("%s (%s)", b.Version, strings.Join(extra, ", "))
}

// userAgentVersion is the version for the User-Agent header: no spaces.
func (b BuildInfo) userAgentVersion() string {
	return strings.NewReplacer(" ", "", "(", "", ")", "").Replace(b.Version)
}
