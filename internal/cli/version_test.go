package cli

import "testing"

func TestBuildInfoString(t *testing.T) {
	for _, tc := range []struct {
		b    BuildInfo
		want string
	}{
		{BuildInfo{Version: "v1.2.3"}, "v1.2.3"},
		{BuildInfo{Version: "(devel)", Revision: "0123456789abcdef0123", Modified: true}, "(devel) (revision 0123456789ab, modified)"},
		{BuildInfo{Version: "v0.0.0-20261201-0123456789ab", Revision: "0123456789abcdef"}, "v0.0.0-20261201-0123456789ab (revision 0123456789ab)"},
	} {
		if got := tc.b.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.b, got, tc.want)
		}
	}
	if got := (BuildInfo{Version: "(devel)"}).userAgentVersion(); got != "devel" {
		t.Errorf("user agent version %q", got)
	}
	// The test binary has build info: a version is always there.
	if b := readBuildInfo(); b.Version == "" || b.Go == "" {
		t.Errorf("readBuildInfo: %+v", b)
	}
}
