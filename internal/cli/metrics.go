package cli

import (
	"os"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
	}, []string{"mode", "repository", "state"})
	manifests := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_repository_manifests_deleted",
		Help: "Manifests (images, index children, signatures, referrers) deleted by apply.",
	}, []string{"mode", "repository"})
	reclaimable := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_repository_reclaimable_bytes",
		Help: "Bytes the plan frees in a repository once the registry's garbage collector runs.",
	}, []string{"mode", "repository"})
	freed := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_repository_freed_bytes",
		Help: "Bytes apply let the garbage collector free in a repository (a lower bound when deletions were skipped or failed).",
	}, []string{"mode", "repository"})
	repoFailed := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_repository_failed",
		Help: "1 if the repository could not be read or its plan was refused: nothing was deleted in it.",
	}, []string{"mode", "repository"})
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "regprune_requests_total",
		Help: "Requests sent to registries by the last run of this mode, by kind: per run, the count starts again at 0 with each run.",
	}, []string{"mode", "kind"})
	duration := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_run_duration_seconds", Help: "Duration of the run.",
	}, []string{"mode"})
	success := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_run_success", Help: "1 if the run finished without a failed repository or deletion.",
	}, []string{"mode"})
	lastRunVec := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "regprune_last_run_timestamp_seconds", Help: "Unix time the run ended.",
	}, []string{"mode"})
	lastSuccessVec := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: lastSuccessMetric, Help: "Unix time of the last run that finished without failures (carried over by failed runs).",
	}, []string{"mode"})
	reg.MustRegister(images, manifests, reclaimable, freed, repoFailed, requests, duration, success, lastRunVec, lastSuccessVec)
	mode := string(p.Mode)
	lastRun, lastSuccess := lastRunVec.WithLabelValues(mode), lastSuccessVec.WithLabelValues(mode)

	for i := range p.Repositories {
		r := &p.Repositories[i]
		name := r.Name
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
		images.WithLabelValues(mode, name, "kept").Set(float64(r.Summary.Keep))
		images.WithLabelValues(mode, name, "delete_planned").Set(float64(r.Summary.Delete))
		if p.Mode == "apply" {
			images.WithLabelValues(mode, name, "deleted").Set(deleted)
			images.WithLabelValues(mode, name, "skipped").Set(skipped)
			images.WithLabelValues(mode, name, "failed").Set(failed)
			manifests.WithLabelValues(mode, name).Set(float64(r.Summary.Deleted))
			freed.WithLabelValues(mode, name).Set(float64(r.FreedBytes()))
		}
		reclaimable.WithLabelValues(mode, name).Set(float64(r.Summary.ReclaimableBytes))
		bad := 0.0
		if r.Err != nil {
			bad = 1
		}
		repoFailed.WithLabelValues(mode, name).Set(bad)
	}
	for kind, n := range map[string]int64{
		"tag_list": s.TagList, "manifest_head": s.Head, "manifest_get": s.ManifestGet, "blob_get": s.BlobGet,
		"delete": s.Delete, "referrers": s.Referrers, "catalog": s.Catalog, "auth": s.Auth, "vendor_api": s.API,
		"retry": s.Retries, "rate_limited": s.RateLimited,
	} {
		requests.WithLabelValues(mode, kind).Add(float64(n))
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
		lastSuccess.Set(previousSuccess(path, mode))
	}
	if err := regularOrMissing(path); err != nil {
		return err
	}
	return prometheus.WriteToTextfile(path, prometheus.Gatherers{reg, otherModes(path, mode, reg)})
}

// previousSuccess reads the last success time of mode from the metrics
// file a run is about to replace; 0 when there is none.
func previousSuccess(path, mode string) float64 {
	families := readMetrics(path)
	if mf := families[lastSuccessMetric]; mf != nil {
		for _, m := range mf.Metric {
			if m.Gauge != nil && labelOf(m, "mode") == mode {
				return m.Gauge.GetValue()
			}
		}
	}
	return 0
}

// readMetrics parses the metrics file at path; nil when it cannot. It
// opens non-blocking and reads only a regular file: opening a FIFO to
// read would wait for a writer.
func readMetrics(path string) map[string]*dto.MetricFamily {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(f)
	if err != nil {
		return nil
	}
	return families
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// otherModes keeps, from the metrics file a run is about to replace, the
// series of the other mode (plan's when apply writes, and the reverse):
// plan and apply share one file, each under its own mode label. Only
// families this run writes too, with the same type and help, are kept,
// so that a file of an older regprune (no mode label) is replaced.
func otherModes(path, mode string, ours prometheus.Gatherer) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mine, err := ours.Gather()
		if err != nil {
			return nil, err
		}
		old := readMetrics(path)
		var out []*dto.MetricFamily
		for _, f := range mine {
			o := old[f.GetName()]
			if o == nil || o.GetType() != f.GetType() || o.GetHelp() != f.GetHelp() {
				continue
			}
			keep := &dto.MetricFamily{Name: o.Name, Help: o.Help, Type: o.Type}
			for _, m := range o.Metric {
				if other := labelOf(m, "mode"); other != "" && other != mode {
					keep.Metric = append(keep.Metric, m)
				}
			}
			if len(keep.Metric) > 0 {
				out = append(out, keep)
			}
		}
		return out, nil
	})
}
