// gpu-doctor checks, as far as the Kubernetes API shows it, what the
// provider runbook's GPU troubleshooting checks by hand, and reports one
// finding per line with the node and the runbook step to try:
//
//   - a node the inventory operator labelled with GPUs, but with no
//     allocatable nvidia.com/gpu or amd.com/gpu (the device plugin does
//     not see them);
//   - allocatable GPUs but no inventory labels (the GPUs are not offered);
//   - a GPU node without a ready device plugin pod of its vendor (NVIDIA's
//     standalone plugin or GPU Operator, AMD's);
//   - labels that count more GPUs than are allocatable (one fell off);
//   - pods requesting GPUs that stay Pending;
//   - a GPU node NotReady or cordoned, as such: the inventory operator
//     takes its labels off then, which is no labelling fault.
//
// It changes nothing; each finding is also a Warning Event on its node or pod.
package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/akash-janitor/akash-janitor/lib/job"
)

type options struct {
	devicePluginSelector string
	minPending           time.Duration
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
		Name:    "gpu-doctor",
		Summary: "report GPU nodes whose GPUs the cluster cannot use, and GPU pods that stay Pending",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.devicePluginSelector, "device-plugin-selector", strings.Join(defaultPluginSelectors, ";"),
				"label selectors of the device plugins' pods, separated by ; (a pod matching any is one): by default NVIDIA's standalone plugin, the NVIDIA GPU Operator's, and AMD's")
			fs.DurationVar(&o.minPending, "min-pending", 10*time.Minute, "report a GPU pod once it has been Pending this long")
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
			return nil
		},
		Run: func(ctx context.Context, env *job.Env) error { return run(ctx, env, o) },
	}
}

// run is observe, plan, and the report of what the plan found: gpu-doctor
// changes nothing.
func run(ctx context.Context, env *job.Env, o *options) error {
	st, err := observe(ctx, env, o.selectors())
	if err != nil {
		return fmt.Errorf("observe the cluster: %w", err)
	}
	findings := plan(st, env.Now(), o.minPending, o.selectors())
	env.Log.Info().Int("nodes", len(st.nodes)).Int("gpu_nodes", st.gpuNodes()).Int("device_plugin_pods", len(st.plugins)).
		Int("pending_gpu_pods", len(st.pending)).Int("findings", len(findings)).Msg("observed")
	env.Actuator.Report(ctx, findings)
	return nil
}
