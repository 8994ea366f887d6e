// force-replicasets unsticks Akash deployments whose update cannot be
// scheduled because the old pods still hold the room the new pod needs.
//
// For every Deployment labelled akash.network/manifest-service whose newest
// ReplicaSet has a pod the scheduler rejected with "Insufficient <resource>"
// for at least --min-stuck, while older ReplicaSets of that same Deployment
// still hold pods, it deletes those older ReplicaSets, so the new pod can
// take their room. Nothing else is touched: other services of the namespace
// keep their ReplicaSets.
package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/job"
)

type options struct {
	minStuck time.Duration
}

func main() {
	job.Main(spec(&options{}))
}

func spec(o *options) job.Spec {
	return job.Spec{
		Name:              "force-replicasets",
		Summary:           "delete the older ReplicaSets of Akash deployments whose update is stuck on insufficient resources",
		DefaultMaxActions: 10,
		Pausable:          true,
		NeedsProvider:     true,
		Flags: func(fs *flag.FlagSet) {
			// The provider's deployment monitor closes a lease as unstable
			// after 40 failed checks 4-19 s apart (provider cluster/config.go,
			// cluster/monitor.go): about 3 minutes at the soonest. 90 s, run
			// every minute, acts before that, and after the 30 s an old pod
			// is given to terminate.
			fs.DurationVar(&o.minStuck, "min-stuck", 90*time.Second,
				"how long the new pod must have been unschedulable before acting, so a rollout that is merely slow is left alone; the provider closes a stuck lease itself after about 3 to 13 minutes")
		},
		Validate: func() error {
			if o.minStuck < 0 {
				return fmt.Errorf("--min-stuck=%s: must not be negative", o.minStuck)
			}
			return nil
		},
		Run: func(ctx context.Context, env *job.Env) error {
			return run(ctx, env, *o)
		},
	}
}

func run(ctx context.Context, env *job.Env, o options) error {
	st, err := observe(ctx, env.Clients, env.Common.PageSize)
	if err != nil {
		return fmt.Errorf("observe the cluster (nothing was changed): %w", err)
	}
	p := plan(st, env.Now(), o.minStuck)
	env.Log.Info().
		Int("deployments", len(st.deployments)).
		Int("replicasets", len(st.replicaSets)).
		Int("pending_pods", len(st.pendingPods)).
		Int("lease_namespaces", len(st.leases)).
		Int("stuck", p.stuck).
		Msg("observed")
	for _, n := range p.notes {
		ev := env.Log.Warn().Str("namespace", n.namespace).Str("object", n.object).Str("reason", n.reason)
		if n.lease != "" {
			ev = ev.Str("lease", n.lease)
		}
		ev.Msg(n.message)
	}
	return env.Actuator.Apply(ctx, p.actions, deleteReplicaSet(env.Clients.Kube))
}
