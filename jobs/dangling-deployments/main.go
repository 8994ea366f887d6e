// dangling-deployments reconciles the cluster with the chain, in two
// directions, each enabled on its own:
//
//   - teardown: a lease present in the cluster (namespace, Manifest,
//     ProviderHosts, ProviderLeasedIPs) but closed on chain for --grace is
//     torn down as the provider does; the provider missed the close (leases
//     closed by escrow depletion are a known cause);
//   - close: a lease active on chain with neither Manifest nor namespace in
//     the cluster for --manifest-grace is closed on chain (the tenant pays
//     for nothing).
//
// It fails closed: a chain answer that does not parse, a page that fails, a
// pagination that does not finish, leave everything as it is; and when more
// than --max-share or --max-count of the cluster's leases look dangling in
// one run it does nothing and says why: an empty or short chain answer must
// never look like "everything is closed". A lease is re-read by ID just
// before anything is done to it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/closebudget"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

type options struct {
	chain         leaseclose.ChainFlags
	provider      string
	teardown      bool
	closeMissing  bool
	closeNoWork   bool
	grace         time.Duration
	manifestGrace time.Duration
	maxShare      float64
	maxCount      int
	reason        string
}

func main() { job.Main(spec(&options{})) }

func spec(o *options) job.Spec {
	return job.Spec{
		Name:              "dangling-deployments",
		Summary:           "tear down leases closed on chain, close leases with nothing in the cluster; never on a doubtful chain answer",
		DefaultMaxActions: 20,
		Pausable:          true,
		NeedsProvider:     true,
		Flags: func(fs *flag.FlagSet) {
			o.chain.Register(fs)
			fs.StringVar(&o.provider, "provider", "", "the provider's address (with --close-missing the key must be its); empty: the job waits for it")
			fs.BoolVar(&o.teardown, "teardown", true, "tear down leases closed on chain")
			fs.BoolVar(&o.closeMissing, "close-missing", false, "close on chain the active leases with neither Manifest nor namespace (needs the key)")
			fs.BoolVar(&o.closeNoWork, "close-without-namespace", false, "also close active leases that have a Manifest but no namespace (the provider's retry may still bring them up)")
			fs.DurationVar(&o.grace, "grace", 10*time.Minute, "how long a lease must have been closed on chain before it is torn down, so the provider goes first")
			fs.DurationVar(&o.manifestGrace, "manifest-grace", time.Hour, "how long an active lease may have nothing in the cluster before it is closed (the tenant may not have sent the manifest yet)")
			fs.Float64Var(&o.maxShare, "max-share", 0.2, "do nothing when more than this share of the cluster's leases look dangling")
			fs.IntVar(&o.maxCount, "max-count", 50, "do nothing when more than this many leases look dangling")
			fs.StringVar(&o.reason, "reason", "lease_closed_reason_manifest_timeout", "close reason of --close-missing")
		},
		Validate: func() error {
			var errs []error
			if o.maxShare <= 0 || o.maxShare > 1 {
				errs = append(errs, fmt.Errorf("--max-share=%v: want more than 0, at most 1", o.maxShare))
			}
			if o.maxCount < 1 {
				errs = append(errs, fmt.Errorf("--max-count=%d: must be 1 or more", o.maxCount))
			}
			if o.grace < 0 || o.manifestGrace < 0 {
				errs = append(errs, errors.New("--grace and --manifest-grace must not be negative"))
			}
			if _, err := chain.ParseCloseReason(o.reason); err != nil {
				errs = append(errs, fmt.Errorf("--reason: %v", err))
			}
			return errors.Join(errs...)
		},
		Run: func(ctx context.Context, env *job.Env) error { return run(ctx, env, o) },
	}
}

func (o *options) plan() planOptions {
	return planOptions{teardown: o.teardown, closeMissing: o.closeMissing, closeNoWork: o.closeNoWork, grace: o.grace,
		manifestGrace: o.manifestGrace, maxShare: o.maxShare, maxCount: o.maxCount}
}

// run is observe, plan, apply.
func run(ctx context.Context, env *job.Env, o *options) error {
	if o.provider == "" || o.chain.REST == "" {
		env.Log.Warn().Msg("no --provider or no --chain-rest: nothing to reconcile; this job waits for its input")
		return nil
	}
	if err := chain.ValidateAddress(o.provider); err != nil {
		return job.BadInput("--provider: %w (nothing was done)", err)
	}
	client, err := o.chain.Client()
	if err != nil {
		return job.BadInput("%w", err)
	}
	// The key is checked before anything is done: a key that is not the
	// provider's stops the whole run, teardowns included.
	var closer leaseclose.Closer
	var budget *closebudget.Budget
	if o.closeMissing || o.closeNoWork {
		if closer, err = o.chain.Closer(client, o.provider, 10, "akash-janitor dangling-deployments", env.Clients.Config); err != nil {
			return job.BadInput("%w (nothing was done)", err)
		}
		if budget, err = o.chain.Budget(env.Clients.Kube, "dangling-deployments", env.Now, env.Metrics); err != nil {
			return job.BadInput("%w (nothing was done)", err)
		}
	}
	obs, err := observe(ctx, env, client, o.provider, o.plan())
	if err != nil {
		return err
	}
	for _, b := range obs.cluster.broken {
		env.Log.Warn().Str("object", b).Msg("lease labels do not parse; left alone")
	}
	d, err := plan(obs, env.Now(), o.plan())
	states := map[string]int{}
	for _, l := range obs.chain.live {
		states[l.State]++
	}
	env.Log.Info().Int("cluster_leases", len(obs.cluster.leases)).Int("chain_live_leases", len(obs.chain.live)).Int64("height", obs.chain.height).
		Int("chain_active", states[chain.StateActive]).Int("chain_insufficient_funds", states[chain.StateInsufficientFunds]).
		Int("chain_reclaiming", states[chain.StateReclaiming]).
		Int("dangling", len(d.teardowns)+len(d.closes)+len(d.starts)).Int("reported", len(d.findings)).Msg("observed")
	if err != nil {
		return err
	}
	reported := reportedGauge()
	env.Metrics.MustRegister(reported)
	for _, reason := range []string{"LeaseWithoutWorkload", "LeaseWithoutNamespace", "LeaseNotLiveOnChain"} {
		reported.WithLabelValues(reason).Set(0)
	}
	for _, f := range d.findings {
		reported.WithLabelValues(f.reason).Inc()
		env.Log.Warn().Str("lease", f.lease.String()).Str("reason", f.reason).Msg(f.msg)
	}

	errTeardown := env.Actuator.Apply(ctx, d.teardowns, func(ctx context.Context, a actuator.Action) error {
		return teardown(ctx, env, client, a)
	})
	var errStart, errClose error
	if closer != nil {
		reason, _ := chain.ParseCloseReason(o.reason)
		exec := &leaseclose.Executor{Closer: closer, Chain: client, Reason: reason, Now: env.Now, Budget: budget}
		errStart = env.Actuator.ApplyBatched(ctx, d.starts, 10, exec.Batch)
		errClose = env.Actuator.ApplyBatched(ctx, d.closes, 10, exec.Batch)
	}
	return errors.Join(errTeardown, errStart, errClose)
}

// reportedGauge counts the leases a run reports but may not act on, by
// reason; pushed with the run's summary.
func reportedGauge() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "akash_janitor_dangling_deployments_reported",
		Help: "Leases the last run found out of step but may not act on (its flags), by reason: LeaseWithoutWorkload, LeaseWithoutNamespace, LeaseNotLiveOnChain."},
		[]string{"reason"})
}
