// Package leaseclose closes leases on chain, the one way every job does:
// a Closer takes leases and a reason and reports, per lease, the
// transaction that closed it or why it was not closed.
package leaseclose

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	sdkmath "cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// Result is what became of one lease.
type Result struct {
	Lease chain.Lease
	// TxHash is the transaction that closed it (empty if not closed).
	TxHash string
	// Err says why it was not closed; nil when closed.
	Err error
}

// Closer closes leases.
type Closer interface {
	// Backend names the way it closes (tx, cli, exec), for the audit line.
	Backend() string
	// Provider is whose leases it can close.
	Provider() string
	// Close closes the leases, each with the reason; one Result per lease,
	// in order.
	Close(ctx context.Context, leases []chain.Lease, reason int32) []Result
	// StartReclaim starts the reclamation window of leases that have one
	// (MsgLeaseStartReclaim, node 2.1 on, AEP-82): they can be closed once
	// its deadline has passed. One Result per lease, in order.
	StartReclaim(ctx context.Context, leases []chain.Lease, reason int32) []Result
	// CloseBids closes open bids (MsgCloseBid on an open bid gives its
	// deposit back: node x/market/handler/server.go CloseBid). One Result
	// per bid, in order, its Lease the bid's ID.
	CloseBids(ctx context.Context, bids []chain.BidID, reason int32) []Result
}

// bidsAsLeases are bids in the form the closers address (the ID and the
// bseq: MsgCloseBid's fields), open as far as the closers' own checks go:
// the executor has just read each open.
func bidsAsLeases(bids []chain.BidID) []chain.Lease {
	out := make([]chain.Lease, len(bids))
	for i, b := range bids {
		out[i] = chain.Lease{ID: b.LeaseID(), BSeq: b.BSeq, State: chain.StateActive}
	}
	return out
}

// precheckBid refuses another provider's bid.
func precheckBid(l chain.Lease, provider string) error {
	if l.ID.Provider != provider {
		return fmt.Errorf("bid %s belongs to provider %s, the closer acts for %s", chain.BidIDOf(l), l.ID.Provider, provider)
	}
	return nil
}

// ErrReclaiming is a lease inside its reclamation window: reported, not
// retried until its deadline.
var ErrReclaiming = errors.New("inside its reclamation window")

// ErrReclamationNotStarted is a lease with a reclamation window not yet
// started: the chain refuses to close it (market code 37) until
// MsgLeaseStartReclaim has been sent and the deadline has passed.
var ErrReclamationNotStarted = errors.New("its reclamation window has not started: start it (MsgLeaseStartReclaim) and close after the deadline")

// ErrStartReclaimUnsupported is the CLI closers' answer to StartReclaim
// with a CLI that has no `tx market bid start-reclaim` (older than node
// 2.1's).
var ErrStartReclaimUnsupported = errors.New("it cannot start a reclamation window: use a CLI of node 2.1 or later (provider-services with chain-sdk go/v0.2.11 on), or --closer=tx")

// TxCloser signs and broadcasts MsgCloseBid natively (cosmos-sdk), in
// batches, with gas from simulate, fees from gas prices, retries on a
// sequence mismatch, and waits for inclusion.
type TxCloser struct {
	Chain   *chain.Client
	Signer  *chaintx.Signer
	ChainID string
	// GasPrices is a DecCoin, e.g. "0.025uakt"; GasAdjustment multiplies
	// the simulated gas (1.5 if 0).
	GasPrices     string
	GasAdjustment float64
	// BatchSize is how many closes go in one transaction (1 if 0).
	BatchSize int
	// SequenceRetries bounds the retries after a sequence mismatch (3 if 0).
	SequenceRetries int
	// WaitTimeout bounds the wait for inclusion (60 s if 0).
	WaitTimeout time.Duration
	// BlockPoll is how often the height is read while waiting for the next
	// block after a mismatch that named no sequence (1 s if 0).
	BlockPoll time.Duration
	Memo      string
	// Granter, when set, is the provider the key closes for through an
	// authz grant (MsgExec wrapping the closes): a dedicated janitor key
	// that never shares the provider's account sequence.
	Granter string
}

// Provider is whose leases the closer may close: the granter with authz,
// else the key's account.
func (t *TxCloser) Provider() string {
	if t.Granter != "" {
		return t.Granter
	}
	return t.Signer.Address
}

func (t *TxCloser) Backend() string { return "tx" }

// Validate checks the configuration.
func (t *TxCloser) Validate() error {
	var errs []error
	if t.Chain == nil || t.Signer == nil {
		errs = append(errs, errors.New("the tx closer needs a chain client and a key"))
	}
	if t.ChainID == "" {
		errs = append(errs, errors.New("chain ID is empty"))
	}
	if _, err := sdk.ParseDecCoin(t.GasPrices); err != nil {
		errs = append(errs, fmt.Errorf("gas prices %q: %v", t.GasPrices, err))
	}
	if t.GasAdjustment < 0 || t.BatchSize < 0 || t.SequenceRetries < 0 {
		errs = append(errs, errors.New("gas adjustment, batch size and sequence retries must not be negative"))
	}
	if t.GasAdjustment > 0 && t.GasAdjustment < 1 {
		errs = append(errs, fmt.Errorf("gas adjustment %v: below 1 a transaction gets less gas than the node simulated and runs out of gas in the block (code 11)", t.GasAdjustment))
	}
	return errors.Join(errs...)
}

// Close closes the leases, a batch per transaction. A lease of another
// provider than the key's is refused; one in its reclamation window is
// reported with ErrReclaiming, one whose window has not started with
// ErrReclamationNotStarted.
func (t *TxCloser) Close(ctx context.Context, leases []chain.Lease, reason int32) []Result {
	return t.send(ctx, chain.TypeURLMsgCloseBid, leases, reason, precheck)
}

// CloseBids closes open bids, a batch per transaction.
func (t *TxCloser) CloseBids(ctx context.Context, bids []chain.BidID, reason int32) []Result {
	return t.send(ctx, chain.TypeURLMsgCloseBid, bidsAsLeases(bids), reason, precheckBid)
}

// StartReclaim sends MsgLeaseStartReclaim for the leases, a batch per
// transaction; a lease without an unstarted window is refused.
func (t *TxCloser) StartReclaim(ctx context.Context, leases []chain.Lease, reason int32) []Result {
	return t.send(ctx, chain.TypeURLMsgLeaseStartReclaim, leases, reason, precheckStart)
}

func (t *TxCloser) send(ctx context.Context, typeURL string, leases []chain.Lease, reason int32, check func(chain.Lease, string) error) []Result {
	results := make([]Result, len(leases))
	var batch []int
	flush := func() {
		if len(batch) == 0 {
			return
		}
		hash, err := t.sendBatch(ctx, typeURL, leases, batch, reason)
		for _, i := range batch {
			results[i].TxHash, results[i].Err = hash, err
		}
		batch = batch[:0]
	}
	size := max(t.BatchSize, 1)
	for i, l := range leases {
		results[i].Lease = l
		if err := check(l, t.Provider()); err != nil {
			results[i].Err = err
			continue
		}
		batch = append(batch, i)
		if len(batch) == size {
			flush()
		}
	}
	flush()
	return results
}

// precheck refuses a lease no closer may close: another provider's, or one
// the chain would refuse to close now (closeBlocked).
func precheck(l chain.Lease, provider string) error {
	if l.ID.Provider != provider {
		return fmt.Errorf("lease %s belongs to provider %s, the closer acts for %s", l.ID, l.ID.Provider, provider)
	}
	if err := closeBlocked(l, time.Now()); err != nil {
		return fmt.Errorf("lease %s: %w", l.ID, err)
	}
	return nil
}

// precheckStart refuses a lease whose reclamation cannot be started: not
// the closer's, or without an unstarted window (startBlocked).
func precheckStart(l chain.Lease, provider string) error {
	if l.ID.Provider != provider {
		return fmt.Errorf("lease %s belongs to provider %s, the closer acts for %s", l.ID, l.ID.Provider, provider)
	}
	if err := startBlocked(l); err != nil {
		return fmt.Errorf("lease %s: %w", l.ID, err)
	}
	return nil
}

// closeBlocked says why the chain would refuse to close the lease at now:
// already closed, inside its reclamation window (ErrReclaiming), or with a
// window not started (ErrReclamationNotStarted); nil when it would not.
func closeBlocked(l chain.Lease, now time.Time) error {
	deadline, inWindow := l.InReclamationWindow(now)
	switch {
	case l.Ended():
		return AlreadyEnded(l)
	case inWindow:
		return fmt.Errorf("%w until %s", ErrReclaiming, chain.WindowText(deadline))
	case l.ReclamationUnstarted():
		return ErrReclamationNotStarted
	}
	return nil
}

// AlreadyEnded says that the lease is over on chain, and how: the node
// refuses to close an ended lease again (node x/market/handler/server.go
// CloseBid: market code 10), whether closed or ended for insufficient
// funds.
func AlreadyEnded(l chain.Lease) error {
	if l.State == chain.StateClosed {
		return errors.New("already closed on chain")
	}
	return fmt.Errorf("already ended on chain (%s): the chain refuses to close it again", l.State)
}

// startBlocked says why the lease's reclamation window cannot be started,
// nil when it can.
func startBlocked(l chain.Lease) error {
	if !l.ReclamationUnstarted() {
		return fmt.Errorf("no reclamation window to start (the chain says %s)", l.State)
	}
	return nil
}

func (t *TxCloser) sendBatch(ctx context.Context, typeURL string, leases []chain.Lease, batch []int, reason int32) (string, error) {
	var ids []chain.BidID
	for _, i := range batch {
		ids = append(ids, chain.BidIDOf(leases[i]))
	}
	resp, err := t.BroadcastMsgs(ctx, typeURL, ids, reason)
	if err != nil {
		return resp.Hash, err
	}
	return resp.Hash, waitIncluded(ctx, t.Chain, resp.Hash, t.WaitTimeout)
}

// waitIncluded waits up to timeout (a minute if 0) for the transaction's
// block; a transaction that failed there is an error.
func waitIncluded(ctx context.Context, c *chain.Client, hash string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done, err := c.WaitTx(ctx, hash, time.Second)
	if err != nil {
		return err
	}
	if !done.OK() {
		return fmt.Errorf("transaction %s failed in block %d (%s code %d): %s", done.Hash, done.Height, done.Codespace, done.Code, done.RawLog)
	}
	return nil
}

// Broadcast signs one transaction closing the bids and broadcasts it,
// reading the account again after a sequence mismatch (bounded). It does
// not wait for inclusion. A refusal by the node is an error with the
// response.
func (t *TxCloser) Broadcast(ctx context.Context, ids []chain.BidID, reason int32) (chain.TxResponse, error) {
	return t.BroadcastMsgs(ctx, chain.TypeURLMsgCloseBid, ids, reason)
}

// BroadcastMsgs is Broadcast of one message of typeURL (MsgCloseBid or
// MsgLeaseStartReclaim, which share their fields) per bid.
func (t *TxCloser) BroadcastMsgs(ctx context.Context, typeURL string, ids []chain.BidID, reason int32) (chain.TxResponse, error) {
	var msgs []chaintx.Msg
	for _, id := range ids {
		m := chain.MsgCloseBid{ID: id, Reason: reason}
		msgs = append(msgs, chaintx.Msg{TypeURL: typeURL, Value: m.Marshal()})
	}
	if t.Granter != "" {
		exec := chain.MsgExec{Grantee: t.Signer.Address}
		for _, m := range msgs {
			exec.Msgs = append(exec.Msgs, chain.AnyMsg{TypeURL: m.TypeURL, Value: m.Value})
		}
		msgs = []chaintx.Msg{{TypeURL: chain.TypeURLMsgExec, Value: exec.Marshal()}}
	}
	retries := t.SequenceRetries
	if retries == 0 {
		retries = 3
	}
	acct, err := t.Chain.Account(ctx, t.Signer.Address)
	if err != nil {
		return chain.TxResponse{}, err
	}
	var resp chain.TxResponse // the last broadcast's answer
	for attempt := 0; ; attempt++ {
		raw, err := t.sign(ctx, msgs, acct)
		var mismatch *chain.SequenceMismatch
		if err == nil {
			resp, err = t.Chain.Broadcast(ctx, raw)
			if err != nil {
				return chain.TxResponse{}, err
			}
			m, isMismatch := resp.Mismatch()
			if !isMismatch {
				if !resp.OK() {
					return resp, fmt.Errorf("the node refused the transaction (%s code %d): %s", resp.Codespace, resp.Code, resp.RawLog)
				}
				return resp, nil
			}
			mismatch, err = m, fmt.Errorf("the node refused the transaction (%s code %d): %s", resp.Codespace, resp.Code, resp.RawLog)
		} else if !errors.As(err, &mismatch) {
			return chain.TxResponse{}, err
		} else {
			resp = chain.TxResponse{} // refused at simulate: nothing was broadcast
		}
		// The account moved on: the provider's own daemon has a
		// transaction in the mempool (simulate and CheckTx count it; the
		// account query does not), or just had one included.
		if attempt >= retries {
			return resp, fmt.Errorf("gave up after %d sequence mismatches: %w", attempt+1, err)
		}
		if mismatch.Named && mismatch.Expected != acct.Sequence {
			acct.Sequence = mismatch.Expected // the sequence the node named
			continue
		}
		// No usable sequence named: wait for the next block, read again.
		if err := t.nextBlock(ctx); err != nil {
			return chain.TxResponse{}, err
		}
		if acct, err = t.Chain.Account(ctx, t.Signer.Address); err != nil {
			return chain.TxResponse{}, err
		}
	}
}

func (t *TxCloser) pollEvery() time.Duration {
	if t.BlockPoll > 0 {
		return t.BlockPoll
	}
	return time.Second
}

// nextBlock waits until the chain is past the height it is at now (at
// most a minute).
func (t *TxCloser) nextBlock(ctx context.Context) error {
	start, err := t.Chain.LatestHeight(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the block after %d: %w", start, ctx.Err())
		case <-time.After(t.pollEvery()):
		}
		h, err := t.Chain.LatestHeight(ctx)
		if err != nil {
			return err
		}
		if h > start {
			return nil
		}
	}
}

// explainGrant says which authz grant is missing, and how to make it, when
// the node refused a grantee's MsgExec for want of one (cosmos-sdk
// x/authz/keeper/keeper.go: "failed to get grant with given granter: ...
// & msgType: ... : authorization not found"; recorded against node
// 2.1.0-rc12, 16_simulate_authz_start_reclaim_no_grant). Each message type
// needs its own grant: MsgCloseBid to close, MsgLeaseStartReclaim (node
// 2.1 on) to start a reclamation window.
func (t *TxCloser) explainGrant(err error) error {
	var e *chain.Error
	if t.Granter == "" || !errors.As(err, &e) || !strings.Contains(e.Message, "authorization not found") {
		return err
	}
	msgType := "/akash.market.v1beta5.MsgCloseBid"
	if _, rest, ok := strings.Cut(e.Message, "msgType: "); ok {
		msgType, _, _ = strings.Cut(rest, " ")
	}
	return fmt.Errorf("provider %s has granted %s no %s (authz): grant it with `provider-services tx authz grant %s generic --msg-type %s --from <the provider's key>`: %w",
		t.Granter, t.Signer.Address, msgType, t.Signer.Address, msgType, err)
}

// FeeGas is what deducting the fee costs in the block, which the
// simulation probe (signed without a fee, as the fee depends on the gas)
// does not count: 18,062 on the recorded node 2.0.1 (a close 223,252
// simulated, 241,314 in the block), 18,118 on 2.1.0-rc12 (a close
// 223,409 and 241,527; MsgLeaseStartReclaim 59,856 and 77,974). On a small
// message it is a large share: 1.30 times the simulated gas of a
// start-reclaim, so an adjustment alone under 1.31 would run out of gas.
// It is added to the simulated gas before the adjustment.
const FeeGas = 18_200

// sign simulates for gas, then signs with the adjusted gas (the fee's
// own cost added: FeeGas) and its fee.
func (t *TxCloser) sign(ctx context.Context, msgs []chaintx.Msg, acct chain.Account) ([]byte, error) {
	price, err := sdk.ParseDecCoin(t.GasPrices)
	if err != nil {
		return nil, fmt.Errorf("gas prices %q: %w", t.GasPrices, err)
	}
	tx := chaintx.Tx{Msgs: msgs, Memo: t.Memo, ChainID: t.ChainID, AccountNumber: acct.Number, Sequence: acct.Sequence, Fee: "0" + price.Denom}
	probe, err := t.Signer.Sign(tx)
	if err != nil {
		return nil, err
	}
	used, err := t.Chain.Simulate(ctx, probe)
	if err != nil {
		return nil, t.explainGrant(err)
	}
	adj := t.GasAdjustment
	if adj == 0 {
		adj = 1.5
	}
	tx.GasLimit = uint64(math.Ceil(float64(used+FeeGas) * adj))
	fee := price.Amount.Mul(sdkmath.LegacyNewDec(int64(tx.GasLimit))).Ceil().TruncateInt()
	tx.Fee = fee.String() + price.Denom
	return t.Signer.Sign(tx)
}
