package leaseclose

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/chain"
)

// VerbCloseBid is the audit line's action for closing an open bid.
const VerbCloseBid = "close-bid"

// BidExecutor closes the open bids of a plan: each action's payload is the
// chain.Bid the plan decided on. Just before signing it reads each bid
// again by ID: one gone, or no longer open (leased meanwhile, lost to
// another provider, closed), is skipped with the reason; the rest go to
// the Closer in one call. Bid closes are not lease closes: the daily lease
// close budget does not count them (the actuator's per-run budget does).
type BidExecutor struct {
	Closer Closer
	Chain  *chain.Client
	// Reason is MsgCloseBid's reason: the node ignores it for an open bid
	// but refuses one outside the provider's range (chain-sdk
	// market/v1beta5 msgs.go ValidateBasic).
	Reason int32
	// Recovered, if set, is told each deposit given back by a close.
	Recovered func(chain.Coin)
}

// Batch is an actuator.BatchExecutor for close-bid actions.
func (e *BidExecutor) Batch(ctx context.Context, batch []actuator.Action) []actuator.BatchResult {
	out := make([]actuator.BatchResult, len(batch))
	var ids []chain.BidID
	var bids []chain.Bid
	var index []int
	for i, a := range batch {
		out[i].Fields = map[string]string{"backend": e.Closer.Backend()}
		planned, err := actuator.PayloadOf[chain.Bid](a)
		if err != nil {
			out[i].Err = err
			continue
		}
		if a.Verb != VerbCloseBid {
			out[i].Err = fmt.Errorf("no bid executor for %s", a.Verb)
			continue
		}
		b, err := e.Chain.Bid(ctx, planned.ID)
		switch {
		case errors.Is(err, chain.ErrNotFound):
			out[i].Err = actuator.Skip("gone from the chain on a second look, just before acting")
			continue
		case err != nil:
			out[i].Err = fmt.Errorf("confirm the bid on chain just before acting (nothing sent): %w", err)
			continue
		case b.State == chain.BidActive:
			out[i].Err = actuator.Skip("leased by its tenant meanwhile (the bid is active), on a second look just before acting")
			continue
		case b.State != chain.BidOpen:
			out[i].Err = actuator.Skip("the chain says %s, on a second look just before acting: its deposit is back already", b.State)
			continue
		}
		out[i].Fields["deposit"] = DepositText(b.Deposit)
		ids, bids, index = append(ids, b.ID), append(bids, b), append(index, i)
	}
	if len(ids) == 0 {
		return out
	}
	results := e.Closer.CloseBids(ctx, ids, e.Reason)
	byID := map[chain.BidID]Result{}
	for _, r := range results {
		byID[chain.BidIDOf(r.Lease)] = r
	}
	for j, i := range index {
		r, ok := byID[ids[j]]
		if !ok {
			out[i].Err = fmt.Errorf("the %s closer gave %d results for %d bids and none for this one: it is not known to be done", e.Closer.Backend(), len(results), len(ids))
			continue
		}
		out[i].Err = r.Err
		if r.TxHash != "" {
			out[i].Fields["tx_hash"] = r.TxHash
		}
		if r.Err == nil && e.Recovered != nil {
			for _, c := range bids[j].Deposit {
				e.Recovered(c)
			}
		}
	}
	return out
}

// DepositText writes a deposit for people: "500000uakt", decimals
// trimmed when whole.
func DepositText(coins []chain.Coin) string {
	if len(coins) == 0 {
		return "nothing"
	}
	parts := make([]string, len(coins))
	for i, c := range coins {
		amount := strings.TrimRight(strings.TrimRight(c.Amount, "0"), ".")
		if !strings.Contains(c.Amount, ".") {
			amount = c.Amount
		}
		if amount == "" {
			amount = "0"
		}
		parts[i] = amount + c.Denom
	}
	return strings.Join(parts, "+")
}
