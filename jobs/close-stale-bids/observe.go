package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/completion"
)

// observed is the provider's open bids, what its bidding looked like over
// the activity window, and the chain's clock their ages are read by.
type observed struct {
	bids  []chain.Bid
	clock chain.Clock
	// activity is the provider's bidding and the market's orders; nil
	// when they could not be read (activityErr says why).
	activity    *activity
	activityErr error
}

// activity is whether the provider still bids: its bids of every state
// placed within the window and its newest, the orders open on chain and
// those of them made within the window, and its active leases.
type activity struct {
	window          time.Duration
	bidsRecent      int
	newestBid       int64 // height; 0 when it has none
	ordersOpen      int
	ordersNew       int
	leasesActive    int
	bidsByStateSeen map[string]int
	// completion is the provider's lease completion rate over the
	// completion window (AEP-86, draft).
	completion completion.Stats
}

// observe lists the provider's bids of every state, every page (the node
// walks them all in its provider index whatever state is asked for: node
// x/market/keeper/grpc_query.go bidsProviderPath), keeps the open ones,
// and measures the chain's block pace: either failing fails the run, no
// bid is closed on a guess of its age. It then lists the orders open on
// chain and the provider's active leases, one listing each, for the
// activity figures, and the provider's leases of every state, one listing
// a state, for its completion rate over completionWindow; that failing is
// reported, and closes nothing less.
func observe(ctx context.Context, client *chain.Client, provider string, window, completionWindow time.Duration) (observed, error) {
	all, err := client.Bids(ctx, provider, "")
	if err != nil {
		return observed{}, fmt.Errorf("list the provider's bids (nothing was closed): %w", err)
	}
	clock, err := client.Clock(ctx)
	if err != nil {
		return observed{}, fmt.Errorf("read the chain's clock, which bid ages are measured by (nothing was closed): %w", err)
	}
	obs := observed{clock: clock}
	act := &activity{window: window, bidsByStateSeen: map[string]int{}}
	for _, b := range all {
		act.bidsByStateSeen[b.State]++
		if b.State == chain.BidOpen {
			obs.bids = append(obs.bids, b)
		}
		if clock.Age(b.CreatedAt) < window {
			act.bidsRecent++
		}
		act.newestBid = max(act.newestBid, b.CreatedAt)
	}
	orders, err1 := client.Orders(ctx, chain.OrderOpen)
	leases, _, err2 := client.LeasesByState(ctx, provider, chain.StateActive, chain.StateReclaiming, chain.StateClosed, chain.StateInsufficientFunds)
	if err := errors.Join(err1, err2); err != nil {
		obs.activityErr = fmt.Errorf("the provider's bidding and completion rate are not reported this run: %w", err)
		return obs, nil
	}
	act.ordersOpen = len(orders)
	listed := make([]chain.Lease, 0, len(leases))
	for _, l := range leases {
		if l.State == chain.StateActive {
			act.leasesActive++
		}
		listed = append(listed, l)
	}
	act.completion = completion.Of(listed, clock, completionWindow)
	for _, o := range orders {
		if clock.Age(o.CreatedAt) < window {
			act.ordersNew++
		}
	}
	obs.activity = act
	return obs, nil
}
