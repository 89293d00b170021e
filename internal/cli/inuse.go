package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/regprune/regprune/internal/config"
	"github.com/regprune/regprune/internal/inuse"
	"github.com/regprune/regprune/internal/inuse/kube"
	"github.com/regprune/regprune/internal/plan"
)

// inUseFlags name the sources of images in use (README, "Images in use").
type inUseFlags struct {
	from       []string
	kubeconfig string
}

func (f *inUseFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.from, "keep-in-use-from", nil, "keep the images this source names as in use: kubernetes, kubernetes:CONTEXT, or file:PATH (- for standard input); repeatable")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file for --keep-in-use-from kubernetes (default: $KUBECONFIG, ~/.kube/config, then the in-cluster config)")
}

// inUseSource is one parsed source.
type inUseSource struct {
	kube    bool
	context string // kubernetes: the context, "" for the current one
	path    string // file: the path, "-" for standard input
}

func (s inUseSource) String() string {
	switch {
	case s.kube && s.context == "":
		return "kubernetes"
	case s.kube:
		return "kubernetes:" + s.context
	}
	return "file:" + s.path
}

// parseInUse checks the sources of the flags and of the policy file cfg
// (whose files are relative to it) before any request. stdinTaken names
// what else reads standard input ("-f -", "--plan -"), if anything.
func (f *inUseFlags) parse(cfg *config.Config, stdinTaken string) ([]inUseSource, error) {
	var out []inUseSource
	seen := map[string]bool{}
	addOne := func(raw, where string) error {
		var s inUseSource
		switch {
		case raw == "kubernetes":
			s.kube = true
		case strings.HasPrefix(raw, "kubernetes:"):
			s.kube, s.context = true, strings.TrimPrefix(raw, "kubernetes:")
			if strings.TrimSpace(s.context) == "" {
				return usagef("%s %q: want kubernetes or kubernetes:CONTEXT", where, raw)
			}
		case strings.HasPrefix(raw, "file:"):
			s.path = strings.TrimPrefix(raw, "file:")
			if s.path == "" {
				return usagef("%s %q: want file:PATH (file:- for standard input)", where, raw)
			}
			if s.path == "-" && stdinTaken != "" {
				return usagef("%s %q: standard input is already read by %s", where, raw, stdinTaken)
			}
		default:
			return usagef("%s %q: want kubernetes, kubernetes:CONTEXT or file:PATH", where, raw)
		}
		if !seen[s.String()] {
			seen[s.String()] = true
			out = append(out, s)
		}
		return nil
	}
	for _, raw := range f.from {
		if err := addOne(raw, "--keep-in-use-from"); err != nil {
			return nil, err
		}
	}
	if f.kubeconfig != "" && !kubeIn(out) && (cfg == nil || len(cfg.InUse.Kubernetes) == 0) {
		return nil, usagef("--kubeconfig %s: no kubernetes source to use it (--keep-in-use-from kubernetes)", f.kubeconfig)
	}
	if cfg != nil {
		for _, c := range cfg.InUse.Kubernetes {
			s := inUseSource{kube: true, context: c}
			if !seen[s.String()] {
				seen[s.String()] = true
				out = append(out, s)
			}
		}
		for _, p := range cfg.InUse.Files {
			if !filepath.IsAbs(p) && cfg.Source != stdinName {
				p = filepath.Join(filepath.Dir(cfg.Source), p)
			}
			s := inUseSource{path: p}
			if !seen[s.String()] {
				seen[s.String()] = true
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func kubeIn(ss []inUseSource) bool {
	for _, s := range ss {
		if s.kube {
			return true
		}
	}
	return false
}

// readInUse reads every source in full. The first that cannot be read
// stops the run before any repository is planned (exit 1), naming the
// source and the cause: a partial in-use set is never taken for complete.
func (f *inUseFlags) read(ctx context.Context, env *Env, sources []inUseSource) (*inuse.Set, error) {
	set := inuse.NewSet()
	for _, s := range sources {
		var err error
		switch {
		case s.kube:
			err = kube.Read(ctx, set, kube.Options{Kubeconfig: f.kubeconfig, KubeconfigEnv: env.Getenv("KUBECONFIG"), Context: s.context})
		case s.path == "-":
			err = inuse.ReadList(set, env.Stdin, stdinName)
		default:
			fh, oerr := os.Open(s.path)
			if oerr != nil {
				err = fmt.Errorf("%w: file %s: %w", inuse.ErrSource, s.path, oerr)
				break
			}
			err = inuse.ReadList(set, fh, s.path)
			fh.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("%w; nothing was planned or deleted", err)
		}
	}
	return set, nil
}

// inUseCounts is the plan's in_use block.
func inUseCounts(set *inuse.Set) *plan.InUseCounts {
	return &plan.InUseCounts{Sources: len(set.Sources()), References: set.References()}
}
