package cli

import (
	"errors"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/registry"
)

// lastSuccessMetric survives failed runs: a run that fails carries the
// previous value over from the file it replaces.
const lastSuccessMetric = "regprune_last_success_timestamp_seconds"

// writeMetrics writes the run's metrics in the Prometheus text format for
// node_exporter's textfile collector, atomically (client_golang writes a
// temporary file and renames it).
func writeMetrics(path string, p *plan.Plan, s registry.StatsSnapshot, took time.Duration, completed bool, now time.Time) error {
	reg := prometheus.NewPedanticRegistry()
	images := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_repository_images",
		Help: "Images of a repository by state: kept, delete_planned; after apply deleted, skipped and failed.",
	}, []string{"repository", "state"})
	manifests := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_repository_manifests_deleted",
		Help: "Manifests (images, index children, signatures, referrers) deleted by apply.",
	}, []string{"repository"})
	reclaimable := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_repository_reclaimable_bytes",
		Help: "Bytes the plan frees in a repository once the registry's garbage collector runs.",
	}, []string{"repository"})
	freed := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_repository_freed_bytes",
		Help: "Bytes apply let the garbage collector free in a repository (a lower bound when deletions were skipped or failed).",
	}, []string{"repository"})
	repoFailed := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_repository_failed",
		Help: "1 if the repository could not be read or its plan was refused: nothing was deleted in it.",
	}, []string{"repository"})
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "regprune_requests_total",
		Help: "Requests sent to registries during the run, by kind.",
	}, []string{"kind"})
	duration := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_run_duration_seconds", Help: "Duration of the run.",
	}, []string{"mode"})
	success := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_run_success", Help: "1 if the run finished without a failed repository or deletion.",
	}, []string{"mode"})
	lastRun := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "regprune_last_run_timestamp_seconds", Help: "Unix time the run ended.",
	})
	lastSuccess := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: lastSuccessMetric, Help: "Unix time of the last run that finished without failures (carried over by failed runs).",
	})
	reg.MustRegister(images, manifests, reclaimable, freed, repoFailed, requests, duration, success, lastRun, lastSuccess)

	for i := range p.Repositories {
		r := &p.Repositories[i]
		name := r.Repository
		var deleted, skipped, failed float64
		for _, it := range r.Items {
			if it.Kind != plan.KindImage {
				continue
			}
			switch it.Result {
			case plan.ResultDeleted:
				deleted++
			case plan.ResultSkipped:
				skipped++
			case plan.ResultFailed:
				failed++
			}
		}
		images.WithLabelValues(name, "kept").Set(float64(r.Summary.Keep))
		images.WithLabelValues(name, "delete_planned").Set(float64(r.Summary.Delete))
		if p.Mode == "apply" {
			images.WithLabelValues(name, "deleted").Set(deleted)
			images.WithLabelValues(name, "skipped").Set(skipped)
			images.WithLabelValues(name, "failed").Set(failed)
			manifests.WithLabelValues(name).Set(float64(r.Summary.Deleted))
			freed.WithLabelValues(name).Set(float64(r.FreedBytes()))
		}
		reclaimable.WithLabelValues(name).Set(float64(r.Summary.ReclaimableBytes))
		bad := 0.0
		if r.Err != nil {
			bad = 1
		}
		repoFailed.WithLabelValues(name).Set(bad)
	}
	for kind, n := range map[string]int64{
		"tag_list": s.TagList, "manifest_head": s.Head, "manifest_get": s.ManifestGet, "blob_get": s.BlobGet,
		"delete": s.Delete, "referrers": s.Referrers, "catalog": s.Catalog, "auth": s.Auth, "vendor_api": s.API,
		"retry": s.Retries, "rate_limited": s.RateLimited,
	} {
		requests.WithLabelValues(kind).Add(float64(n))
	}
	duration.WithLabelValues(string(p.Mode)).Set(took.Seconds())
	ok := completed && p.Summary.Failed == 0 && p.Summary.FailedItems == 0
	lastRun.Set(float64(now.Unix()))
	switch {
	case ok:
		success.WithLabelValues(string(p.Mode)).Set(1)
		lastSuccess.Set(float64(now.Unix()))
	default:
		success.WithLabelValues(string(p.Mode)).Set(0)
		lastSuccess.Set(previousSuccess(path))
	}
	return prometheus.WriteToTextfile(path, reg)
}

// previousSuccess reads the last success time from the metrics file a run
// is about to replace; 0 when there is none.
func previousSuccess(path string) float64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if mf := families[lastSuccessMetric]; mf != nil && len(mf.Metric) == 1 && mf.Metric[0].Gauge != nil {
		return mf.Metric[0].Gauge.GetValue()
	}
	return 0
}
