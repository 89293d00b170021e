// Package demo runs regprune's main job end to end on an in-process CNCF
// distribution registry seeded like a CI pipeline: plan, apply, then the
// registry's own garbage collector, and reports the bytes actually freed
// next to the plan's estimate.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/regprune/regprune/internal/engine"
	"github.com/regprune/regprune/internal/plan"
	"github.com/regprune/regprune/internal/policy"
	"github.com/regprune/regprune/internal/registry"
	"github.com/regprune/regprune/internal/report"
	"github.com/regprune/regprune/internal/sandbox"
)

// Options configures the demo.
type Options struct {
	Out         io.Writer
	Builds      int // CI builds per repository; default 8
	Concurrency int
	Logger      *slog.Logger
	Now         time.Time
}

// The repositories the demo seeds, like the seed job's libinput images.
const (
	fedora = "libinput/libinput/fedora/28"
	ubuntu = "libinput/libinput/ubuntu/18.04"
)

// Run seeds, plans, applies and garbage-collects; it returns an error if
// anything kept is not pullable afterwards.
func Run(ctx context.Context, o Options) error {
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
	fmt.Fprintf(w, "== started CNCF distribution v3 on %s (delete enabled, filesystem storage)\n", reg.Host)
	fmt.Fprintf(w, "== seeded %s (%d CI builds tagged by job id, the last also 'latest')\n", fedora, o.Builds)
	fmt.Fprintf(w, "   (a kept image keeps every tag: the newest build keeps both 'latest' and its job id %d)\n", 1000+o.Builds)
	fmt.Fprintf(w, "   and %s (%d multi-arch builds, each signed with cosign; build 1002 also tagged release-1)\n", ubuntu, o.Builds)
	fmt.Fprintf(w, "   blob store: %d blobs, %s\n\n", blobs, report.HumanBytes(bytes))

	pol := policy.Policy{Keep: policy.Keep{Tags: []string{"latest"}}}
	re, _ := policy.CompileRegex(`release-.*`)
	pol.Keep.Regex = append(pol.Keep.Regex, re)
	targets := []engine.Job{
		{Repository: reg.Ref(fedora), Policy: pol, Rule: "--keep-tag latest --keep-regex 'release-.*'"},
		{Repository: reg.Ref(ubuntu), Policy: pol, Rule: "--keep-tag latest --keep-regex 'release-.*'"},
	}
	eo := engine.Options{
		Client: registry.New(registry.Options{Concurrency: o.Concurrency, Logger: o.Logger}),
		Logger: o.Logger, Now: o.Now,
	}
	fmt.Fprintf(w, "== regprune plan %s %s --keep-tag latest --keep-regex 'release-.*'\n", reg.Ref(fedora), reg.Ref(ubuntu))
	p := engine.Plan(ctx, targets, plan.ModePlan, eo)
	if err := report.Render(w, p, "table"); err != nil {
		return err
	}
	if err := engine.Result(p); err != nil {
		return err
	}

	fmt.Fprintf(w, "\n== regprune apply %s %s --keep-tag latest --keep-regex 'release-.*' --yes\n", reg.Ref(fedora), reg.Ref(ubuntu))
	fmt.Fprintf(w, "(same rules; re-checks each target, then deletes; at a terminal apply shows the plan and asks first, --yes skips the question and is needed without a terminal)\n")
	before := eo.Client.Stats().Snapshot()
	p = engine.Plan(ctx, targets, plan.ModeApply, eo)
	engine.Apply(ctx, p, eo)
	after := eo.Client.Stats().Snapshot()
	if err := report.Render(w, p, "table"); err != nil {
		return err
	}
	fmt.Fprintf(w, "requests: %d (%d tag-list pages, %d HEAD, %d manifest GET, %d blob GET, %d DELETE)\n",
		after.Requests-before.Requests, after.TagList-before.TagList, after.Head-before.Head,
		after.ManifestGet-before.ManifestGet, after.BlobGet-before.BlobGet, after.Delete-before.Delete)
	if err := engine.Result(p); err != nil {
		return err
	}

	fmt.Fprintf(w, "\n== registry garbage-collect --delete-untagged (distribution v3's own collector; on distribution 2.x run it without --delete-untagged)\n")
	gc, err := reg.GC(ctx)
	if err != nil {
		return fmt.Errorf("garbage collector: %w", err)
	}
	fmt.Fprintf(w, "blob store: %d blobs, %s -> %d blobs, %s\n", gc.BlobsBefore, report.HumanBytes(gc.BytesBefore), gc.BlobsAfter, report.HumanBytes(gc.BytesAfter))
	fmt.Fprintf(w, "freed %s (%d bytes); the plan estimated %s (%d bytes)\n", report.HumanBytes(gc.Freed()), gc.Freed(), report.HumanBytes(p.ReclaimableBytes), p.ReclaimableBytes)

	job := strconv.Itoa(1000 + o.Builds)
	for _, ref := range []string{fedora + ":latest", fedora + ":" + job, ubuntu + ":latest", ubuntu + ":" + job, ubuntu + ":release-1"} {
		if err := reg.Pullable(ctx, ref); err != nil {
			return fmt.Errorf("kept image %s does not pull after GC: %w", ref, err)
		}
	}
	fmt.Fprintf(w, "kept images pull in full after GC (every manifest, child and blob): %s:latest and :%s, %s:latest and :%s, %s:release-1\n", fedora, job, ubuntu, job, ubuntu)
	return nil
}

func seed(ctx context.Context, reg *sandbox.Registry, builds int, start time.Time) error {
	if _, err := reg.SeedCI(ctx, fedora, builds, start, 24*time.Hour); err != nil {
		return err
	}
	for i := 1; i <= builds; i++ {
		created := start.Add(time.Duration(i) * 24 * time.Hour).UTC()
		tags := []string{strconv.Itoa(1000 + i)}
		if i == 2 {
			tags = append(tags, "release-1")
		}
		if i == builds {
			tags = append(tags, "latest")
		}
		spec := func(arch string) *sandbox.ImageSpec {
			return &sandbox.ImageSpec{Created: created, Layers: 2, LayerSize: 32 << 10,
				Platform: &v1.Platform{OS: "linux", Architecture: arch}}
		}
		_, h, err := reg.PushIndex(ctx, ubuntu, types.OCIImageIndex,
			[]sandbox.Child{{Spec: spec("amd64")}, {Spec: spec("arm64")}},
			map[string]string{sandbox.LabelCreated: created.Format(time.RFC3339)}, tags...)
		if err != nil {
			return err
		}
		if _, err := reg.Sign(ctx, ubuntu, h, "sig"); err != nil {
			return err
		}
	}
	return nil
}

// startSeeded starts the demo's registry and seeds it with builds CI
// builds, the first a day apart from now backwards; it returns the blob
// store's size after seeding. The caller closes the registry.
func startSeeded(ctx context.Context, builds int, now time.Time) (reg *sandbox.Registry, blobs int, bytes int64, err error) {
	reg, err = sandbox.Start(ctx, sandbox.Options{})
	if err != nil {
		return nil, 0, 0, fmt.Errorf("starting the demo registry: %w", err)
	}
	start := now.Add(-time.Duration(builds+1) * 24 * time.Hour)
	if err := seed(ctx, reg, builds, start); err != nil {
		reg.Close()
		return nil, 0, 0, fmt.Errorf("seeding: %w", err)
	}
	if blobs, bytes, err = reg.BlobStore(); err != nil {
		reg.Close()
		return nil, 0, 0, err
	}
	return reg, blobs, bytes, nil
}
