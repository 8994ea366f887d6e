// close-stale-bids closes the provider's open bids that no tenant took and
// the provider forgot, and so gives their deposits back.
//
// A bid holds its deposit (--bid-deposit, 500000uakt by default) in its own
// escrow account until the order is leased, to the provider or another
// (node x/market/handler/server.go CreateLease gives the losing bids'
// deposits back), the tenant's group closes, or the provider closes the
// bid; the chain never expires one. The provider's bid engine closes its
// own unleased bid after --bid-timeout (5 minutes by default), and after a
// restart only for the open orders it lists again (provider
// bidengine/order.go, bidengine/service.go ordersFetcher): a close whose
// transaction failed, a restart that skipped the order, or a bid timeout
// of 0 leaves the bid open and its deposit locked for as long as the
// order stays open. This job lists the provider's open bids, closes those
// older than --max-bid-age (read again by ID just before signing: a bid
// leased meanwhile is skipped), and says what deposits came back.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/job"
	"github.com/akash-janitor/akash-janitor/lib/kube"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

type options struct {
	chain        leaseclose.ChainFlags
	provider     string
	maxBidAge    time.Duration
	bidTimeout   time.Duration
	batchSize    int
	window       time.Duration
	eventPod     string
	podNS, podNm string
}

func main() { job.Main(spec(&options{})) }

func spec(o *options) job.Spec {
	return job.Spec{
		Name:              "close-stale-bids",
		Summary:           "close the provider's open bids older than --max-bid-age, giving their deposits back",
		DefaultMaxActions: 20,
		Pausable:          true,
		Flags: func(fs *flag.FlagSet) {
			o.chain.Register(fs)
			fs.StringVar(&o.provider, "provider", "", "the provider's address; the key must be its, or its grantee with --authz (empty: the key's)")
			fs.DurationVar(&o.maxBidAge, "max-bid-age", time.Hour, "close open bids older than this (by the chain's blocks); at least twice --provider-bid-timeout")
			fs.DurationVar(&o.bidTimeout, "provider-bid-timeout", 5*time.Minute, "the provider's own --bid-timeout (its default 5m): it closes its unleased bids after this, and again after this from a restart; bids younger than twice it are the provider's to close")
			fs.IntVar(&o.batchSize, "batch-size", 10, "bids closed per transaction")
			fs.DurationVar(&o.window, "activity-window", time.Hour, "the window the provider's bidding is reported over: bids it placed and orders opened on chain within it")
			fs.StringVar(&o.eventPod, "event-pod", "akash-services/akash-provider-0", "namespace/name of the provider's pod, which the Events of the bids it placed are recorded on")
		},
		Validate: o.validate,
		Run:      func(ctx context.Context, env *job.Env) error { return run(ctx, env, o) },
	}
}

func (o *options) validate() error {
	var errs []error
	if o.bidTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--provider-bid-timeout=%s: the provider's bid timeout is positive (a provider run with --bid-timeout=0 never closes its bids: give --provider-bid-timeout its default, 5m)", o.bidTimeout))
	} else if o.maxBidAge < 2*o.bidTimeout {
		errs = append(errs, fmt.Errorf("--max-bid-age=%s: below twice --provider-bid-timeout=%s it would close bids the provider still waits on (it starts its timer again on a restart)", o.maxBidAge, o.bidTimeout))
	}
	if o.batchSize < 1 {
		errs = append(errs, fmt.Errorf("--batch-size=%d: must be 1 or more", o.batchSize))
	}
	if o.chain.CompletionWindow <= 0 {
		errs = append(errs, fmt.Errorf("--completion-window=%s: must be positive", o.chain.CompletionWindow))
	}
	if o.window <= 0 {
		errs = append(errs, fmt.Errorf("--activity-window=%s: must be positive", o.window))
	}
	ns, name, err := kube.SplitNamespaced(o.eventPod)
	if err != nil {
		errs = append(errs, fmt.Errorf("--event-pod=%q: %v", o.eventPod, err))
	}
	o.podNS, o.podNm = ns, name
	return errors.Join(errs...)
}

// run is observe, plan, apply.
func run(ctx context.Context, env *job.Env, o *options) error {
	if o.chain.REST == "" {
		env.Log.Warn().Msg("no --chain-rest: no bid to read; this job waits for its input")
		return nil
	}
	client, err := o.chain.Client()
	if err != nil {
		return job.BadInput("%w", err)
	}
	closer, err := o.chain.Closer(client, o.provider, o.batchSize, "akash-janitor close-stale-bids", env.Clients.Config)
	if err != nil {
		return job.BadInput("%w", err)
	}
	if err := o.chain.CheckNode(ctx, client, env.Log, closer); err != nil {
		return job.BadInput("%w", err)
	}
	m := newMetrics(env.Metrics)
	obs, err := observe(ctx, client, closer.Provider(), o.window, o.chain.CompletionWindow)
	if err != nil {
		return err
	}
	p := plan(obs, o.maxBidAge, o.podNS, o.podNm)
	m.observed(p)
	env.Log.Info().Int("open_bids", len(obs.bids)).Int("stale_bids", len(p.closes)).Str("stale_deposits", leaseclose.DepositText(p.held)).
		Dur("max_bid_age", o.maxBidAge).Dur("block_time", obs.clock.PerBlock).Msg("observed")
	if a := obs.activity; a != nil {
		m.bidding(a, obs.clock)
		ev := env.Log.Info()
		if a.bidsRecent == 0 && a.ordersNew > 0 {
			ev = env.Log.Warn()
		}
		ev.Dur("window", a.window).Int("bids_placed", a.bidsRecent).Int("orders_opened", a.ordersNew).Int("orders_open", a.ordersOpen).
			Int("active_leases", a.leasesActive).Interface("bids_by_state", a.bidsByStateSeen).Msg(biddingText(a, obs.clock))
		c := a.completion
		env.Log.Info().Dur("window", c.Window).Int("leases", c.Total).Int("terminated_by_provider", c.Terminated).
			Float64("completion_rate", c.Rate()).Msg(fmt.Sprintf("lease completion rate %.2f%% over the last %s (AEP-86, draft: 98%% for tiers L3 and L4, from 10 leases)", 100*c.Rate(), c.Window))
	} else {
		env.Log.Error().Err(obs.activityErr).Msg("bidding and completion rate not reported")
	}
	reason, _ := chain.ParseCloseReason("lease_closed_reason_unspecified")
	exec := &leaseclose.BidExecutor{Closer: closer, Chain: client, Reason: reason, Recovered: m.recovered}
	return errors.Join(env.Actuator.ApplyBatched(ctx, p.closes, o.batchSize, exec.Batch), obs.activityErr)
}

// biddingText says whether the provider still bids, for people.
func biddingText(a *activity, clock chain.Clock) string {
	switch {
	case a.bidsRecent > 0:
		return fmt.Sprintf("bidding: %d bids placed in the last %s", a.bidsRecent, a.window)
	case a.ordersNew == 0:
		return fmt.Sprintf("no bid placed in the last %s, and no order opened on chain in it", a.window)
	case a.newestBid == 0:
		return fmt.Sprintf("NOT BIDDING: %d orders opened on chain in the last %s and the provider has never bid (check its key, account balance and bid engine: kubectl -n akash-services logs akash-provider-0 | grep -i bid)", a.ordersNew, a.window)
	}
	return fmt.Sprintf("NOT BIDDING: %d orders opened on chain in the last %s and the provider's newest bid is %s old (check its key, account balance and bid engine: kubectl -n akash-services logs akash-provider-0 | grep -i bid)",
		a.ordersNew, a.window, clock.Age(a.newestBid).Round(time.Minute))
}
