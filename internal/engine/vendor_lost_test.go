package engine_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/registrytest"
)

// loseFirstVersionDelete lets the first package-version DELETE reach the
// API and answers it 502, as a gateway that lost the API's answer would:
// the version is gone, and the retry gets 404.
type loseFirstVersionDelete struct {
	next http.RoundTripper
	done atomic.Bool
}

func (l *loseFirstVersionDelete) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodDelete || !strings.Contains(req.URL.Path, "/versions/") || !l.done.CompareAndSwap(false, true) {
		return resp, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return &http.Response{StatusCode: http.StatusBadGateway, Status: "502 Bad Gateway", Header: http.Header{},
		Body: io.NopCloser(strings.NewReader("")), Request: req, ProtoMajor: 1, ProtoMinor: 1}, nil
}

// A vendor API's DELETE (here GitHub's package version delete) whose first
// attempt was carried out and whose answer was lost (502), and whose retry
// gets 404, was deleted by this run: like a v2 DELETE in the same case
// (registry.TestDeleteAnswerLostThen404), it is reported deleted, and its
// journal entry says deleted, so restore brings it back. Before, the 404
// made it "already gone": skipped, journalled not_found, out of restore's
// reach.
func TestGitHubDeleteAnswerLostThen404(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reg := registrytest.New(t, registrytest.Options{})
	const repo = "acme/app"
	s := seedVendor(t, reg, repo)
	gh := registrytest.NewGitHub(t, reg, registrytest.GitHubOptions{})
	o := ghOptions(gh, "")
	lose := &loseFirstVersionDelete{next: http.DefaultTransport}
	o.Client = registry.New(registry.Options{
		APIs:      registry.APIConfig{Default: registry.APISetting{URL: gh.URL}, Getenv: func(string) string { return "" }},
		Retry:     registry.RetryPolicy{Base: time.Millisecond},
		Transport: lose,
	})
	pl := ghRun(ctx, t, o, gh.Ref(repo))
	if !lose.done.Load() {
		t.Fatal("no version DELETE was answered 502")
	}
	r := pl.Repositories[0]
	if r.Err != nil {
		t.Fatalf("apply: %v", r.Err)
	}
	for _, it := range r.Items {
		if it.Action == plan.ActionDelete && it.Result != plan.ResultDeleted {
			t.Errorf("%s: %s (%s), want deleted", it.Digest, it.Result, it.ResultReason)
		}
	}
	if r.Summary.Deleted != len(s.deleted) {
		t.Errorf("deleted %d, want %d", r.Summary.Deleted, len(s.deleted))
	}
	checkWhole(t, reg, repo, s)
}
