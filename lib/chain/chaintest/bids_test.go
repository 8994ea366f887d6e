package chaintest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sdkmath "cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

const other = "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0"

// bidsChain is a provider's bids of every state, as the golden answers of
// testdata/node-source/bids_* have them: open on orders 201, 202 and 203
// (placed at 1,000,000, 1,000,100, 1,000,200), lost on 204 (another
// provider's was leased), active on 205 (leased), closed on 206 (its
// order's group closed).
func bidsChain() *chaintest.Chain {
	ch := chaintest.New()
	price := sdk.NewDecCoinFromDec("uakt", sdkmath.LegacyMustNewDecFromStr("1.5"))
	deposit := sdk.NewDecCoin("uakt", sdkmath.NewInt(500_000))
	bid := func(dseq uint64, p string) chain.BidID {
		return chain.BidID{Owner: tenant, DSeq: dseq, GSeq: 1, OSeq: 1, Provider: p}
	}
	for _, dseq := range []uint64{201, 202, 203} {
		ch.PlaceBid(bid(dseq, provider), price, deposit)
		ch.Height += 100
	}
	ch.PlaceBid(bid(204, provider), price, deposit)
	ch.PlaceBid(bid(204, other), price, deposit)
	ch.PlaceBid(bid(205, provider), price, deposit)
	ch.PlaceBid(bid(206, provider), price, deposit)
	ch.Height += 10
	if err := ch.LeaseBid(bid(204, other)); err != nil {
		panic(err)
	}
	if err := ch.LeaseBid(bid(205, provider)); err != nil {
		panic(err)
	}
	ch.CloseOrder(tenant, 206, 1, 1)
	ch.Height += 10
	return ch
}

// The simulator answers the bid and order queries as the node's source says it does
// (testdata/node-source/bids_*: no recording has a bid).
func TestBidsAsTheNodeSourceSays(t *testing.T) {
	bids, err := filepath.Glob("../testdata/node-source/bids_*.json")
	require.NoError(t, err)
	orders, err := filepath.Glob("../testdata/node-source/orders_*.json")
	require.NoError(t, err)
	files := append(bids, orders...)
	require.Len(t, files, 6)
	url := bidsChain().Start(t).URL
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var golden recording
		require.NoError(t, json.Unmarshal(b, &golden))
		status, answer := send(t, url, golden)
		assert.Empty(t, compareAnswers(golden, status, answer), filepath.Base(f))
	}
}

// The client reads a provider's bids through every page, each with its
// deposit, and asks for a state the node keeps apart.
func TestBidsListedThroughEveryPage(t *testing.T) {
	ctx := context.Background()
	ch := bidsChain()
	c := &chain.Client{Endpoints: []string{ch.Start(t).URL}, PageLimit: 2}
	open, err := c.Bids(ctx, provider, chain.BidOpen)
	require.NoError(t, err)
	var dseqs []uint64
	for _, b := range open {
		dseqs = append(dseqs, b.ID.DSeq)
		assert.Equal(t, []chain.Coin{{Denom: "uakt", Amount: "500000.000000000000000000"}}, b.Deposit)
		assert.Equal(t, "open", b.Escrow)
	}
	assert.Equal(t, []uint64{201, 202, 203}, dseqs)
	assert.Equal(t, int64(1_000_100), open[1].CreatedAt)
	all, err := c.Bids(ctx, provider, "")
	require.NoError(t, err)
	states := map[string]int{}
	for _, b := range all {
		states[b.State]++
	}
	assert.Equal(t, map[string]int{"open": 3, "lost": 1, "active": 1, "closed": 1}, states)

	b, err := c.Bid(ctx, chain.BidID{Owner: tenant, DSeq: 204, GSeq: 1, OSeq: 1, Provider: provider})
	require.NoError(t, err)
	assert.Equal(t, chain.BidLost, b.State)
	assert.Equal(t, "closed", b.Escrow, "the chain gave the losing bid's deposit back")
	assert.Equal(t, []chain.Coin{{Denom: "uakt", Amount: "0.000000000000000000"}}, b.Deposit)
	_, err = c.Bid(ctx, chain.BidID{Owner: tenant, DSeq: 999, GSeq: 1, OSeq: 1, Provider: provider})
	assert.ErrorIs(t, err, chain.ErrNotFound)
	_, err = c.Bids(ctx, provider, "pending")
	assert.ErrorContains(t, err, "invalid state value")
}

// MsgCloseBid on an open bid closes it and gives its deposit back; the
// node refuses it on a bid already closed or lost (market code 8, no lease
// for it), and on a leased bid it closes the lease.
func TestCloseOpenBids(t *testing.T) {
	ctx := context.Background()
	key, _, err := chaintx.GenerateKey("p")
	require.NoError(t, err)
	ch := chaintest.New()
	ch.AddAccount(key.Address)
	deposit := sdk.NewDecCoin("uakt", sdkmath.NewInt(500_000))
	price := sdk.NewDecCoin("uakt", sdkmath.NewInt(2))
	bid := func(dseq uint64) chain.BidID {
		return chain.BidID{Owner: tenant, DSeq: dseq, GSeq: 1, OSeq: 1, Provider: key.Address}
	}
	ch.PlaceBid(bid(1), price, deposit)
	ch.PlaceBid(bid(2), price, deposit)
	ch.PlaceBid(bid(3), price, deposit)
	require.NoError(t, ch.LeaseBid(bid(3)))
	c := &chain.Client{Endpoints: []string{ch.Start(t).URL}}
	inBlock := func(ids ...chain.BidID) chain.TxResponse {
		t.Helper()
		var msgs []chaintx.Msg
		for _, id := range ids {
			msgs = append(msgs, chaintx.Msg{TypeURL: chain.TypeURLMsgCloseBid, Value: chain.MsgCloseBid{ID: id, Reason: 10002}.Marshal()})
		}
		acct, err := c.Account(ctx, key.Address)
		require.NoError(t, err)
		raw, err := key.Sign(chaintx.Tx{Msgs: msgs, ChainID: chaintest.ChainID, AccountNumber: acct.Number, Sequence: acct.Sequence, GasLimit: 1_000_000, Fee: "25000uakt"})
		require.NoError(t, err)
		resp, err := c.Broadcast(ctx, raw)
		require.NoError(t, err)
		require.True(t, resp.OK(), resp.RawLog)
		done, err := c.WaitTx(ctx, resp.Hash, 10*time.Millisecond)
		require.NoError(t, err)
		return done
	}
	assert.True(t, ch.Refunded(key.Address).IsZero())
	done := inBlock(bid(1), bid(2))
	require.True(t, done.OK(), done.RawLog)
	for _, id := range []chain.BidID{bid(1), bid(2)} {
		b, err := c.Bid(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, chain.BidClosed, b.State)
		assert.Equal(t, "closed", b.Escrow)
	}
	assert.Equal(t, "1000000.000000000000000000uakt", ch.Refunded(key.Address).String(), "both deposits back")
	applied := ch.Applied()
	assert.Equal(t, []chain.BidID{bid(1), bid(2)}, applied[len(applied)-1].ClosedBids)

	done = inBlock(bid(1))
	assert.Equal(t, uint32(8), done.Code, "closed already: %s", done.RawLog)
	assert.Contains(t, done.RawLog, "unknown lease for bid")

	done = inBlock(bid(3))
	require.True(t, done.OK(), done.RawLog)
	l, err := c.LeaseBid(ctx, bid(3).LeaseID(), 0)
	require.NoError(t, err)
	assert.Equal(t, chain.StateClosed, l.State, "a leased bid's close is its lease's")
	b, err := c.Bid(ctx, bid(3))
	require.NoError(t, err)
	assert.Equal(t, chain.BidClosed, b.State)
}

// The client reads the open orders through every page.
func TestOrdersListedThroughEveryPage(t *testing.T) {
	ch := bidsChain()
	ch.PlaceOrder(tenant, 300, 1, 1)
	ch.PlaceOrder(tenant, 300, 2, 1)
	c := &chain.Client{Endpoints: []string{ch.Start(t).URL}, PageLimit: 2}
	open, err := c.Orders(context.Background(), chain.OrderOpen)
	require.NoError(t, err)
	var got []string
	for _, o := range open {
		got = append(got, fmt.Sprintf("%d/%d", o.DSeq, o.GSeq))
	}
	assert.Equal(t, []string{"201/1", "202/1", "203/1", "300/1", "300/2"}, got)
	assert.Equal(t, int64(1_000_100), open[1].CreatedAt)
	all, err := c.Orders(context.Background(), "")
	require.NoError(t, err)
	assert.Len(t, all, 8, "open, then active, then closed")
	assert.Equal(t, chain.OrderClosed, all[7].State)
}
