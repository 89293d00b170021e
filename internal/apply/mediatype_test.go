package apply

import (
	"testing"

	"github.com/regprune/regprune/internal/graph"
	"github.com/regprune/regprune/internal/plan"
)

// The order tells indexes by the media type constants. An unknown type,
// even one that says "index", is ordered like an image: it waits for the
// referrers indexes of its subject.
func TestIsIndexFromConstants(t *testing.T) {
	for mt, want := range map[string]bool{
		graph.MediaOCIIndex: true, graph.MediaDockerList: true,
		graph.MediaOCIManifest: false, graph.MediaDockerV2: false, "": false,
		"application/vnd.example.index.v1+json": false,
	} {
		if got := isIndex(&plan.Item{MediaType: mt}); got != want {
			t.Errorf("isIndex(%q) = %v", mt, got)
		}
	}
}
