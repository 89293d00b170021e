package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/regprune/regprune/internal/cli"
	"github.com/regprune/regprune/internal/plan"
)

// parseMetrics reads a metrics file with the Prometheus text parser.
func parseMetrics(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("the metrics file does not parse: %v", err)
	}
	return fams
}

// value returns the value of the metric of family name whose labels
// include labels.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	mf := fams[name]
	if mf == nil {
		t.Fatalf("no %s", name)
	}
next:
	for _, m := range mf.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

func TestMetricsFile(t *testing.T) {
	reg := seededRegistry(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "regprune.prom")
	repo := reg.Host + "/ci/app"

	var stdout, stderr bytes.Buffer
	err := cli.Run(context.Background(), []string{"apply", repo, "--keep-tag", "latest", "--yes", "--no-cache", "-o", "json", "--metrics-file", path},
		cli.Env{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var p plan.Plan
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	fams := parseMetrics(t, path)
	r := p.Repositories[0]
	for state, want := range map[string]int{"kept": r.Summary.Keep, "delete_planned": r.Summary.Delete, "deleted": 4, "skipped": 0, "failed": 0} {
		if got := value(t, fams, "regprune_repository_images", map[string]string{"repository": repo, "state": state}); got != float64(want) {
			t.Errorf("images %s: %g, want %d", state, got, want)
		}
	}
	if got := value(t, fams, "regprune_repository_reclaimable_bytes", map[string]string{"repository": repo}); got != float64(r.Summary.ReclaimableBytes) || got == 0 {
		t.Errorf("reclaimable %g, plan %d", got, r.Summary.ReclaimableBytes)
	}
	if got := value(t, fams, "regprune_repository_freed_bytes", map[string]string{"repository": repo}); got != float64(r.FreedBytes()) || got == 0 {
		t.Errorf("freed %g, plan %d", got, r.FreedBytes())
	}
	// Four image DELETEs plus the untag of latest's job tag.
	if got := value(t, fams, "regprune_requests_total", map[string]string{"kind": "delete"}); got < 4 {
		t.Errorf("delete requests %g", got)
	}
	if got := value(t, fams, "regprune_requests_total", map[string]string{"kind": "tag_list"}); got < 1 {
		t.Errorf("tag list requests %g", got)
	}
	if got := value(t, fams, "regprune_run_success", map[string]string{"mode": "apply"}); got != 1 {
		t.Errorf("success %g", got)
	}
	if value(t, fams, "regprune_run_duration_seconds", map[string]string{"mode": "apply"}) <= 0 {
		t.Error("no run duration")
	}
	last := value(t, fams, "regprune_last_success_timestamp_seconds", nil)
	if last <= 0 || last != value(t, fams, "regprune_last_run_timestamp_seconds", nil) {
		t.Errorf("last success %g", last)
	}

	// A failed run (a refused plan) keeps the last success time.
	stdout.Reset()
	err = cli.Run(context.Background(), []string{"plan", repo, "--older-than", "1h", "--no-cache", "--metrics-file", path},
		cli.Env{Stdout: &stdout, Stderr: &stderr})
	if cli.ExitCode(err) != cli.ExitFailure {
		t.Fatalf("refused plan: %v", err)
	}
	fams = parseMetrics(t, path)
	if got := value(t, fams, "regprune_run_success", map[string]string{"mode": "plan"}); got != 0 {
		t.Errorf("success %g after a refused plan", got)
	}
	if got := value(t, fams, "regprune_repository_failed", map[string]string{"mode": "plan", "repository": repo}); got != 1 {
		t.Errorf("repository failed %g", got)
	}
	// Plan and apply share the file, each under its own mode: the plan
	// replaced none of the apply's series.
	if got := value(t, fams, "regprune_run_success", map[string]string{"mode": "apply"}); got != 1 {
		t.Errorf("apply's success %g after a plan wrote the same file", got)
	}
	if got := value(t, fams, "regprune_repository_images", map[string]string{"mode": "apply", "repository": repo, "state": "deleted"}); got != 4 {
		t.Errorf("apply's deleted images %g after a plan wrote the same file", got)
	}
	if got := value(t, fams, "regprune_repository_failed", map[string]string{"mode": "apply", "repository": repo}); got != 0 {
		t.Errorf("apply's repository failed %g", got)
	}
	if h := fams["regprune_requests_total"].GetHelp(); !strings.Contains(h, "per run") {
		t.Errorf("requests_total's HELP does not say it is per run: %q", h)
	}
	for _, m := range fams["regprune_requests_total"].Metric {
		if len(m.Label) != 2 {
			t.Errorf("requests_total without its mode: %v", m.Label)
		}
	}
	if got := value(t, fams, "regprune_last_success_timestamp_seconds", nil); got != last {
		t.Errorf("last success %g after a failed run, want %g carried over", got, last)
	}
}
