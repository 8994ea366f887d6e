package chaintest_test

import (
	"context"
	"fmt"
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
// node checks it as the recorded node does: simulate runs the messages,
// CheckTx the fee, key, sequence and signature, the block the gas and the
// market module's rules.
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
	a, b, poor, reclaiming := lease(1, chain.StateActive), lease(2, chain.StateActive), lease(3, chain.StateInsufficientFunds), lease(4, chain.StateReclaiming)
	c := &chain.Client{Endpoints: []string{ch.Start(t).URL}}

	type signed struct {
		gas uint64
		fee string
	}
	msgsOf := func(typeURL string, ids ...akash.LeaseID) []chaintx.Msg {
		var msgs []chaintx.Msg
		for _, id := range ids {
			m := chain.MsgCloseBid{ID: chain.BidID{Owner: id.Owner, DSeq: id.DSeq, GSeq: id.GSeq, OSeq: id.OSeq, Provider: id.Provider}, Reason: 10002}
			msgs = append(msgs, chaintx.Msg{TypeURL: typeURL, Value: m.Marshal()})
		}
		return msgs
	}
	signAs := func(s *chaintx.Signer, how signed, msgs []chaintx.Msg) []byte {
		acct, err := c.Account(ctx, s.Address)
		require.NoError(t, err)
		raw, err := s.Sign(chaintx.Tx{Msgs: msgs, ChainID: chaintest.ChainID, AccountNumber: acct.Number, Sequence: acct.Sequence, GasLimit: how.gas, Fee: how.fee})
		require.NoError(t, err)
		return raw
	}
	enough := signed{gas: 1_000_000, fee: "25000uakt"}
	sign := func(ids ...akash.LeaseID) []byte {
		return signAs(provider, enough, msgsOf(chain.TypeURLMsgCloseBid, ids...))
	}
	inBlock := func(raw []byte) chain.TxResponse {
		t.Helper()
		resp, err := c.Broadcast(ctx, raw)
		require.NoError(t, err)
		require.True(t, resp.OK(), "CheckTx: %s", resp.RawLog)
		done, err := c.WaitTx(ctx, resp.Hash, 10*time.Millisecond)
		require.NoError(t, err)
		return done
	}

	raw := sign(a, b)
	gas, err := c.Simulate(ctx, raw)
	require.NoError(t, err)
	assert.Equal(t, uint64(44864+2*196450), gas, "two closes with a fee, as the recorded node charges")
	done := inBlock(raw)
	assert.True(t, done.OK(), done.RawLog)
	for _, id := range []akash.LeaseID{a, b} {
		l, err := c.Lease(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, chain.StateClosed, l.State)
		assert.Equal(t, "lease_closed_reason_unspecified", l.Reason)
	}

	// Simulate runs the messages: a lease the escrow ran dry on is not
	// active, and the node says so before anything is sent.
	_, err = c.Simulate(ctx, sign(poor))
	assert.ErrorContains(t, err, "message index: 0: lease not active")

	// Another client used the account meanwhile: the node says so.
	stale := sign(reclaiming)
	ch.UseSequence(provider.Address)
	resp, err := c.Broadcast(ctx, stale)
	require.NoError(t, err)
	assert.True(t, resp.SequenceMismatch(), "%+v", resp)
	assert.Contains(t, resp.RawLog, "account sequence mismatch, expected 2, got 1")

	// Inside its reclamation window a lease cannot be closed.
	done = inBlock(sign(reclaiming))
	assert.False(t, done.OK())
	assert.Equal(t, "market", done.Codespace)
	assert.EqualValues(t, 38, done.Code)
	assert.Contains(t, done.RawLog, "reclamation window has not elapsed")

	// A key that is not the provider's cannot sign its close (CheckTx,
	// code 8), and nothing changes.
	other, _, err := chaintx.GenerateKey("q")
	require.NoError(t, err)
	ch.AddAccount(other.Address)
	active := lease(5, chain.StateActive)
	ch.SetAccount(other.Address, 200, 0, nil)
	acct, err := c.Account(ctx, provider.Address)
	require.NoError(t, err)
	forged, err := other.Sign(chaintx.Tx{Msgs: msgsOf(chain.TypeURLMsgCloseBid, active), ChainID: chaintest.ChainID, AccountNumber: acct.Number,
		Sequence: acct.Sequence, GasLimit: enough.gas, Fee: enough.fee})
	require.NoError(t, err)
	resp, err = c.Broadcast(ctx, forged)
	require.NoError(t, err)
	assert.EqualValues(t, 8, resp.Code)
	assert.Contains(t, resp.RawLog, "pubKey does not match signer address "+provider.Address)

	// A fee below the minimum gas price is refused at CheckTx (code 13).
	resp, err = c.Broadcast(ctx, signAs(provider, signed{gas: 400_000, fee: "1uakt"}, msgsOf(chain.TypeURLMsgCloseBid, active)))
	require.NoError(t, err)
	assert.EqualValues(t, 13, resp.Code)
	assert.Contains(t, resp.RawLog, "insufficient fees; got: 1uakt required: 10000uakt")

	// Too little gas passes CheckTx and fails in the block (code 11).
	done = inBlock(signAs(provider, signed{gas: 200_000, fee: "5000uakt"}, msgsOf(chain.TypeURLMsgCloseBid, active)))
	assert.EqualValues(t, 11, done.Code)
	assert.Contains(t, done.RawLog, "out of gas")
	l, _ := ch.Get(active)
	assert.Equal(t, chain.StateActive, l.State)

	// A transaction the chain has not seen.
	_, err = c.Tx(ctx, "00")
	assert.ErrorIs(t, err, chain.ErrNotFound)
	_, err = c.Account(ctx, "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h")
	assert.ErrorIs(t, err, chain.ErrNotFound)
}

// Reclamation on a 2.1 node (AEP-82): a lease with a window cannot be
// closed before MsgLeaseStartReclaim, nor before the deadline it sets.
func TestReclamationOnTheSimulatedChain(t *testing.T) {
	ctx := context.Background()
	provider, _, err := chaintx.GenerateKey("p")
	require.NoError(t, err)
	ch := chaintest.New().WithReclamation()
	ch.AddAccount(provider.Address)
	id := akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 7, GSeq: 1, OSeq: 1, Provider: provider.Address}
	ch.Put(chain.Lease{ID: id, State: chain.StateActive, Reclamation: &chain.Reclamation{Window: 2 * time.Hour}})
	c := &chain.Client{Endpoints: []string{ch.Start(t).URL}}
	send := func(typeURL string) chain.TxResponse {
		t.Helper()
		acct, err := c.Account(ctx, provider.Address)
		require.NoError(t, err)
		m := chain.MsgCloseBid{ID: chain.BidIDOf(chain.Lease{ID: id}), Reason: 10001}
		raw, err := provider.Sign(chaintx.Tx{Msgs: []chaintx.Msg{{TypeURL: typeURL, Value: m.Marshal()}}, ChainID: chaintest.ChainID,
			AccountNumber: acct.Number, Sequence: acct.Sequence, GasLimit: 400_000, Fee: "10000uakt"})
		require.NoError(t, err)
		resp, err := c.Broadcast(ctx, raw)
		require.NoError(t, err)
		require.True(t, resp.OK(), resp.RawLog)
		done, err := c.WaitTx(ctx, resp.Hash, 10*time.Millisecond)
		require.NoError(t, err)
		return done
	}

	done := send(chain.TypeURLMsgCloseBid)
	assert.EqualValues(t, 37, done.Code)
	assert.Contains(t, done.RawLog, "reclamation not started; call MsgLeaseStartReclaim first")

	before := time.Now().Truncate(time.Second)
	done = send(chain.TypeURLMsgLeaseStartReclaim)
	require.True(t, done.OK(), done.RawLog)
	l, err := c.Lease(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, chain.StateReclaiming, l.State)
	require.NotNil(t, l.Reclamation)
	assert.WithinDuration(t, before.Add(2*time.Hour), l.Reclamation.Deadline, 2*time.Second, "the deadline is the block time and the window")
	assert.Equal(t, "lease_closed_reason_decommission", l.Reclamation.Reason)

	done = send(chain.TypeURLMsgLeaseStartReclaim)
	assert.EqualValues(t, 10, done.Code, "started once: the lease is no longer active")
	done = send(chain.TypeURLMsgCloseBid)
	assert.EqualValues(t, 38, done.Code, "not before the deadline")

	l.Reclamation.Deadline = time.Now().Add(-time.Second)
	ch.Put(l)
	done = send(chain.TypeURLMsgCloseBid)
	assert.True(t, done.OK(), done.RawLog)
	l, _ = ch.Get(id)
	assert.Equal(t, chain.StateClosed, l.State)
}

// The chain keeps its leases sorted between listings; a lease put after a
// listing is in the next one, in its place, and a lease put again shows its
// new state.
func TestListingsSeeLeasesPutSinceTheLast(t *testing.T) {
	ctx := context.Background()
	ch := chaintest.New()
	const provider = "akash1s9m5tfwwu0jh35qtqym2a89e6ddfa3jnwxxf4x"
	owner := "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h"
	put := func(dseq uint64, state string) {
		ch.Put(chain.Lease{ID: akash.LeaseID{Owner: owner, DSeq: dseq, GSeq: 1, OSeq: 1, Provider: provider}, State: state})
	}
	c := &chain.Client{Endpoints: []string{ch.Start(t).URL}, PageLimit: 2}
	dseqs := func() []uint64 {
		leases, err := c.Leases(ctx, provider, chain.StateActive)
		require.NoError(t, err)
		var out []uint64
		for _, l := range leases {
			out = append(out, l.ID.DSeq)
		}
		return out
	}
	put(30, chain.StateActive)
	put(10, chain.StateActive)
	put(50, chain.StateActive)
	assert.Equal(t, []uint64{10, 30, 50}, dseqs())
	put(20, chain.StateActive)
	put(30, chain.StateClosed)
	assert.Equal(t, []uint64{10, 20, 50}, dseqs())
}

// Ages come from the chain's own blocks: on a chain making a block a
// second, 7 blocks are 7 s, whatever mainnet's pace; a node that pruned
// old blocks is measured over fewer; one that keeps none is an error.
func TestClockMeasuresTheChainsPace(t *testing.T) {
	ctx := context.Background()
	ch := chaintest.New()
	ch.BlockInterval = time.Second
	c := &chain.Client{Endpoints: []string{ch.Start(t).URL}}
	k, err := c.Clock(ctx)
	require.NoError(t, err)
	assert.Equal(t, time.Second, k.PerBlock.Round(10*time.Millisecond))
	assert.Equal(t, int64(1000), k.Span)
	assert.Equal(t, ch.Height, k.Latest.Height)
	assert.WithinDuration(t, time.Now(), k.Latest.Time, 5*time.Second)
	assert.Equal(t, 7*time.Second, k.Age(ch.Height-7).Round(100*time.Millisecond))

	ch.BlockInterval = 6117 * time.Millisecond
	ch.PrunedBelow = ch.Height - 500
	k, err = c.Clock(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(100), k.Span, "1,000 blocks back is pruned: 100")
	assert.Equal(t, 6117*time.Millisecond, k.PerBlock.Round(time.Millisecond))

	ch.PrunedBelow = ch.Height
	_, err = c.Clock(ctx)
	assert.ErrorContains(t, err, "no earlier block can be read")
	assert.ErrorContains(t, err, fmt.Sprintf("height %d is not available, lowest height is %d", ch.Height-10, ch.Height))

	_, err = c.Block(ctx, ch.Height+5)
	assert.ErrorContains(t, err, "requested block height is bigger then the chain length")
}

// A node whose version predates lease reclamation (2.0.x) is not asked for
// reclaiming leases, which it refuses (HTTP 400); one that did not say is
// asked once, and its refusal is remembered for the run.
func TestReclaimingIsAskedOnlyOfNodesThatKnowIt(t *testing.T) {
	ctx := context.Background()
	provider, _, err := chaintx.GenerateKey("p")
	require.NoError(t, err)
	ch := chaintest.New() // 2.0.1
	ch.Put(chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 1, GSeq: 1, OSeq: 1, Provider: provider.Address}, State: chain.StateActive})
	url := ch.Start(t).URL

	c := &chain.Client{Endpoints: []string{url}}
	_, err = c.NodeInfo(ctx)
	require.NoError(t, err)
	before := ch.Requests()
	live, unknown, err := c.LeasesByState(ctx, provider.Address, chain.StateActive, chain.StateReclaiming)
	require.NoError(t, err)
	assert.Len(t, live, 1)
	assert.Equal(t, []string{chain.StateReclaiming}, unknown)
	assert.Equal(t, 1, ch.Requests()-before, "the active listing alone")

	blind := &chain.Client{Endpoints: []string{url}}
	before = ch.Requests()
	_, unknown, err = blind.LeasesByState(ctx, provider.Address, chain.StateActive, chain.StateReclaiming)
	require.NoError(t, err)
	assert.Equal(t, []string{chain.StateReclaiming}, unknown)
	assert.Equal(t, 2, ch.Requests()-before, "asked once, refused")
	before = ch.Requests()
	_, _, err = blind.LeasesByState(ctx, provider.Address, chain.StateActive, chain.StateReclaiming)
	require.NoError(t, err)
	assert.Equal(t, 1, ch.Requests()-before, "not asked again")

	ch.WithReclamation()
	fresh := &chain.Client{Endpoints: []string{url}}
	_, err = fresh.NodeInfo(ctx)
	require.NoError(t, err)
	_, unknown, err = fresh.LeasesByState(ctx, provider.Address, chain.StateActive, chain.StateReclaiming)
	require.NoError(t, err)
	assert.Empty(t, unknown, "2.1 knows it")
}
