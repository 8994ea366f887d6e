package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/leaseclose"
)

const provider = "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"

func openBid(dseq uint64, height int64, deposit ...chain.Coin) chain.Bid {
	return chain.Bid{ID: chain.BidID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: dseq, GSeq: 1, OSeq: 1, Provider: provider},
		State: chain.BidOpen, CreatedAt: height, Escrow: "open", Deposit: deposit}
}

// Bids past the age by the chain's own pace are closed, the oldest first;
// a younger one is the provider's; the deposits held are summed by denom.
func TestPlanClosesBidsPastTheAge(t *testing.T) {
	uakt := chain.Coin{Denom: "uakt", Amount: "500000.000000000000000000"}
	uact := chain.Coin{Denom: "uact", Amount: "500000.000000000000000000"}
	obs := observed{
		// 6 s a block: 600 blocks are an hour.
		clock: chain.Clock{Latest: chain.Block{Height: 10_000}, PerBlock: 6 * time.Second},
		bids: []chain.Bid{
			openBid(1, 9_500, uakt), // 50 minutes: the provider's still
			openBid(2, 9_000, uakt), // 100 minutes
			openBid(3, 2_000, uact), // 13 hours
			openBid(4, 9_400, uakt), // exactly an hour
		},
	}
	p := plan(obs, time.Hour, "akash-services", "akash-provider-0")
	require.Len(t, p.closes, 3)
	var dseqs []uint64
	for _, a := range p.closes {
		dseqs = append(dseqs, a.Payload.(chain.Bid).ID.DSeq)
		assert.Equal(t, "close-bid", a.Verb)
		assert.Equal(t, "BidStale", a.Reason)
		assert.Equal(t, "Pod/akash-services/akash-provider-0", a.Target.String())
	}
	assert.Equal(t, []uint64{3, 2, 4}, dseqs, "oldest first")
	assert.Equal(t, 4, p.open)
	assert.Equal(t, []chain.Coin{{Denom: "uact", Amount: "500000.000000000000000000"}, {Denom: "uakt", Amount: "1000000.000000000000000000"}}, p.held)
	a := p.closes[0]
	assert.Equal(t, "bid akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h/3/1/1/"+provider+"/0", a.Subject)
	assert.Equal(t, "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h/3/1/1/"+provider, a.Lease)
	assert.Contains(t, a.Message, "open 13h20m0s (placed at height 2000), past --max-bid-age=1h0m0s")
	assert.Contains(t, a.Message, "gives back its deposit of 500000uact")

	assert.Empty(t, plan(observed{clock: obs.clock, bids: obs.bids[:1]}, time.Hour, "ns", "pod").closes)
}

func TestValidate(t *testing.T) {
	o := &options{maxBidAge: time.Hour, bidTimeout: 5 * time.Minute, batchSize: 10, window: time.Hour, chain: leaseclose.ChainFlags{CompletionWindow: time.Hour}, eventPod: "akash-services/akash-provider-0"}
	require.NoError(t, o.validate())
	o.maxBidAge = 8 * time.Minute
	assert.ErrorContains(t, o.validate(), "--max-bid-age=8m0s: below twice --provider-bid-timeout=5m0s")
	o.maxBidAge, o.bidTimeout = time.Hour, 0
	assert.ErrorContains(t, o.validate(), "--provider-bid-timeout=0s")
	o.bidTimeout, o.eventPod, o.batchSize = time.Minute, "pod", 0
	err := o.validate()
	assert.ErrorContains(t, err, `--event-pod="pod"`)
	assert.ErrorContains(t, err, "--batch-size=0")
}
