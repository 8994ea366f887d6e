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
	gseq, oseq       uint
	provider, reason string
}

func main() { job.Main(spec(&options{})) }

func spec(o *options) job.Spec {
	return job.Spec{
		Name:              "close-lease",
		Summary:           "close one lease on chain (owner/dseq/gseq/oseq), with dry-run, reason and audit",
		DefaultMaxActions: 1,
		Flags: func(fs *flag.FlagSet) {
			o.chain.Register(fs)
			fs.StringVar(&o.owner, "owner", "", "the tenant's address")
			fs.Uint64Var(&o.dseq, "dseq", 0, "the deployment sequence")
			fs.UintVar(&o.gseq, "gseq", 1, "the group sequence")
			fs.UintVar(&o.oseq, "oseq", 1, "the order sequence")
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

func run(ctx context.Context, env *job.Env, o *options) error {
	if err := chain.ValidateAddress(o.owner); err != nil {
		return job.BadInput("--owner: %w (nothing was done)", err)
	}
	client, err := o.chain.Client()
	if err != nil {
		return job.BadInput("%w", err)
	}
	closer, err := o.chain.Closer(client, o.provider, 1, "akash-janitor close-lease", env.Clients.Config)
	if err != nil {
		return job.BadInput("%w", err)
	}
	leaseclose.LogNode(ctx, client, env.Log)
	id := akash.LeaseID{Owner: o.owner, DSeq: o.dseq, GSeq: uint32(o.gseq), OSeq: uint32(o.oseq), Provider: closer.Provider()}
	reason, _ := chain.ParseCloseReason(o.reason)
	l, err := client.Lease(ctx, id)
	if err != nil {
		return fmt.Errorf("read lease %s on chain (nothing was done): %w", id, err)
	}
	a := actuator.Action{Verb: "close-lease", Target: actuator.Ref{APIVersion: "v1", Kind: "Namespace", Name: id.Namespace()},
		Lease: id.String(), Reason: "OperatorClose", Message: fmt.Sprintf("closing on the operator's demand (%s, reason %s)", l.State, o.reason)}
	if l.State == chain.StateClosed {
		a.Hold = "already closed on chain"
	}
	if deadline, in := l.InReclamationWindow(env.Now()); in {
		a.Hold = "in its reclamation window until " + chain.WindowText(deadline)
	}
	return env.Actuator.ApplyBatched(ctx, []actuator.Action{a}, 1, func(ctx context.Context, batch []actuator.Action) []actuator.BatchResult {
		r := closer.Close(ctx, []chain.Lease{l}, reason)[0]
		return []actuator.BatchResult{{Err: r.Err, Fields: map[string]string{"backend": closer.Backend(), "tx_hash": r.TxHash}}}
	})
}
