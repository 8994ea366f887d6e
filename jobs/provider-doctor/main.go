// provider-doctor (gpu-doctor until it grew past GPUs) reports the faults
// that let every pod run while the provider wins nothing. It checks, as
// far as the Kubernetes API shows it, what the provider runbook's GPU
// troubleshooting checks by hand, and reports one finding per line with
// the node and the runbook step to try:
//
//   - a node the inventory operator labelled with GPUs, but with no
//     allocatable nvidia.com/gpu or amd.com/gpu (the device plugin does
//     not see them);
//   - allocatable GPUs but no inventory labels (the GPUs are not offered);
//   - a GPU node without a ready device plugin pod of its vendor (NVIDIA's
//     standalone plugin or GPU Operator, AMD's);
//   - labels that count more GPUs than are allocatable (one fell off), or
//     fewer (the provider offers only what they count);
//   - pods requesting GPUs that stay Pending;
//   - a GPU node NotReady or cordoned, as such: the inventory operator
//     takes its labels off then, which is no labelling fault.
//
// With --chain-rest and --provider, it also checks what the chain says of
// the provider against the cluster (storage classes, GPU models, required
// attributes, audits, certificates and the endpoint: planProvider).
//
// It changes nothing; each finding is also a Warning Event on its node or
// pod (or the provider's pod, or the StorageClass).
package main

import (
	"context"

	"flag"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube"
)

type options struct {
	devicePluginSelector string
	minPending           time.Duration

	// The provider checks: with --chain-rest and --provider.
	rest, provider, required, eventPod string
	certWarn                           time.Duration
	dialEndpoint                       bool
	requirements                       []requirement
	pod                                actuator.Ref
}

// chainClient is the chain client of --chain-rest, nil without one.
func (o *options) chainClient() (*chain.Client, error) {
	var endpoints []string
	for _, e := range strings.Split(o.rest, ",") {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, e)
		}
	}
	if len(endpoints) == 0 {
		return nil, nil
	}
	c := &chain.Client{Endpoints: endpoints, Timeout: 15 * time.Second, Rounds: 2}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("--chain-rest: %w", err)
	}
	return c, nil
}

// selectors are the device plugin selectors of the flag.
func (o *options) selectors() []string {
	var out []string
	for _, s := range strings.Split(o.devicePluginSelector, ";") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func main() { job.Main(spec(&options{})) }

func spec(o *options) job.Spec {
	return job.Spec{
		Name:    "provider-doctor",
		Summary: "report GPU nodes whose GPUs the cluster cannot use, GPU pods that stay Pending, and what the chain advertises of the provider that the cluster does not have",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.devicePluginSelector, "device-plugin-selector", strings.Join(defaultPluginSelectors, ";"),
				"label selectors of the device plugins' pods, separated by ; (a pod matching any is one): by default NVIDIA's standalone plugin, the NVIDIA GPU Operator's, and AMD's")
			fs.DurationVar(&o.minPending, "min-pending", 10*time.Minute, "report a GPU pod once it has been Pending this long")
			fs.StringVar(&o.rest, "chain-rest", "", "comma-separated REST endpoints of Akash nodes: with --provider, the provider checks (storage classes, attributes, audits, certificates) run too")
			fs.StringVar(&o.provider, "provider", "", "the provider's address, for the provider checks")
			fs.StringVar(&o.required, "required-attributes", strings.Join(auditChecklist, ","),
				"attributes the provider must advertise, comma-separated: key, key=value for a fixed value, key>=N for a number of at least N, key~RE for a value matching RE; by default the Akash provider audit's list of those every provider needs")
			fs.DurationVar(&o.certWarn, "cert-warn", 30*24*time.Hour, "report the provider's certificate on chain when it expires within this")
			fs.BoolVar(&o.dialEndpoint, "check-endpoint", true, "read the certificate the provider's host URI serves and compare it with the chain's")
			fs.StringVar(&o.eventPod, "event-pod", "akash-services/akash-provider-0", "namespace/name of the provider's pod, which the provider checks' Events are recorded on")
		},
		Validate: func() error {
			if len(o.selectors()) == 0 {
				return fmt.Errorf("--device-plugin-selector is empty: the device plugins' pods cannot be found")
			}
			for _, sel := range o.selectors() {
				if _, err := labels.Parse(sel); err != nil {
					return fmt.Errorf("--device-plugin-selector=%q: %q: %v", o.devicePluginSelector, sel, err)
				}
			}
			if o.minPending < 0 {
				return fmt.Errorf("--min-pending=%s: must not be negative", o.minPending)
			}
			if (o.rest == "") != (o.provider == "") {
				return fmt.Errorf("the provider checks need both --chain-rest and --provider (given: %q and %q)", o.rest, o.provider)
			}
			if o.provider != "" {
				if err := chain.ValidateAddress(o.provider); err != nil {
					return fmt.Errorf("--provider: %w", err)
				}
			}
			if _, err := o.chainClient(); err != nil {
				return err
			}
			o.requirements = nil
			for _, r := range strings.Split(o.required, ",") {
				if r = strings.TrimSpace(r); r == "" {
					continue
				}
				req, err := parseRequirement(r)
				if err != nil {
					return fmt.Errorf("--required-attributes: %v", err)
				}
				o.requirements = append(o.requirements, req)
			}
			ns, name, err := kube.SplitNamespaced(o.eventPod)
			if err != nil {
				return fmt.Errorf("--event-pod=%q: %v", o.eventPod, err)
			}
			o.pod = actuator.Ref{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name}
			if o.certWarn < 0 {
				return fmt.Errorf("--cert-warn=%s: must not be negative", o.certWarn)
			}
			return nil
		},
		Run: func(ctx context.Context, env *job.Env) error { return run(ctx, env, o) },
	}
}

// run is observe, plan, and the report of what the plan found: provider-doctor
// changes nothing.
func run(ctx context.Context, env *job.Env, o *options) error {
	st, err := observe(ctx, env, o.selectors())
	if err != nil {
		return fmt.Errorf("observe the cluster: %w", err)
	}
	findings := plan(st, env.Now(), o.minPending, o.selectors())
	env.Log.Info().Int("nodes", len(st.nodes)).Int("gpu_nodes", st.gpuNodes()).Int("device_plugin_pods", len(st.plugins)).
		Int("pending_gpu_pods", len(st.pending)).Int("findings", len(findings)).Msg("observed")
	var providerErr error
	client, _ := o.chainClient()
	if client != nil {
		ps, err := observeProvider(ctx, env, client, o.provider, st, o.dialEndpoint)
		if err != nil {
			providerErr = fmt.Errorf("the provider checks did not run: %w", err)
			env.Log.Error().Err(err).Msg("the provider checks did not run")
		} else {
			pf := planProvider(ps, env.Now(), o.requirements, o.certWarn, o.pod)
			env.Log.Info().Str("provider", o.provider).Int("attributes", len(ps.info.Attributes)).Int("audits", len(ps.audits)).
				Int("certificates", len(ps.certs)).Int("storage_classes", len(ps.storage)).Int("findings", len(pf)).Msg("provider observed")
			findings = append(findings, pf...)
			countFindings(env.Metrics, pf)
		}
	} else {
		env.Log.Info().Msg("provider checks off: give --chain-rest and --provider to check storage classes, attributes, audits and certificates")
	}
	env.Actuator.Report(ctx, findings)
	return providerErr
}

// countFindings pushes the provider checks' findings per check, zero for
// those not found, so an alert can fire on each and clear.
func countFindings(reg prometheus.Registerer, findings []actuator.Action) {
	g := findingsGauge()
	if reg != nil {
		reg.MustRegister(g)
	}
	for _, c := range providerChecks {
		g.WithLabelValues(c).Set(0)
	}
	for _, f := range findings {
		g.WithLabelValues(f.Reason).Inc()
	}
}

func findingsGauge() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "akash_janitor_doctor_findings",
		Help: "Findings of the last run's provider checks, by check (the finding's reason)."}, []string{"check"})
}
