package main

import (
	"context"
	"fmt"

	"github.com/akash-janitor/akash-janitor/lib/chain"
)

// observed is the provider's open bids and the chain's clock their ages
// are read by.
type observed struct {
	bids  []chain.Bid
	clock chain.Clock
}

// observe lists the provider's open bids, every page (the node walks its
// bids of every state: node x/market/keeper/grpc_query.go
// bidsProviderPath), and measures the chain's block pace. Either failing
// fails the run: no bid is closed on a guess of its age.
func observe(ctx context.Context, client *chain.Client, provider string) (observed, error) {
	bids, err := client.Bids(ctx, provider, chain.BidOpen)
	if err != nil {
		return observed{}, fmt.Errorf("list the provider's open bids (nothing was closed): %w", err)
	}
	clock, err := client.Clock(ctx)
	if err != nil {
		return observed{}, fmt.Errorf("read the chain's clock, which bid ages are measured by (nothing was closed): %w", err)
	}
	return observed{bids: bids, clock: clock}, nil
}
