// dangling-deployments reconciles the cluster with the chain, and the
// provider with both:
//
//   - teardown: a lease the chain ended (closed, or insufficient_funds when
//     its escrow ran dry: support#515) but still held in the cluster
//     (namespace, Manifest, ProviderHosts, ProviderLeasedIPs) for --grace
//     is torn down as the provider does; the provider missed the end;
//   - close: a lease active on chain with neither Manifest nor namespace in
//     the cluster for --manifest-grace is closed on chain (the tenant pays
//     for nothing); a reclaiming lease past its deadline is closed
//     (--close-reclaimed), whoever started its window: nobody else does;
//   - restart: a provider that still holds the capacity of leases no
//     longer in the cluster (its /status counts more leases than the
//     cluster holds Manifests) is restarted, as the runbook does by hand:
//     at most once a run and once per --restart-cooldown.
//
// It fails closed where it decides on absence: a chain answer that does
// not parse, a page that fails, a pagination that does not finish, leave
// everything as it is; when more than --max-share or --max-count of the
// cluster's leases look dangling on absence alone (a lease the chain does
// not list or know, a lease with nothing here) those are left and the run
// says why: an empty or short chain answer must never look like
// "everything is closed". A lease the chain, read by ID, says is ended is
// evidence, not absence: such leases are torn down whatever their share,
// oldest first, within --max-actions a run. Every lease is re-read by ID
// just before anything is done to it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/closebudget"
	"github.com/akash-janitor/akash-janitor/lib/completion"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
	"github.com/akash-janitor/akash-janitor/lib/providerrestart"
	"github.com/akash-janitor/akash-janitor/lib/providerstatus"
)

type options struct {
	chain          leaseclose.ChainFlags
	provider       string
	teardown       bool
	closeMissing   bool
	closeNoWork    bool
	closeReclaimed bool
	grace          time.Duration
	manifestGrace  time.Duration
	maxShare       float64
	maxCount       int
	reason         string

	restart      string
	statusURL    string
	restartFlags providerrestart.Flags
	manifestNS   string
}

// The ways of --restart-provider.
const (
	restartNever      = "never"
	restartWhenLeaked = "when-leaked"
)

func main() { job.Main(spec(&options{})) }

func spec(o *options) job.Spec {
	return job.Spec{
		Name:              "dangling-deployments",
		Summary:           "tear down leases the chain ended, close leases with nothing in the cluster or past their reclamation deadline, restart a provider that holds ended leases; never on a doubtful chain answer",
		DefaultMaxActions: 20,
		Pausable:          true,
		NeedsProvider:     true,
		Flags: func(fs *flag.FlagSet) {
			o.chain.Register(fs)
			fs.StringVar(&o.provider, "provider", "", "the provider's address (with --close-missing the key must be its); empty: the job waits for it")
			fs.BoolVar(&o.teardown, "teardown", true, "tear down leases the chain ended (closed, or insufficient_funds when their escrow ran dry)")
			fs.BoolVar(&o.closeMissing, "close-missing", false, "close on chain the active leases with neither Manifest nor namespace (needs the key)")
			fs.BoolVar(&o.closeNoWork, "close-without-namespace", false, "also close active leases that have a Manifest but no namespace (the provider's retry may still bring them up)")
			fs.BoolVar(&o.closeReclaimed, "close-reclaimed", false, "close on chain the reclaiming leases past their deadline, whoever started the window (node 2.1; needs the key): neither the chain nor the provider does")
			fs.DurationVar(&o.grace, "grace", 10*time.Minute, "how long a lease must have been ended on chain before it is torn down, so the provider goes first")
			fs.DurationVar(&o.manifestGrace, "manifest-grace", time.Hour, "how long an active lease may have nothing in the cluster before it is closed (the tenant may not have sent the manifest yet)")
			fs.Float64Var(&o.maxShare, "max-share", 0.2, "do nothing when more than this share of the cluster's leases look dangling")
			fs.IntVar(&o.maxCount, "max-count", 50, "do nothing when more than this many leases look dangling")
			fs.StringVar(&o.reason, "reason", "lease_closed_reason_manifest_timeout", "close reason of --close-missing")
			fs.StringVar(&o.restart, "restart-provider", restartWhenLeaked, "never, or when-leaked: restart the provider (delete its pod, --restart-pod) when it holds the capacity of leases the cluster no longer has, so it bids it again")
			fs.StringVar(&o.statusURL, "provider-status-url", providerstatus.DefaultURL, "the provider's status (its gateway's GET /status): how many leases it holds; empty: not read, and a restart follows only this run's teardowns")
			o.restartFlags.Register(fs)
			akash.RegisterManifestNamespace(fs, &o.manifestNS)
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
			if o.restart != restartNever && o.restart != restartWhenLeaked {
				errs = append(errs, fmt.Errorf("--restart-provider=%q: want never or when-leaked", o.restart))
			}
			if o.statusURL != "" {
				if _, err := providerstatus.NewReader(o.statusURL, 0); err != nil {
					errs = append(errs, fmt.Errorf("--provider-status-url: %v", err))
				}
			}
			if err := o.restartFlags.Validate(); err != nil {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		},
		Run: func(ctx context.Context, env *job.Env) error { return run(ctx, env, o) },
	}
}

func (o *options) plan() planOptions {
	return planOptions{teardown: o.teardown, closeMissing: o.closeMissing, closeNoWork: o.closeNoWork, closeReclaimed: o.closeReclaimed,
		grace: o.grace, manifestGrace: o.manifestGrace, maxShare: o.maxShare, maxCount: o.maxCount, manifestNS: o.manifestNS}
}

// closes tells whether the run may close leases on chain (and so needs
// the key).
func (o *options) closes() bool { return o.closeMissing || o.closeNoWork || o.closeReclaimed }

// run is observe, plan, apply; then, from what was done, the provider's
// restart is planned and applied.
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
	var guard *completion.Guard
	if o.closes() {
		if closer, err = o.chain.Closer(client, o.provider, 10, "akash-janitor dangling-deployments", env.Clients.Config); err != nil {
			return job.BadInput("%w (nothing was done)", err)
		}
		if budget, err = o.chain.Budget(env.Clients.Kube, "dangling-deployments", env.Now, env.Metrics); err != nil {
			return job.BadInput("%w (nothing was done)", err)
		}
		if guard, err = o.chain.Completion(client, closer.Provider()); err != nil {
			return job.BadInput("%w (nothing was done)", err)
		}
	}
	if err := o.chain.CheckNode(ctx, client, env.Log, closer); err != nil {
		return job.BadInput("%w", err)
	}
	r, err := o.restarter(env)
	if err != nil {
		return job.BadInput("%w (nothing was done)", err)
	}
	obs, err := observe(ctx, env, client, o.provider, o.plan(), r)
	if err != nil {
		return err
	}
	for _, b := range obs.cluster.broken {
		env.Log.Warn().Str("object", b).Msg("lease labels do not parse; left alone")
	}
	d, limitErr := plan(obs, env.Now(), o.plan())
	doubtful := 0 // looked dangling on absence alone, past the limits
	for _, f := range d.findings {
		if f.reason == "DoubtfulChainAnswer" {
			doubtful++
		}
	}
	env.Log.Info().Int("cluster_leases", len(obs.cluster.leases)).Int("chain_live_leases", len(obs.chain.live)).Int64("height", obs.chain.clock.Latest.Height).Str("block_time", obs.chain.clock.PerBlock.Round(time.Millisecond).String()).
		Int("chain_active", obs.chain.count(chain.StateActive)).Int("chain_reclaiming", obs.chain.count(chain.StateReclaiming)).
		Int("chain_ended", obs.endedCount()).
		Int("dangling", len(d.teardowns)+len(d.closes)+len(d.reclaimed)+len(d.starts)+doubtful).Int("doubtful", doubtful).Int("reported", len(d.findings)).Msg("observed")
	if errors.Is(limitErr, errPlan) {
		return limitErr
	}
	reported := reportedGauge()
	env.Metrics.MustRegister(reported)
	for _, reason := range findingReasons {
		reported.WithLabelValues(reason).Set(0)
	}
	for _, f := range d.findings {
		reported.WithLabelValues(f.reason).Inc()
		env.Log.Warn().Str("lease", f.lease.String()).Str("reason", f.reason).Msg(f.msg)
	}

	outcomes, errTeardown := env.Actuator.ApplyOutcomes(ctx, d.teardowns, func(ctx context.Context, a actuator.Action) error {
		return teardown(ctx, env, client, o.manifestNS, a)
	})
	var errStart, errClose, errReclaimed error
	if closer != nil {
		reason, _ := chain.ParseCloseReason(o.reason)
		exec := &leaseclose.Executor{Closer: closer, Chain: client, Reason: reason, Now: env.Now, Budget: budget, Completion: guard}
		errStart = env.Actuator.ApplyBatched(ctx, d.starts, 10, exec.Batch)
		errClose = env.Actuator.ApplyBatched(ctx, d.closes, 10, exec.Batch)
		// A reclaiming lease is closed with the reason its window was
		// started with: one batch a reason.
		for _, group := range byCloseReason(d.reclaimed) {
			e := *exec
			e.Reason = group.reason
			errReclaimed = errors.Join(errReclaimed, env.Actuator.ApplyBatched(ctx, group.actions, 10, e.Batch))
		}
	}

	// What the teardowns left decides the restart: the Manifests that
	// remain are what the provider would rebuild from. A teardown planned
	// in a dry run, or held only by the pause (within the budget), counts
	// as done, so the restart it calls for is shown (planned, or held)
	// too; an ended lease the budget left waits for the next runs.
	paused := env.Actuator.Paused() != ""
	in := restartInput{manifests: obs.cluster.manifests()}
	would := 0
	for i, out := range outcomes {
		a := d.teardowns[i]
		id, err := actuator.PayloadOf[akash.LeaseID](a)
		if err != nil || a.Hold != "" {
			continue
		}
		switch {
		case out == actuator.Done || out == actuator.Planned || (paused && would < env.Common.MaxActions):
			would++
			if obs.cluster.leases[id].manifest {
				in.manifestsGone++
			}
		case out == actuator.Skipped && a.Reason != "LeaseUnknownOnChain":
			in.teardownsLeft++
		}
	}
	in.manifests -= in.manifestsGone
	errRestart := r.apply(ctx, env, obs, in, reported)
	return errors.Join(errTeardown, errStart, errClose, errReclaimed, errRestart, limitErr)
}

// findingReasons are the reasons a run reports without acting, each
// pushed (0 when none) so an alert sees it fall back.
var findingReasons = []string{"LeaseWithoutWorkload", "LeaseWithoutNamespace", "LeaseNotLiveOnChain", "DoubtfulChainAnswer",
	"ReclaimDeadlinePassed", "ProviderHoldsEndedLeases", "ProviderMissedTeardowns"}

// reportedGauge counts the leases a run reports but may not act on, by
// reason; pushed with the run's summary.
func reportedGauge() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "akash_janitor_dangling_deployments_reported",
		Help: "Leases the last run found out of step but may not act on (its flags, or the limits on absence), by reason: LeaseWithoutWorkload, LeaseWithoutNamespace, LeaseNotLiveOnChain, DoubtfulChainAnswer, ReclaimDeadlinePassed, ProviderHoldsEndedLeases, ProviderMissedTeardowns."},
		[]string{"reason"})
}
