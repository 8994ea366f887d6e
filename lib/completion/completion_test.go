package completion

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
)

const provider = "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"

func lease(dseq uint64, state, reason string, closedOn int64) chain.Lease {
	return chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: dseq, GSeq: 1, OSeq: 1, Provider: provider},
		State: state, Reason: reason, ClosedOn: closedOn, CreatedAt: 1}
}

// A provider with leases ended by every reason, inside and outside the
// window: only its own closes within the window count against it.
func everyReason(latest int64) []chain.Lease {
	in, out := latest-100, latest-1_000_000 // 10 minutes, and about 70 days, at 6 s a block
	return []chain.Lease{
		lease(1, chain.StateActive, "", 0),
		lease(2, chain.StateReclaiming, "", 0),
		lease(3, chain.StateClosed, "lease_closed_owner", in),
		lease(4, chain.StateInsufficientFunds, chain.ReasonInsufficientFunds, in),
		lease(5, chain.StateClosed, "lease_closed_reason_unstable", in),
		lease(6, chain.StateClosed, "lease_closed_reason_decommission", in),
		lease(7, chain.StateClosed, "lease_closed_reason_unspecified", in),
		lease(8, chain.StateClosed, "lease_closed_reason_manifest_timeout", in),
		lease(9, chain.StateClosed, "lease_closed_reason_unstable", out),
		lease(10, chain.StateClosed, "lease_closed_owner", out),
	}
}

func TestStatsCountEveryReason(t *testing.T) {
	clock := chain.Clock{Latest: chain.Block{Height: 2_000_000}, PerBlock: 6 * time.Second}
	s := Of(everyReason(2_000_000), clock, 30*24*time.Hour)
	assert.Equal(t, 8, s.Total, "live ones, and those that ended within 30 days")
	assert.Equal(t, 4, s.Terminated, "10000-10003; not the owner's, not insufficient funds")
	assert.InDelta(t, 0.5, s.Rate(), 1e-9)
	assert.Equal(t, 1.0, Stats{}.Rate())
	for _, l := range everyReason(2_000_000) {
		assert.Equal(t, l.ID.DSeq >= 5 && l.ID.DSeq <= 9, Terminated(l), "lease %d (%s)", l.ID.DSeq, l.Reason)
	}
}

// The guard reads the chain once, grants closes while the rate stays at
// the minimum, counts the closes it granted, takes refunds back, and
// holds nothing below AEP-86's ten leases.
func TestGuardHoldsClosesBelowTheMinimum(t *testing.T) {
	ctx := context.Background()
	ch := chaintest.New()
	ch.BlockInterval = 6 * time.Second
	for dseq := uint64(1); dseq <= 48; dseq++ {
		ch.Put(lease(dseq, chain.StateActive, "", 0))
	}
	ch.Put(lease(49, chain.StateClosed, "lease_closed_reason_unstable", ch.Height-10))
	ch.Put(lease(50, chain.StateClosed, "lease_closed_owner", ch.Height-10))
	c := &chain.Client{Endpoints: []string{ch.Start(t).URL}}
	g := &Guard{Chain: c, Provider: provider, Window: 30 * 24 * time.Hour, Min: 0.96}
	// 50 leases, 1 terminated: 0.98; 0.96 allows one more close.
	n, why, err := g.Grant(ctx, 3)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Contains(t, why, "the lease completion rate would fall below --min-completion-rate=0.96: 2 of the 50 leases of the last 720h0m0s were closed by the provider (96.00%)")
	before := ch.Requests()
	n, _, err = g.Grant(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "the one granted counts")
	assert.Equal(t, before, ch.Requests(), "read once")
	g.Refund(1)
	n, _, err = g.Grant(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a close not made is given back")

	few := chaintest.New()
	for dseq := uint64(1); dseq <= 5; dseq++ {
		few.Put(lease(dseq, chain.StateActive, "", 0))
	}
	g = &Guard{Chain: &chain.Client{Endpoints: []string{few.Start(t).URL}}, Provider: provider, Window: time.Hour, Min: 0.98}
	n, _, err = g.Grant(ctx, 5)
	require.NoError(t, err)
	assert.Equal(t, 5, n, "fewer than 10 leases: AEP-86 does not check the rate")

	down := chaintest.New()
	down.FailNext(100, 503)
	g = &Guard{Chain: &chain.Client{Endpoints: []string{down.Start(t).URL}, Timeout: time.Second}, Provider: provider, Window: time.Hour, Min: 0.98}
	n, _, err = g.Grant(ctx, 2)
	assert.Equal(t, 0, n)
	assert.ErrorContains(t, err, "nothing closed while it cannot be read")
}

func TestValidate(t *testing.T) {
	assert.NoError(t, Validate(0, time.Hour))
	assert.NoError(t, Validate(0.98, 720*time.Hour))
	assert.ErrorContains(t, Validate(98, time.Hour), "--min-completion-rate=98: want 0 (off) or a fraction below 1")
	assert.ErrorContains(t, Validate(-0.1, time.Hour), "--min-completion-rate")
	assert.ErrorContains(t, Validate(0.9, 0), "--completion-window=0s")
}
