package chaintest_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// A deployment's escrow runs dry: nothing changes until a settlement (the
// node settles only in a transaction), then the provider's withdrawal
// ends the lease as insufficient_funds, and the node's answer for it is
// the one derived from its source (testdata/node-source).
func TestEscrowRunsDryAtTheProvidersWithdrawal(t *testing.T) {
	b, err := os.ReadFile("../testdata/node-source/info_insufficient_funds.json")
	require.NoError(t, err)
	var golden recording
	require.NoError(t, json.Unmarshal(b, &golden))

	ch := chaintest.New()
	ch.Height = 42
	id := akash.LeaseID{Owner: tenant, DSeq: 102, GSeq: 1, OSeq: 1, Provider: provider}
	l := chain.Lease{ID: id, State: chain.StateActive, CreatedAt: 42}
	l.Price.Denom, l.Price.Amount = "uact", "100.000000000000000000"
	ch.Put(l)
	ch.Fund(tenant, 102, 500_000)
	url := ch.Start(t).URL

	ch.Advance(5000) // 500,000 due: all the deployment had
	left, ok := ch.Funds(tenant, 102)
	require.True(t, ok)
	assert.True(t, left.IsZero(), "%s left", left)
	ch.Advance(99)
	got, _ := ch.Get(id)
	assert.Equal(t, chain.StateActive, got.State, "dry, but nothing settled it yet: still active, as on the node")

	require.NoError(t, ch.WithdrawLease(id)) // at height 5142
	got, _ = ch.Get(id)
	assert.Equal(t, chain.StateInsufficientFunds, got.State)
	assert.Equal(t, int64(5142), got.ClosedOn)
	assert.True(t, got.Ended())
	status, answer := send(t, url, golden)
	assert.Empty(t, compareAnswers(golden, status, answer), "the answer derived from the node's source")
	var want, have struct {
		Payment struct {
			State json.RawMessage `json:"state"`
		} `json:"escrow_payment"`
	}
	require.NoError(t, json.Unmarshal([]byte(golden.Response), &want))
	require.NoError(t, json.Unmarshal(answer, &have))
	assert.JSONEq(t, string(want.Payment.State), string(have.Payment.State), "paid, withdrawn and unsettled as the node's settlement leaves them")

	assert.ErrorContains(t, ch.WithdrawLease(id), "payment closed", "a second withdrawal: escrow code 7")
	require.NoError(t, ch.Deposit(tenant, 102, 4_000))
	status, answer = send(t, url, golden)
	require.Equal(t, 200, status)
	assert.Equal(t, []string{"overdrawn", "6000.000000000000000000", "504000"}, payment(t, answer), "a deposit short of the debt pays part of it")
	require.NoError(t, ch.Deposit(tenant, 102, 20_000))
	got, _ = ch.Get(id)
	assert.Equal(t, chain.StateInsufficientFunds, got.State, "a deposit pays the debt but reopens nothing")
	status, answer = send(t, url, golden)
	require.Equal(t, 200, status)
	assert.Equal(t, []string{"closed", "0.000000000000000000", "510000"}, payment(t, answer), "the debt paid, the payment closes")
	assert.ErrorContains(t, ch.Deposit(tenant, 102, 1), "account closed")
}

// payment is an answer's escrow payment: its state, unsettled and
// withdrawn amounts.
func payment(t *testing.T, answer []byte) []string {
	t.Helper()
	var got struct {
		Payment struct {
			State struct {
				State     string `json:"state"`
				Unsettled struct {
					Amount string `json:"amount"`
				} `json:"unsettled"`
				Withdrawn struct {
					Amount string `json:"amount"`
				} `json:"withdrawn"`
			} `json:"state"`
		} `json:"escrow_payment"`
	}
	require.NoError(t, json.Unmarshal(answer, &got))
	st := got.Payment.State
	return []string{st.State, st.Unsettled.Amount, st.Withdrawn.Amount}
}

// A withdrawal while the deployment can pay pays out and ends nothing;
// the close of one lease of a deployment that cannot pay all of them
// ends the others for insufficient funds (the close settles), and the
// closed one stays closed.
func TestEscrowSettlesOnClose(t *testing.T) {
	ctx := context.Background()
	key, _, err := chaintx.GenerateKey("p")
	require.NoError(t, err)
	ch := chaintest.New()
	ch.AddAccount(key.Address)
	mk := func(oseq uint32) akash.LeaseID {
		id := akash.LeaseID{Owner: tenant, DSeq: 7, GSeq: 1, OSeq: oseq, Provider: key.Address}
		l := chain.Lease{ID: id, State: chain.StateActive, CreatedAt: ch.Height}
		l.Price.Denom, l.Price.Amount = "uakt", "10.5"
		ch.Put(l)
		return id
	}
	a, b := mk(1), mk(2)
	ch.Fund(tenant, 7, 1_000)
	ch.Advance(10)
	require.NoError(t, ch.WithdrawLease(a)) // in the 11th block
	left, _ := ch.Funds(tenant, 7)
	assert.Equal(t, "770.000000000000000000", left.String(), "11 blocks x 10.5 = 115.5 a lease, truncated as the node does: 230 paid")
	for _, id := range []akash.LeaseID{a, b} {
		l, _ := ch.Get(id)
		assert.Equal(t, chain.StateActive, l.State)
	}

	ch.Advance(100)
	c := &chain.Client{Endpoints: []string{ch.Start(t).URL}}
	acct, err := c.Account(ctx, key.Address)
	require.NoError(t, err)
	msg := chain.MsgCloseBid{ID: chain.BidIDOf(chain.Lease{ID: a}), Reason: 10002}
	raw, err := key.Sign(chaintx.Tx{Msgs: []chaintx.Msg{{TypeURL: chain.TypeURLMsgCloseBid, Value: msg.Marshal()}}, ChainID: chaintest.ChainID,
		AccountNumber: acct.Number, Sequence: acct.Sequence, GasLimit: 1_000_000, Fee: "25000uakt"})
	require.NoError(t, err)
	res, err := c.Broadcast(ctx, raw)
	require.NoError(t, err)
	require.Zero(t, res.Code, res.RawLog)
	la, _ := ch.Get(a)
	lb, _ := ch.Get(b)
	assert.Equal(t, chain.StateClosed, la.State, "closed first, as CloseBid does")
	assert.Equal(t, chain.StateInsufficientFunds, lb.State, "the close's settlement overdrew the account")
	assert.Equal(t, chain.ReasonInsufficientFunds, lb.Reason)
	assert.Equal(t, la.ClosedOn, lb.ClosedOn, "in the same block")
	l, err := c.Lease(ctx, b)
	require.NoError(t, err)
	assert.Equal(t, "ended for insufficient funds (its escrow ran dry)", l.EndedText())
}
