package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/regprune/regprune/internal/sandbox"
)

// seedStart is the build time of job 1000; builds are an hour apart.
var seedStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// seedWorkers pushes at once while seeding (straight at the registry, no
// proxy).
const seedWorkers = 16

// seedCI pushes builds like sandbox.SeedCI, concurrently: build i
// (1..n) is tagged 1000+i, created at seedStart+i hours (config "created"
// and label), and the last is also tagged latest.
func seedCI(ctx context.Context, reg *sandbox.Registry, n int) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(seedWorkers)
	for i := 1; i <= n; i++ {
		g.Go(func() error {
			created := seedStart.Add(time.Duration(i) * time.Hour)
			tags := []string{strconv.Itoa(1000 + i)}
			if i == n {
				tags = append(tags, "latest")
			}
			_, _, err := reg.PushImage(gctx, repo, sandbox.ImageSpec{
				Created: created,
				Labels:  map[string]string{sandbox.LabelCreated: created.Format(time.RFC3339)},
			}, tags...)
			if err != nil {
				return fmt.Errorf("build %d: %w", i, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// seedShared pushes images distinct images and names them with tags job
// tags (1001..1000+tags; tag k names image k mod images) plus latest on
// the last job's image. Each image is pushed once; every further tag is a
// single manifest PUT of the bytes already stored, many at once.
func seedShared(ctx context.Context, reg *sandbox.Registry, tags, images int) error {
	images = min(images, tags)
	type stored struct {
		raw []byte
		mt  string
	}
	manifests := make([]stored, images)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(seedWorkers)
	for i := range images {
		g.Go(func() error {
			created := seedStart.Add(time.Duration(i) * time.Hour)
			img, _, err := reg.PushImage(gctx, repo, sandbox.ImageSpec{
				Created: created,
				Labels:  map[string]string{sandbox.LabelCreated: created.Format(time.RFC3339)},
			}, strconv.Itoa(1001+i))
			if err != nil {
				return fmt.Errorf("image %d: %w", i, err)
			}
			raw, err := img.RawManifest()
			if err != nil {
				return err
			}
			mt, err := img.MediaType()
			if err != nil {
				return err
			}
			manifests[i] = stored{raw, string(mt)}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 2 * seedWorkers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	put := func(ctx context.Context, tag string, m stored) error {
		return putManifest(ctx, hc, reg.URL+"/v2/"+repo+"/manifests/"+tag, m.mt, m.raw)
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(2 * seedWorkers)
	for k := images; k < tags; k++ {
		g.Go(func() error { return put(gctx, strconv.Itoa(1001+k), manifests[k%images]) })
	}
	g.Go(func() error { return put(gctx, "latest", manifests[(tags-1)%images]) })
	return g.Wait()
}

// putManifest PUTs a manifest body to u (a .../manifests/<tag> URL) and
// wants 201 Created.
func putManifest(ctx context.Context, hc *http.Client, u, mediaType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT %s: %s %s", u, resp.Status, msg)
	}
	return nil
}
