package leaseclose

import (
	"context"
	"testing"

	sdkmath "cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/chain"
)

// Each open bid is read again just before signing: one leased meanwhile,
// lost or gone is skipped with why; the others are closed in one
// transaction and their deposits are told back.
func TestBidExecutorReadsEachBidAgain(t *testing.T) {
	ctx := context.Background()
	w := newExecutorWorld(t, 0)
	provider := w.closer.Signer.Address
	bid := func(dseq uint64, p string) chain.BidID {
		return chain.BidID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: dseq, GSeq: 1, OSeq: 1, Provider: p}
	}
	deposit := sdk.NewDecCoin("uakt", sdkmath.NewInt(500_000))
	for dseq := uint64(1); dseq <= 4; dseq++ {
		w.ch.PlaceBid(bid(dseq, provider), sdk.NewDecCoin("uakt", sdkmath.NewInt(3)), deposit)
	}
	other := "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"
	w.ch.PlaceBid(bid(3, other), sdk.NewDecCoin("uakt", sdkmath.NewInt(2)), deposit)
	var actions []actuator.Action
	for dseq := uint64(1); dseq <= 5; dseq++ {
		b := chain.Bid{ID: bid(dseq, provider), State: chain.BidOpen}
		actions = append(actions, actuator.Action{Verb: VerbCloseBid, Target: actuator.Ref{APIVersion: "v1", Kind: "Pod", Namespace: "akash-services", Name: "akash-provider-0"},
			Lease: b.ID.LeaseID().String(), Reason: "Test", Message: "test", Payload: b})
	}
	// Since the plan: bid 2 was leased, bid 3 lost to another provider;
	// bid 5 was never on chain.
	require.NoError(t, w.ch.LeaseBid(bid(2, provider)))
	require.NoError(t, w.ch.LeaseBid(bid(3, other)))
	var back []chain.Coin
	exec := &BidExecutor{Closer: w.closer, Chain: w.closer.Chain, Reason: 10002, Recovered: func(c chain.Coin) { back = append(back, c) }}
	res := exec.Batch(ctx, actions)
	require.Len(t, res, 5)
	for _, i := range []int{0, 3} {
		assert.NoError(t, res[i].Err)
		assert.NotEmpty(t, res[i].Fields["tx_hash"])
		assert.Equal(t, "500000uakt", res[i].Fields["deposit"])
	}
	assert.Equal(t, res[0].Fields["tx_hash"], res[3].Fields["tx_hash"], "one transaction")
	assert.ErrorContains(t, res[1].Err, "leased by its tenant meanwhile")
	assert.ErrorContains(t, res[2].Err, "the chain says lost")
	assert.ErrorContains(t, res[4].Err, "gone from the chain")
	assert.Equal(t, []chain.Coin{{Denom: "uakt", Amount: "500000.000000000000000000"}, {Denom: "uakt", Amount: "500000.000000000000000000"}}, back)
	for _, dseq := range []uint64{1, 4} {
		b, _ := w.ch.Bid(bid(dseq, provider))
		assert.Equal(t, chain.BidClosed, b.State)
	}
	l, _ := w.ch.Get(bid(2, provider).LeaseID())
	assert.Equal(t, chain.StateActive, l.State, "the leased bid's lease is untouched")
	assert.Equal(t, "1500000.000000000000000000uakt", w.ch.Refunded(provider).String(), "two closes and the lost bid")

	// Another provider's bid is refused by the closer, nothing sent.
	r := w.closer.CloseBids(ctx, []chain.BidID{bid(9, other)}, 10002)
	assert.ErrorContains(t, r[0].Err, "belongs to provider "+other)
}

func TestDepositText(t *testing.T) {
	assert.Equal(t, "500000uakt", DepositText([]chain.Coin{{Denom: "uakt", Amount: "500000.000000000000000000"}}))
	assert.Equal(t, "0.5uact+5uakt", DepositText([]chain.Coin{{Denom: "uact", Amount: "0.500000000000000000"}, {Denom: "uakt", Amount: "5"}}))
	assert.Equal(t, "0uakt", DepositText([]chain.Coin{{Denom: "uakt", Amount: "0.000000000000000000"}}))
	assert.Equal(t, "nothing", DepositText(nil))
}
