// Package kube reads the images that a Kubernetes cluster uses: every
// container image and status imageID of Pods, and the pod templates of
// Deployments, ReplicaSets (those scaled to 0 too: rollback targets),
// StatefulSets, DaemonSets, Jobs, CronJobs and ControllerRevisions, in
// every namespace, paged with limit and continue.
//
// It uses client-go's rest client and clientcmd, and decodes the lists
// as plain JSON: the typed clientset and the API types add megabytes to
// the binary for nothing regprune reads (README, "Size"). Any error of
// any list fails the whole source: a partial in-use set must never be
// taken for a complete one.
package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/regprune/regprune/internal/inuse"
)

// Options says which cluster to read.
type Options struct {
	// Kubeconfig is --kubeconfig; "" uses KUBECONFIG, then
	// ~/.kube/config, then the in-cluster config.
	Kubeconfig string
	// KubeconfigEnv is $KUBECONFIG (a path list, merged as kubectl does),
	// used when Kubeconfig is "".
	KubeconfigEnv string
	// Context names the kubeconfig context; "" is the current one.
	Context string
	// PageSize is the limit of each list request; 0 means 500.
	PageSize int
	// Timeout bounds each request; 0 means 60s.
	Timeout time.Duration
}

// Resource is one list regprune reads.
type Resource struct {
	Kind string // Pod, Deployment, ...
	Path string // /api/v1/pods, ...
}

// Resources are the lists read, in order; RBAC needs get and list on each
// (deploy/kubernetes/rbac.yaml).
var Resources = []Resource{
	{"Pod", "/api/v1/pods"},
	{"Deployment", "/apis/apps/v1/deployments"},
	{"ReplicaSet", "/apis/apps/v1/replicasets"},
	{"StatefulSet", "/apis/apps/v1/statefulsets"},
	{"DaemonSet", "/apis/apps/v1/daemonsets"},
	{"ControllerRevision", "/apis/apps/v1/controllerrevisions"},
	{"Job", "/apis/batch/v1/jobs"},
	{"CronJob", "/apis/batch/v1/cronjobs"},
}

// Source names the source in messages and the plan: "kubernetes" or
// "kubernetes:CONTEXT".
func (o Options) Source() string {
	if o.Context == "" {
		return "kubernetes"
	}
	return "kubernetes:" + o.Context
}

// Read adds every image the cluster uses to s, each named by its object
// and context ("Deployment prod/web (context prod)"). Any error fails
// the whole source, wrapping inuse.ErrSource and naming the source and
// the list.
func Read(ctx context.Context, s *inuse.Set, o Options) error {
	cfg, contextName, err := restConfig(o)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", inuse.ErrSource, o.Source(), err)
	}
	rc, err := client(cfg, o)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", inuse.ErrSource, o.Source(), err)
	}
	limit := o.PageSize
	if limit <= 0 {
		limit = 500
	}
	for _, res := range Resources {
		cont := ""
		for page := 0; ; page++ {
			if page > 1_000_000 {
				return fmt.Errorf("%w: %s: list %s: more than a million pages", inuse.ErrSource, o.Source(), res.Path)
			}
			req := rc.Get().AbsPath(res.Path).Param("limit", fmt.Sprint(limit))
			if cont != "" {
				req = req.Param("continue", cont)
			}
			body, err := req.DoRaw(ctx)
			if err != nil {
				return fmt.Errorf("%w: %s: list %s in all namespaces: %w", inuse.ErrSource, o.Source(), res.Path, describe(err, body))
			}
			var list struct {
				Metadata struct {
					Continue string `json:"continue"`
				} `json:"metadata"`
				Items []map[string]any `json:"items"`
			}
			if err := json.Unmarshal(body, &list); err != nil {
				return fmt.Errorf("%w: %s: list %s: not a list: %w", inuse.ErrSource, o.Source(), res.Path, err)
			}
			for _, obj := range list.Items {
				user := inuse.ObjectName(res.Kind, obj) + " (context " + contextName + ")"
				for _, img := range inuse.ObjectImages(obj) {
					if s.Add(img, user) != nil {
						s.Skipped() // an image id without a name: no repository
					}
				}
			}
			if list.Metadata.Continue == "" {
				break
			}
			if list.Metadata.Continue == cont {
				return fmt.Errorf("%w: %s: list %s: the continue token repeats", inuse.ErrSource, o.Source(), res.Path)
			}
			cont = list.Metadata.Continue
		}
	}
	s.AddSource(o.Source())
	return nil
}

// restConfig loads the client configuration as kubectl does: --kubeconfig,
// else KUBECONFIG, else ~/.kube/config; with none of them, the in-cluster
// config. It returns the name of the context used ("in-cluster" there).
func restConfig(o Options) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.MigrationRules = nil // never rewrite the user's files
	rules.Precedence = []string{clientcmd.RecommendedHomeFile}
	if o.KubeconfigEnv != "" {
		rules.Precedence = filepath.SplitList(o.KubeconfigEnv)
	}
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	name := o.Context
	if name == "" {
		name = raw.CurrentContext
	}
	if o.Context != "" {
		if _, ok := raw.Contexts[o.Context]; !ok {
			return nil, "", fmt.Errorf("kubeconfig has no context %q", o.Context)
		}
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", errors.New("no kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config) and not running in a pod")
		}
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	if len(raw.Contexts) == 0 {
		name = "in-cluster"
	}
	return cfg, name, nil
}

func client(cfg *rest.Config, o Options) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.Timeout = o.Timeout
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	c.AcceptContentTypes = "application/json"
	c.ContentType = "application/json"
	c.APIPath = "/api"
	// Only metav1.Status is decoded (for the API server's error messages);
	// lists are read as plain JSON.
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = "regprune"
	}
	return rest.UnversionedRESTClientFor(c)
}

// describe says what a failed list means for the user, with the API
// server's own message when its answer has one.
func describe(err error, body []byte) error {
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" && st.Message != "" {
		err = &statusError{msg: st.Message, err: err}
	}
	switch {
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("unauthorized (an expired or wrong token?): %w", err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w (regprune needs get and list on it in every namespace: deploy/kubernetes/rbac.yaml)", err)
	case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
		return fmt.Errorf("the listing changed too much while paging (continue token expired); run again: %w", err)
	}
	return err
}

// statusError is err with the message of the API server's Status.
type statusError struct {
	msg string
	err error
}

func (e *statusError) Error() string { return e.msg }
func (e *statusError) Unwrap() error { return e.err }
