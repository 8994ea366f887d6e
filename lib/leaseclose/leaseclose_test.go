package leaseclose

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chain/chaintest"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

func TestTxCloserBatchesRetriesAndReports(t *testing.T) {
	ctx := context.Background()
	key, _, err := chaintx.GenerateKey("p")
	require.NoError(t, err)
	ch := chaintest.New()
	ch.AddAccount(key.Address)
	var leases []chain.Lease
	for i := 1; i <= 5; i++ {
		l := chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: uint64(i), GSeq: 1, OSeq: 1, Provider: key.Address}, State: chain.StateActive}
		ch.Put(l)
		leases = append(leases, l)
	}
	reclaiming := chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 9, GSeq: 1, OSeq: 1, Provider: key.Address},
		State: chain.StateReclaiming, Reclamation: &chain.Reclamation{Window: time.Hour, Deadline: time.Now().Add(time.Hour)}}
	ch.Put(reclaiming)
	foreign := chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 10, GSeq: 1, OSeq: 1, Provider: "akash1someoneelse"}, State: chain.StateActive}
	ch.Put(foreign)

	closer := &TxCloser{Chain: &chain.Client{Endpoints: []string{ch.Start(t).URL}}, Signer: key, ChainID: chaintest.ChainID,
		GasPrices: "0.025uakt", BatchSize: 2, WaitTimeout: 5 * time.Second}
	require.NoError(t, closer.Validate())
	ch.MismatchNext(1) // another client sends from the account just before the first batch
	results := closer.Close(ctx, append(append([]chain.Lease{}, leases...), reclaiming, foreign), 10003)
	require.Len(t, results, 7)
	hashes := map[string]int{}
	for i, r := range results[:5] {
		require.NoError(t, r.Err, "lease %d", i)
		hashes[r.TxHash]++
		l, _ := ch.Get(r.Lease.ID)
		assert.Equal(t, chain.StateClosed, l.State)
		assert.Equal(t, "lease_closed_reason_manifest_timeout", l.Reason)
	}
	assert.Len(t, hashes, 3, "5 closes in batches of 2: 3 transactions")
	assert.True(t, errors.Is(results[5].Err, ErrReclaiming), "%v", results[5].Err)
	assert.Contains(t, results[6].Err.Error(), "belongs to provider akash1someoneelse")
	l, _ := ch.Get(foreign.ID)
	assert.Equal(t, chain.StateActive, l.State)

	applied := ch.Applied()
	require.Len(t, applied, 3, "the sequence mismatch was retried, not counted as a transaction")
	// Batch of two, the recorded node's gas: a fee-less probe uses
	// 44,864 + 2 x 196,450 - 18,062 = 419,702; with the fee's own cost,
	// (419,702 + 18,200) x 1.5 = 656,853 gas; x 0.025uakt = 16,422uakt.
	assert.Equal(t, uint64(656853), applied[0].Gas)
	assert.Equal(t, "16422uakt", applied[0].Fee)
}

// A bidding provider's daemon always has a transaction of its account in
// the mempool: the account query answers one sequence behind, and simulate
// (which counts the mempool) refuses with HTTP 500 code 2, naming the
// sequence it expects, as the recorded node does. The closer signs again
// with that sequence and closes, block after block.
// busyProvider is a provider's key and a chain where its account is busy
// every block, with n active leases of it.
func busyProvider(t *testing.T, n int) (*chaintx.Signer, *chaintest.Chain, []chain.Lease) {
	t.Helper()
	key, _, err := chaintx.GenerateKey("p")
	require.NoError(t, err)
	ch := chaintest.New()
	ch.AddAccount(key.Address)
	ch.Busy(key.Address, true)
	var leases []chain.Lease
	for i := 1; i <= n; i++ {
		l := chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: uint64(i), GSeq: 1, OSeq: 1, Provider: key.Address}, State: chain.StateActive}
		ch.Put(l)
		leases = append(leases, l)
	}
	return key, ch, leases
}

func TestTxCloserWhileTheProviderIsBusy(t *testing.T) {
	ctx := context.Background()
	key, ch, leases := busyProvider(t, 6)
	client := &chain.Client{Endpoints: []string{ch.Start(t).URL}}
	acct, err := client.Account(ctx, key.Address)
	require.NoError(t, err)
	probe, err := key.Sign(chaintx.Tx{Msgs: []chaintx.Msg{{TypeURL: chain.TypeURLMsgCloseBid,
		Value: (&chain.MsgCloseBid{ID: chain.BidID{Owner: leases[0].ID.Owner, DSeq: 1, GSeq: 1, OSeq: 1, Provider: key.Address}}).Marshal()}},
		ChainID: chaintest.ChainID, AccountNumber: acct.Number, Sequence: acct.Sequence, Fee: "0uakt"})
	require.NoError(t, err)
	_, err = client.Simulate(ctx, probe)
	var mismatch *chain.SequenceMismatch
	require.ErrorAs(t, err, &mismatch, "the committed sequence is one behind the mempool's")
	assert.Equal(t, acct.Sequence+1, mismatch.Expected)

	closer := &TxCloser{Chain: client, Signer: key, ChainID: chaintest.ChainID, GasPrices: "0.025uakt", BatchSize: 2, WaitTimeout: 5 * time.Second}
	for i, r := range closer.Close(ctx, leases, 10002) {
		require.NoError(t, r.Err, "lease %d", i)
		l, _ := ch.Get(r.Lease.ID)
		assert.Equal(t, chain.StateClosed, l.State)
	}
	assert.Len(t, ch.Applied(), 3, "three batches of two, each once")
}

// A reclaiming lease is refused before its deadline (unix time, as the
// chain keeps it) and closed after it.
func TestTxCloserReclamationDeadline(t *testing.T) {
	ctx := context.Background()
	key, ch, _ := busyProvider(t, 0)
	ch.Busy(key.Address, false)
	ch.WithReclamation()
	window := func(dseq uint64, deadline time.Time) chain.Lease {
		l := chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: dseq, GSeq: 1, OSeq: 1, Provider: key.Address},
			State: chain.StateReclaiming, Reclamation: &chain.Reclamation{Window: time.Hour, StartedAt: ch.Height - 600, Deadline: deadline}}
		ch.Put(l)
		return l
	}
	deadline := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	waiting, due := window(1, deadline), window(2, time.Now().Add(-time.Minute))
	closer := &TxCloser{Chain: &chain.Client{Endpoints: []string{ch.Start(t).URL}}, Signer: key, ChainID: chaintest.ChainID,
		GasPrices: "0.025uakt", WaitTimeout: 5 * time.Second}
	r := closer.Close(ctx, []chain.Lease{waiting, due}, 10001)
	assert.ErrorIs(t, r[0].Err, ErrReclaiming)
	assert.ErrorContains(t, r[0].Err, "until "+deadline.Format(time.RFC3339))
	require.NoError(t, r[1].Err)
	got, _ := ch.Get(due.ID)
	assert.Equal(t, chain.StateClosed, got.State, "past its deadline, closed")
	got, _ = ch.Get(waiting.ID)
	assert.Equal(t, chain.StateReclaiming, got.State)
}

// With no sequence named, the closer waits for the next block and reads
// the account again.
// The fee's own cost is in the gas: a start-reclaim uses about 1.30 times
// its fee-less simulation in the block (recorded on node 2.1.0-rc12), and
// goes through with an adjustment of 1; below 1 is refused with why.
func TestTxCloserGasCoversTheFee(t *testing.T) {
	ctx := context.Background()
	key, _, err := chaintx.GenerateKey("p")
	require.NoError(t, err)
	ch := chaintest.New().WithReclamation()
	ch.AddAccount(key.Address)
	l := chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 5, GSeq: 1, OSeq: 1, Provider: key.Address},
		State: chain.StateActive, Reclamation: &chain.Reclamation{Window: time.Hour}}
	ch.Put(l)
	closer := &TxCloser{Chain: &chain.Client{Endpoints: []string{ch.Start(t).URL}}, Signer: key, ChainID: chaintest.ChainID,
		GasPrices: "0.025uakt", GasAdjustment: 1, WaitTimeout: 5 * time.Second}
	require.NoError(t, closer.Validate())
	r := closer.StartReclaim(ctx, []chain.Lease{l}, 10003)
	require.NoError(t, r[0].Err)
	applied := ch.Applied()
	require.Len(t, applied, 1)
	assert.Zero(t, applied[0].Code, applied[0].Log)
	assert.GreaterOrEqual(t, applied[0].Gas, applied[0].GasUsed, "enough gas with the fee's cost added")
	assert.Greater(t, float64(applied[0].GasUsed), 1.25*float64(applied[0].GasUsed-FeeGas), "the fee weighs on a start-reclaim")

	closer.GasAdjustment = 0.9
	assert.ErrorContains(t, closer.Validate(), "gas adjustment 0.9: below 1 a transaction gets less gas than the node simulated")
}

func TestTxCloserWaitsABlockWhenNoSequenceIsNamed(t *testing.T) {
	ctx := context.Background()
	key, ch, leases := busyProvider(t, 1)
	ch.UnnamedMismatches(true)
	l := leases[0]
	go func() {
		time.Sleep(300 * time.Millisecond)
		ch.Busy(key.Address, false) // the daemon's bid is included, and it rests
		ch.Advance(1)
	}()
	closer := &TxCloser{Chain: &chain.Client{Endpoints: []string{ch.Start(t).URL}}, Signer: key, ChainID: chaintest.ChainID,
		GasPrices: "0.025uakt", WaitTimeout: 5 * time.Second, BlockPoll: 50 * time.Millisecond}
	r := closer.Close(ctx, []chain.Lease{l}, 10002)
	require.NoError(t, r[0].Err)
	got, _ := ch.Get(l.ID)
	assert.Equal(t, chain.StateClosed, got.State)
}

func TestTxCloserFailsClearly(t *testing.T) {
	key, _, err := chaintx.GenerateKey("p")
	require.NoError(t, err)
	bad := &TxCloser{Chain: &chain.Client{Endpoints: []string{"http://127.0.0.1:1"}}, Signer: key, ChainID: "", GasPrices: "cheap"}
	err = bad.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "chain ID is empty")
	assert.Contains(t, err.Error(), `gas prices "cheap"`)

	// The chain is down: nothing closed, each lease says why.
	down := &TxCloser{Chain: &chain.Client{Endpoints: []string{"http://127.0.0.1:1"}, Timeout: 200 * time.Millisecond}, Signer: key,
		ChainID: chaintest.ChainID, GasPrices: "0.025uakt"}
	res := down.Close(context.Background(), []chain.Lease{{ID: akash.LeaseID{Owner: "o", DSeq: 1, GSeq: 1, OSeq: 1, Provider: key.Address}, State: chain.StateActive}}, 10002)
	require.Error(t, res[0].Err)
	assert.Empty(t, res[0].TxHash)
	assert.Contains(t, res[0].Err.Error(), "no chain endpoint answered")
}

// A dedicated janitor key closes the provider's leases through an authz
// grant (MsgExec): the provider's own account and sequence are never used.
func TestTxCloserWithAuthzGrant(t *testing.T) {
	ctx := context.Background()
	provider := "akash1nxq8gmsw2vlz3m68qvyvcf3kh6q269ajvqw6y0" // no key of it here
	janitor, _, err := chaintx.GenerateKey("j")
	require.NoError(t, err)
	ch := chaintest.New()
	ch.AddAccount(janitor.Address)
	ids := []akash.LeaseID{
		{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 1, GSeq: 1, OSeq: 1, Provider: provider},
		{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 2, GSeq: 1, OSeq: 1, Provider: provider},
	}
	var leases []chain.Lease
	for _, id := range ids {
		l := chain.Lease{ID: id, State: chain.StateActive}
		ch.Put(l)
		leases = append(leases, l)
	}
	closer := &TxCloser{Chain: &chain.Client{Endpoints: []string{ch.Start(t).URL}}, Signer: janitor, Granter: provider,
		ChainID: chaintest.ChainID, GasPrices: "0.025uakt", BatchSize: 10, WaitTimeout: 5 * time.Second}

	// No grant yet: the chain refuses, nothing closes; the error names
	// the grant and how to make it.
	res := closer.Close(ctx, leases[:1], 10002)
	require.Error(t, res[0].Err)
	assert.Contains(t, res[0].Err.Error(), "authorization not found")
	assert.Contains(t, res[0].Err.Error(), "provider "+provider+" has granted "+janitor.Address+" no /akash.market.v1beta5.MsgCloseBid (authz): grant it with "+
		"`provider-services tx authz grant "+janitor.Address+" generic --msg-type /akash.market.v1beta5.MsgCloseBid --from <the provider's key>`")

	ch.Grant(provider, janitor.Address, chain.TypeURLMsgCloseBid)
	res = closer.Close(ctx, leases, 10002)
	for _, r := range res {
		require.NoError(t, r.Err)
		l, _ := ch.Get(r.Lease.ID)
		assert.Equal(t, chain.StateClosed, l.State)
	}
	assert.Equal(t, res[0].TxHash, res[1].TxHash, "one MsgExec with both closes")
	applied := ch.Applied()
	assert.Equal(t, janitor.Address, applied[len(applied)-1].Signer)

	// On node 2.1 a start-reclaim needs a grant of its own (recorded:
	// 16_simulate_authz_start_reclaim_no_grant): the error names it.
	ch.WithReclamation()
	windowed := chain.Lease{ID: akash.LeaseID{Owner: "akash1h24fljt7p0nh82cq0za0uhsct3sfwsfu9w3c9h", DSeq: 3, GSeq: 1, OSeq: 1, Provider: provider},
		State: chain.StateActive, Reclamation: &chain.Reclamation{Window: time.Hour}}
	ch.Put(windowed)
	res = closer.StartReclaim(ctx, []chain.Lease{windowed}, 10003)
	require.Error(t, res[0].Err)
	assert.Contains(t, res[0].Err.Error(), "no /akash.market.v1beta5.MsgLeaseStartReclaim (authz): grant it with "+
		"`provider-services tx authz grant "+janitor.Address+" generic --msg-type /akash.market.v1beta5.MsgLeaseStartReclaim")
	ch.Grant(provider, janitor.Address, chain.TypeURLMsgLeaseStartReclaim)
	res = closer.StartReclaim(ctx, []chain.Lease{windowed}, 10003)
	require.NoError(t, res[0].Err)
	l, _ := ch.Get(windowed.ID)
	assert.Equal(t, chain.StateReclaiming, l.State)

	// Flags: a grantee key needs --authz and --provider.
	f := ChainFlags{KeyFile: writeKey(t), KeyPassFile: writePass(t), ChainID: chaintest.ChainID, GasPrices: "0.025uakt"}
	_, err = f.TxCloser(closer.Chain, provider, 1, "")
	assert.ErrorContains(t, err, "a grantee key needs --authz")
	f.Authz = true
	c, err := f.TxCloser(closer.Chain, provider, 1, "")
	require.NoError(t, err)
	assert.Equal(t, provider, c.Provider())
}

func writeKey(t *testing.T) string {
	t.Helper()
	_, armor, err := chaintx.GenerateKey("pw")
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "key.txt")
	require.NoError(t, os.WriteFile(p, []byte(armor), 0o600))
	return p
}

func writePass(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key-pass.txt")
	require.NoError(t, os.WriteFile(p, []byte("pw\n"), 0o600))
	return p
}
