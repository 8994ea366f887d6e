package main

import (
	"context"
	"fmt"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
)

// observe reads the one lease by its full ID, bid sequence included.
func observe(ctx context.Context, client *chain.Client, id akash.LeaseID, bseq uint32) (chain.Lease, error) {
	l, err := client.LeaseBid(ctx, id, bseq)
	if err != nil {
		return chain.Lease{}, fmt.Errorf("read lease %s on chain (nothing was done): %w", id, err)
	}
	return l, nil
}
