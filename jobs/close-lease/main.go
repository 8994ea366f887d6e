// close-lease closes one lease on chain, on the operator's demand, with the
// same closer, checks, dry-run and audit as the jobs: the runbook's
// "terminate the workload from the provider", by a signed transaction
// (--closer=tx), the official CLI (cli), or, as the runbook does, the CLI in
// the provider pod (exec).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

type options struct {
	chain            leaseclose.ChainFlags
	owner            string
	dseq             uint64
	gseq, oseq, bseq uint
	provider, reason string
	startReclaim     bool
}

func main() { job.Main(spec(&options{})) }

func spec(o *options) job.Spec {
	return job.Spec{
		Name:              "close-lease",
		Summary:           "close one lease on chain (owner/dseq/gseq/oseq), with dry-run, reason and audit",
		DefaultMaxActions: 1,
		// An operator with the key on a laptop has no cluster to name.
		WithoutCluster: "the close is logged here only, with no Kubernetes Event on the lease's namespace; a daily close budget (--max-closes-per-day) and --closer=exec need the cluster",
		Flags: func(fs *flag.FlagSet) {
			o.chain.Register(fs)
			fs.StringVar(&o.owner, "owner", "", "the tenant's address")
			fs.Uint64Var(&o.dseq, "dseq", 0, "the deployment sequence")
			fs.UintVar(&o.gseq, "gseq", 1, "the group sequence")
			fs.UintVar(&o.oseq, "oseq", 1, "the order sequence")
			fs.UintVar(&o.bseq, "bseq", 0, "the bid sequence (part of a lease's ID on chain since v1beta5)")
			fs.BoolVar(&o.startReclaim, "start-reclaim", false, "for a lease with a reclamation window not yet started (node 2.1 on): start it (MsgLeaseStartReclaim); close with a run after its deadline")
			fs.StringVar(&o.provider, "provider", "", "the provider's address; empty: the key's")
			fs.StringVar(&o.reason, "reason", "lease_closed_reason_unspecified", "close reason: 10000-10003 or its name")
		},
		Validate: func() error {
			var errs []error
			if o.owner == "" || o.dseq == 0 {
				errs = append(errs, errors.New("--owner and --dseq name the lease; both are needed"))
			}
			if _, err := chain.ParseCloseReason(o.reason); err != nil {
				errs = append(errs, fmt.Errorf("--reason: %v", err))
			}
			return errors.Join(errs...)
		},
		Run: func(ctx context.Context, env *job.Env) error { return run(ctx, env, o) },
	}
}

// run reads the lease, plans the one action, and has the lease executor
// carry it out (it reads the lease again just before signing).
func run(ctx context.Context, env *job.Env, o *options) error {
	if err := chain.ValidateAddress(o.owner); err != nil {
		return job.BadInput("--owner: %w (nothing was done)", err)
	}
	client, err := o.chain.Client()
	if err != nil {
		return job.BadInput("%w", err)
	}
	var config *rest.Config
	var kube kubernetes.Interface
	if env.Clients != nil {
		config, kube = env.Clients.Config, env.Clients.Kube
	}
	closer, err := o.chain.Closer(client, o.provider, 1, "akash-janitor close-lease", config)
	if err != nil {
		return job.BadInput("%w", err)
	}
	if kube == nil && o.chain.MaxClosesPerDay > 0 {
		return job.BadInput("--max-closes-per-day=%d keeps its record in a ConfigMap, and no cluster is given (--kubeconfig); nothing was done", o.chain.MaxClosesPerDay)
	}
	budget, err := o.chain.Budget(kube, "close-lease", env.Now, env.Metrics)
	if err != nil {
		return job.BadInput("%w", err)
	}
	guard, err := o.chain.Completion(client, closer.Provider())
	if err != nil {
		return job.BadInput("%w", err)
	}
	if err := o.chain.CheckNode(ctx, client, env.Log, closer); err != nil {
		return job.BadInput("%w", err)
	}
	id := akash.LeaseID{Owner: o.owner, DSeq: o.dseq, GSeq: uint32(o.gseq), OSeq: uint32(o.oseq), Provider: closer.Provider()}
	l, err := observe(ctx, client, id, uint32(o.bseq))
	if err != nil {
		return err
	}
	reason, _ := chain.ParseCloseReason(o.reason)
	// Logged by name (lease_closed_reason_decommission), however given.
	a := plan(l, env.Now(), chain.CloseReasonName(reason), o.startReclaim)
	exec := &leaseclose.Executor{Closer: closer, Chain: client, Reason: reason, Now: env.Now, Budget: budget, Completion: guard}
	return env.Actuator.ApplyBatched(ctx, []actuator.Action{a}, 1, exec.Batch)
}
