// bid-price prices Akash orders as the provider's bid price script does,
// exactly, with prices an operator can change without restarting the
// provider:
//
//	bid-price            the drop-in script: the order on stdin, PRICE_TARGET_*
//	                     in the environment, the price on stdout
//	bid-price serve      an HTTP service (POST /v1/price) configured by a
//	                     ConfigMap it watches, with /metrics and GPU coverage
//	bid-price audit      the GPUs on the nodes that no mapping prices
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rs/zerolog"

	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube"
	"github.com/akash-janitor/akash-janitor/lib/pricing"
	"github.com/akash-janitor/akash-janitor/lib/pricing/dropin"
	"github.com/akash-janitor/akash-janitor/lib/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(args) == 0 {
		ctx, cancel := context.WithTimeout(ctx, dropin.Timeout)
		defer cancel()
		return dropin.Run(ctx, stdin, stdout, stderr, os.LookupEnv)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "audit":
		return audit(ctx, args[1:], stdout, stderr)
	case "--version", "version":
		fmt.Fprintln(stdout, version.Line("bid-price"))
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "bid-price: unknown command %q (see bid-price --help)\n", args[0])
	return 2
}

const usage = `bid-price: the provider's bid pricing, as a tested Go program.

  bid-price              read an order on stdin, print its price (drop-in for price_script_generic.sh)
  bid-price serve        serve POST /v1/price, configured by a ConfigMap it watches
  bid-price audit        list the GPUs on the nodes that no price mapping covers
  bid-price version      print the version

serve and audit take --flags (bid-price serve --help), each also settable by environment
variable as the jobs' are: --namespace as JANITOR_NAMESPACE.

Configuration (environment for the drop-in, ConfigMap keys for serve and audit):
  PRICE_TARGET_CPU, _MEMORY, _HD_EPHEMERAL, _HD_PERS_HDD, _HD_PERS_SSD, _HD_PERS_NVME,
  _ENDPOINT, _IP (USD a month) and PRICE_TARGET_GPU_MAPPINGS (model[.ram][.interface]=USD,...),
  as for the script; AKT_PRICE_USD (a fixed AKT price), AKT_PRICE_SOURCES (dia,coingecko),
  AKT_PRICE_CACHE (the drop-in's price file), FIX_STAR_WILDCARD, FIX_COUNT_ENDPOINTS_AND_IPS,
  FIX_AMD_MEMORY_AND_INTERFACE (opt-in departures from the script; see the README).
`

type kubeFlags struct {
	opts      kube.Options
	qps       float64
	namespace string
	configMap string
	logFormat string
	logLevel  string
}

func (k *kubeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.opts.Kubeconfig, "kubeconfig", "", "kubeconfig path; empty: in-cluster, else $KUBECONFIG or ~/.kube/config")
	fs.StringVar(&k.opts.Context, "context", "", "kubeconfig context")
	fs.Float64Var(&k.qps, "kube-qps", 10, "API requests per second")
	fs.IntVar(&k.opts.Burst, "kube-burst", 20, "API request burst")
	fs.StringVar(&k.namespace, "namespace", os.Getenv("POD_NAMESPACE"), "namespace of the ConfigMap (default $POD_NAMESPACE)")
	fs.StringVar(&k.configMap, "configmap", "akash-janitor-bid-price", "the ConfigMap holding the pricing configuration")
	fs.StringVar(&k.logFormat, "log-format", "json", "json or console")
	fs.StringVar(&k.logLevel, "log-level", "info", "debug, info, warn or error")
}

func (k *kubeFlags) setup(name string, stderr io.Writer) (*kube.Clients, zerolog.Logger, error) {
	log, err := job.NewLogger(stderr, k.logFormat, k.logLevel)
	if err != nil {
		return nil, log, err
	}
	log = log.With().Str("job", "bid-price").Logger()
	if k.namespace == "" {
		return nil, log, errors.New("--namespace is empty (and $POD_NAMESPACE is not set)")
	}
	k.opts.QPS, k.opts.UserAgent = float32(k.qps), "akash-janitor/bid-price/"+version.Version
	cfg, err := kube.Config(k.opts)
	if err != nil {
		return nil, log, err
	}
	clients, err := kube.NewClients(cfg)
	return clients, log, err
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bid-price serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var k kubeFlags
	k.register(fs)
	listen := fs.String("listen", ":8080", "address of /v1/price, /metrics, /healthz and /readyz")
	auditEvery := fs.Duration("audit-interval", 10*time.Minute, "how often the nodes' GPUs are checked against the mappings; 0: never")
	if code, ok := job.ParseFlags("bid-price serve", "serve POST /v1/price, configured by a ConfigMap it watches", fs, args, os.LookupEnv, stdout, stderr); !ok {
		return code
	}
	clients, log, err := k.setup("serve", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "bid-price serve: %v\n", err)
		return 2
	}
	s := &server{log: log, metrics: newServerMetrics(), loaded: make(chan struct{}, 1)}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error().Err(err).Msg("--listen")
		return 2
	}
	log.Info().Str("addr", l.Addr().String()).Str("configmap", k.namespace+"/"+k.configMap).Str("version", version.Version).Msg("serving")
	go s.watchConfig(ctx, clients.Kube, k.namespace, k.configMap)
	if *auditEvery > 0 {
		// The GPU coverage audit: after each configuration loaded, and on
		// an interval for nodes that come and go.
		go func() {
			t := time.NewTicker(*auditEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-s.loaded:
				case <-t.C:
				}
				if err := s.audit(ctx, clients); err != nil {
					log.Warn().Err(err).Msg("GPU coverage audit failed")
				}
			}
		}()
	}
	if err := job.ServeHTTP(ctx, l, s.handler()); err != nil {
		log.Error().Err(err).Msg("server stopped")
		return 1
	}
	return 0
}

func audit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bid-price audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var k kubeFlags
	k.register(fs)
	fromEnv := fs.Bool("from-env", false, "read the mappings from the environment instead of the ConfigMap")
	failUnmapped := fs.Bool("fail-on-unmapped", false, "exit 1 when a GPU has no mapping")
	if code, ok := job.ParseFlags("bid-price audit", "list the GPUs on the nodes that no price mapping covers", fs, args, os.LookupEnv, stdout, stderr); !ok {
		return code
	}
	clients, _, err := k.setup("audit", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "bid-price audit: %v\n", err)
		return 2
	}
	lookup := os.LookupEnv
	if !*fromEnv {
		cm, err := clients.Kube.CoreV1().ConfigMaps(k.namespace).Get(ctx, k.configMap, metav1.GetOptions{})
		if err != nil {
			fmt.Fprintf(stderr, "bid-price audit: read ConfigMap %s/%s: %v\n", k.namespace, k.configMap, err)
			return 1
		}
		lookup = func(key string) (string, bool) { v, ok := cm.Data[key]; return v, ok }
	}
	cfg, err := pricing.LoadConfig(lookup, false)
	if err != nil {
		fmt.Fprintf(stderr, "bid-price audit: %v\n", err)
		return 2
	}
	unmapped, err := unmappedGPUs(ctx, clients, cfg.Targets)
	if err != nil {
		fmt.Fprintf(stderr, "bid-price audit: %v\n", err)
		return 1
	}
	if len(unmapped) == 0 {
		fmt.Fprintln(stdout, "every GPU on the nodes has a price mapping")
		return 0
	}
	for _, u := range unmapped {
		fmt.Fprintf(stdout, "%s: no mapping, priced at the fallback %s USD a month; on %v\n", u.Key, u.Fallback, u.Nodes)
	}
	if *failUnmapped {
		return 1
	}
	return 0
}
