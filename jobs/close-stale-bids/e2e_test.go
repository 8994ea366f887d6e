package main

import (
	"context"
	"testing"

	sdkmath "cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/akash-janitor/akash-janitor/lib/akash/akashtest"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/job/jobtest"
	"github.com/akash-janitor/akash-janitor/lib/kube/kubetest"
)

func TestMain(m *testing.M) {
	kubetest.Main(m, akashtest.ClusterOptions(kubetest.Node{Name: "n", CPU: "4", Memory: "8Gi"}))
}

// A provider with bids open for over an hour that no tenant took: they
// are closed and their deposits come back; a bid leased, a younger one
// and another provider's are left alone.
func TestCloseStaleBids(t *testing.T) {
	ctx := context.Background()
	c := kubetest.Shared(t)
	p := chaintest.NewProvider(t)
	tenant := "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h"
	bid := func(dseq uint64, provider string) chain.BidID {
		return chain.BidID{Owner: tenant, DSeq: dseq, GSeq: 1, OSeq: 1, Provider: provider}
	}
	price := sdk.NewDecCoin("uakt", sdkmath.NewInt(4))
	deposit := sdk.NewDecCoin("uakt", sdkmath.NewInt(500_000))
	other := "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"
	for _, dseq := range []uint64{1, 2, 3} {
		p.Chain.PlaceBid(bid(dseq, p.Key.Address), price, deposit)
	}
	p.Chain.PlaceBid(bid(4, other), price, deposit)
	p.Chain.PlaceBid(bid(5, p.Key.Address), price, sdk.NewDecCoin("uact", sdkmath.NewInt(500_000)))
	p.Chain.Advance(1000) // about 100 minutes at mainnet's pace
	require.NoError(t, p.Chain.LeaseBid(bid(3, p.Key.Address)))
	p.Chain.PlaceBid(bid(6, p.Key.Address), price, deposit) // a minute old
	p.Chain.Advance(10)
	run := func(args ...string) jobtest.Result {
		base := append([]string{"--kubeconfig", c.KubeconfigPath, "--event-pod", "akash-services/akash-provider-0"}, p.Flags()...)
		return jobtest.Run(t, jobtest.Build(t, "."), append(base, args...)...)
	}

	r := run("--dry-run")
	require.Equal(t, 0, r.Code, r.Raw)
	require.Len(t, r.Actions("close-bid"), 3)
	for _, a := range r.Actions("close-bid") {
		assert.Equal(t, "planned", a["outcome"])
	}
	obs := r.Message("observed")
	assert.Equal(t, float64(4), obs["open_bids"])
	assert.Equal(t, "500000uact+1000000uakt", obs["stale_deposits"])
	b, _ := p.Chain.Bid(bid(1, p.Key.Address))
	assert.Equal(t, chain.BidOpen, b.State, "dry-run")
	bidding := r.Message("bidding: 1 bids placed in the last 1h0m0s")
	require.NotNil(t, bidding, r.Raw)
	assert.Equal(t, float64(5), bidding["orders_open"], "1, 2, 4, 5 and 6: 3 was leased")
	assert.Equal(t, float64(1), bidding["orders_opened"])
	assert.Equal(t, float64(1), bidding["active_leases"])
	assert.Equal(t, map[string]any{"open": float64(4), "active": float64(1)}, bidding["bids_by_state"])

	r = run("--max-actions=1")
	require.Equal(t, 0, r.Code, r.Raw)
	require.Len(t, r.Actions("close-bid"), 3)
	assert.Len(t, r.With("outcome", "skipped"), 2, "the run's budget")
	acts := r.With("outcome", "done")
	require.Len(t, acts, 1)
	assert.Equal(t, bid(1, p.Key.Address).LeaseID().String(), acts[0]["lease"], "the oldest, first listed")
	assert.Equal(t, "500000uakt", acts[0]["deposit"])
	assert.NotEmpty(t, acts[0]["tx_hash"])

	r = run()
	require.Equal(t, 0, r.Code, r.Raw)
	done := r.With("outcome", "done")
	require.Len(t, done, 2)
	for _, dseq := range []uint64{1, 2, 5} {
		b, _ := p.Chain.Bid(bid(dseq, p.Key.Address))
		assert.Equal(t, chain.BidClosed, b.State, "dseq %d", dseq)
	}
	for dseq, want := range map[uint64]string{3: chain.BidActive, 6: chain.BidOpen} {
		b, _ := p.Chain.Bid(bid(dseq, p.Key.Address))
		assert.Equal(t, want, b.State, "dseq %d", dseq)
	}
	b, _ = p.Chain.Bid(bid(4, other))
	assert.Equal(t, chain.BidOpen, b.State, "another provider's")
	assert.Equal(t, "500000.000000000000000000uact,1000000.000000000000000000uakt", p.Chain.Refunded(p.Key.Address).String())

	events, err := c.Kube.EventsV1().Events("akash-services").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	stale := 0
	for _, e := range events.Items {
		if e.Reason == "BidStale" && e.Regarding.Kind == "Pod" && e.Regarding.Name == "akash-provider-0" {
			stale++
			assert.Contains(t, e.Note, "gives back its deposit of 500000")
		}
	}
	assert.Equal(t, 3, stale, "an Event on the provider's pod per bid closed")

	r = run()
	require.Equal(t, 0, r.Code, r.Raw)
	assert.Empty(t, r.Actions("close-bid"), "nothing left past the age")

	r = run("--max-bid-age=5m")
	assert.Equal(t, 2, r.Code)
	assert.Contains(t, r.Raw, "below twice --provider-bid-timeout=5m0s")
}

// A provider whose bids stopped landing while tenants kept ordering: the
// run says so (a warning line with what to check), and pushes the figures
// the chart's AkashJanitorBiddingStopped alert reads.
func TestSaysWhenBiddingStopped(t *testing.T) {
	c := kubetest.Shared(t)
	p := chaintest.NewProvider(t)
	tenant := "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h"
	p.Chain.PlaceBid(chain.BidID{Owner: tenant, DSeq: 1, GSeq: 1, OSeq: 1, Provider: p.Key.Address},
		sdk.NewDecCoin("uakt", sdkmath.NewInt(4)), sdk.NewDecCoin("uakt", sdkmath.NewInt(500_000)))
	require.NoError(t, p.Chain.LeaseBid(chain.BidID{Owner: tenant, DSeq: 1, GSeq: 1, OSeq: 1, Provider: p.Key.Address}))
	p.Chain.Advance(3000) // about five hours
	for dseq := uint64(2); dseq <= 7; dseq++ {
		p.Chain.PlaceOrder(tenant, dseq, 1, 1)
		p.Chain.Advance(50)
	}
	// Two leases ended an hour ago: one closed by the provider, one by its
	// tenant.
	for dseq, reason := range map[uint64]string{90: "lease_closed_reason_unstable", 91: "lease_closed_owner"} {
		p.Chain.Put(chain.Lease{ID: chain.BidID{Owner: tenant, DSeq: dseq, GSeq: 1, OSeq: 1, Provider: p.Key.Address}.LeaseID(),
			State: chain.StateClosed, Reason: reason, CreatedAt: 1, ClosedOn: p.Chain.Height - 600})
	}
	r := jobtest.Run(t, jobtest.Build(t, "."), append([]string{"--kubeconfig", c.KubeconfigPath}, p.Flags()...)...)
	require.Equal(t, 0, r.Code, r.Raw)
	rate := r.Message("lease completion rate 66.67% over the last 720h0m0s (AEP-86, draft: 98% for tiers L3 and L4, from 10 leases)")
	require.NotNil(t, rate, r.Raw)
	assert.Equal(t, float64(3), rate["leases"])
	assert.Equal(t, float64(1), rate["terminated_by_provider"])
	var line map[string]any
	for _, l := range r.Lines {
		if l["level"] == "warn" && l["orders_opened"] != nil {
			line = l
		}
	}
	require.NotNil(t, line, r.Raw)
	assert.Contains(t, line["message"], "NOT BIDDING: 6 orders opened on chain in the last 1h0m0s and the provider's newest bid is 5h")
	assert.Equal(t, float64(0), line["bids_placed"])
	assert.Equal(t, float64(6), line["orders_open"])
	assert.Equal(t, float64(1), line["active_leases"])
}
