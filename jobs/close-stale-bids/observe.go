package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/chain"
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
}

// observe lists the provider's bids of every state, every page (the node
// walks them all in its provider index whatever state is asked for: node
// x/market/keeper/grpc_query.go bidsProviderPath), keeps the open ones,
// and measures the chain's block pace: either failing fails the run, no
// bid is closed on a guess of its age. It then lists the orders open on
// chain and the provider's active leases, one listing each, for the
// activity figures; that failing is reported, and closes nothing less.
func observe(ctx context.Context, client *chain.Client, provider string, window time.Duration) (observed, error) {
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
	leases, err2 := client.Leases(ctx, provider, chain.StateActive)
	if err := errors.Join(err1, err2); err != nil {
		obs.activityErr = fmt.Errorf("the provider's bidding is not reported this run: %w", err)
		return obs, nil
	}
	act.ordersOpen, act.leasesActive = len(orders), len(leases)
	for _, o := range orders {
		if clock.Age(o.CreatedAt) < window {
			act.ordersNew++
		}
	}
	obs.activity = act
	return obs, nil
}
