// Package kube gives the jobs their Kubernetes access: a client built from the
// in-cluster config or a kubeconfig, paginated cluster-wide LISTs (full or
// metadata-only), and a request counter that proves a job reads the cluster in
// a constant number of calls.
package kube

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options says how to reach the API server.
type Options struct {
	// Kubeconfig is a kubeconfig path. Empty means the in-cluster config when
	// running in a pod, else the usual KUBECONFIG / ~/.kube/config lookup.
	Kubeconfig string
	// Context selects a kubeconfig context; empty means the current one.
	Context string
	// QPS and Burst bound the client's request rate (client-go's limiter).
	QPS   float32
	Burst int
	// UserAgent names the job in the API server's audit log.
	UserAgent string
}

// ErrNoKubeconfig is a run given no cluster at all: no --kubeconfig, no
// KUBECONFIG or ~/.kube/config, not in a pod.
var ErrNoKubeconfig = errors.New("no kubeconfig found: pass --kubeconfig or set KUBECONFIG, or run in a pod")

// Config builds the REST config the options describe.
func Config(opts Options) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if opts.Kubeconfig == "" && opts.Context == "" && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
	} else {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if opts.Kubeconfig != "" {
			if _, statErr := os.Stat(opts.Kubeconfig); statErr != nil {
				return nil, fmt.Errorf("kubeconfig %s: %w", opts.Kubeconfig, statErr)
			}
			rules.ExplicitPath = opts.Kubeconfig
		}
		overrides := &clientcmd.ConfigOverrides{CurrentContext: opts.Context}
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
		if err != nil {
			if clientcmd.IsEmptyConfig(err) {
				return nil, ErrNoKubeconfig
			}
			return nil, fmt.Errorf("kubeconfig %q: %w", opts.Kubeconfig, err)
		}
	}
	if opts.QPS > 0 {
		cfg.QPS = opts.QPS
	}
	if opts.Burst > 0 {
		cfg.Burst = opts.Burst
	}
	if opts.UserAgent != "" {
		cfg.UserAgent = opts.UserAgent
	}
	return cfg, nil
}

// Clients are the typed, dynamic (for Akash CRs) and metadata-only clients of
// one API server, sharing one rate limiter.
type Clients struct {
	Kube     kubernetes.Interface
	Dynamic  dynamic.Interface
	Metadata metadata.Interface
	// REST reads raw JSON (custom resources, see EachRaw).
	REST   rest.Interface
	Config *rest.Config
}

// NewClients builds the clients. Built-in types travel as protobuf, which
// halves the bytes and the decoding work of large cluster-wide LISTs.
func NewClients(cfg *rest.Config) (*Clients, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.DisableCompression = true
	if cfg.RateLimiter == nil && cfg.QPS > 0 {
		// One limiter for all three clients, so Burst/QPS bound the job as a whole.
		cfg.RateLimiter = newTokenBucket(cfg.QPS, cfg.Burst)
	}
	typed := rest.CopyConfig(cfg)
	typed.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	typed.ContentType = "application/vnd.kubernetes.protobuf"
	kube, err := kubernetes.NewForConfig(typed)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	raw := rest.CopyConfig(cfg)
	raw.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	rc, err := rest.UnversionedRESTClientFor(raw)
	if err != nil {
		return nil, fmt.Errorf("REST client: %w", err)
	}
	return &Clients{Kube: kube, Dynamic: dyn, Metadata: meta, REST: rc, Config: cfg}, nil
}
