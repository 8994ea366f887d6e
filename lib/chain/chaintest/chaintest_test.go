package chaintest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// A provider closes two leases in one signed transaction; the simulated
// node checks the signature and sequence as a node does and closes them.
func TestCloseBidsOnTheSimulatedChain(t *testing.T) {
	ctx := context.Background()
	provider, _, err := chaintx.GenerateKey("p")
	require.NoError(t, err)
	ch := chaintest.New().WithReclamation()
	ch.AddAccount(provider.Address)
	lease := func(dseq uint64, state string) akash.LeaseID {
		id := akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: dseq, GSeq: 1, OSeq: 1, Provider: provider.Address}
		l := chain.Lease{ID: id, State: state}
		if state == chain.StateReclaiming {
			l.Reclamation = &chain.Reclamation{Window: time.Hour, StartedAt: ch.Height, Deadline: time.Now().Add(time.Hour)}
		}
		ch.Put(l)
		return id
	}
	a, b, reclaiming := lease(1, chain.StateActive), lease(2, chain.StateInsufficientFunds), lease(3, chain.StateReclaiming)
	c := &chain.Client{Endpoints: []string{ch.Start(t).URL}}

	sign := func(s *chaintx.Signer, ids ...akash.LeaseID) []byte {
		acct, err := c.Account(ctx, s.Address)
		require.NoError(t, err)
		var msgs []chaintx.Msg
		for _, id := range ids {
			m := chain.MsgCloseBid{ID: chain.BidID{Owner: id.Owner, DSeq: id.DSeq, GSeq: id.GSeq, OSeq: id.OSeq, Provider: id.Provider}, Reason: 10002}
			msgs = append(msgs, chaintx.Msg{TypeURL: chain.TypeURLMsgCloseBid, Value: m.Marshal()})
		}
		raw, err := s.Sign(chaintx.Tx{Msgs: msgs, ChainID: chaintest.ChainID, AccountNumber: acct.Number, Sequence: acct.Sequence, GasLimit: 200000, Fee: "5000uakt"})
		require.NoError(t, err)
		return raw
	}

	raw := sign(provider, a, b)
	gas, err := c.Simulate(ctx, raw)
	require.NoError(t, err)
	assert.Equal(t, uint64(44864+2*196450), gas, "two closes with a fee, as the recorded node charges")
	resp, err := c.Broadcast(ctx, raw)
	require.NoError(t, err)
	require.True(t, resp.OK(), resp.RawLog)
	done, err := c.WaitTx(ctx, resp.Hash, 10*time.Millisecond)
	require.NoError(t, err)
	assert.True(t, done.OK(), done.RawLog)
	for _, id := range []akash.LeaseID{a, b} {
		l, err := c.Lease(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, chain.StateClosed, l.State)
		assert.Equal(t, "lease_closed_reason_unspecified", l.Reason)
	}

	// Another client used the account meanwhile: the node says so.
	stale := sign(provider, reclaiming)
	ch.UseSequence(provider.Address)
	resp, err = c.Broadcast(ctx, stale)
	require.NoError(t, err)
	assert.True(t, resp.SequenceMismatch(), "%+v", resp)
	assert.Contains(t, resp.RawLog, "account sequence mismatch, expected 2, got 1")

	// Inside its reclamation window a lease cannot be closed.
	resp, err = c.Broadcast(ctx, sign(provider, reclaiming))
	require.NoError(t, err)
	done, err = c.WaitTx(ctx, resp.Hash, 10*time.Millisecond)
	require.NoError(t, err)
	assert.False(t, done.OK())
	assert.Contains(t, done.RawLog, "reclamation window")

	// Only the provider may close its bids.
	other, _, err := chaintx.GenerateKey("q")
	require.NoError(t, err)
	ch.AddAccount(other.Address)
	active := lease(4, chain.StateActive)
	resp, err = c.Broadcast(ctx, sign(other, active))
	require.NoError(t, err)
	done, err = c.WaitTx(ctx, resp.Hash, 10*time.Millisecond)
	require.NoError(t, err)
	assert.False(t, done.OK())
	l, _ := ch.Get(active)
	assert.Equal(t, chain.StateActive, l.State)

	// A transaction the chain has not seen.
	_, err = c.Tx(ctx, "00")
	assert.ErrorIs(t, err, chain.ErrNotFound)
	_, err = c.Account(ctx, "akash1nobody")
	assert.ErrorIs(t, err, chain.ErrNotFound)
}
