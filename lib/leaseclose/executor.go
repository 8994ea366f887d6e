package leaseclose

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/actuator"
	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/closebudget"
	"github.com/akash-janitor/akash-janitor/lib/completion"
)

// The verbs of lease actions, in the audit line's action field.
const (
	VerbClose        = "close-lease"
	VerbStartReclaim = "start-reclaim"
)

// Executor carries out the lease actions of a plan, for every job that
// closes leases: each action's payload is the chain.Lease the plan decided
// on. Just before signing it reads each lease again by ID (bseq included):
// one gone, closed, or no longer in the state the action needs is skipped
// with the reason. The rest go to the Closer in one call, and each action
// gets the result the Closer gave for its lease; an action whose lease the
// Closer does not answer has failed, never succeeded.
type Executor struct {
	Closer Closer
	Chain  *chain.Client
	// Reason is the close reason (akash.market.v1 LeaseClosedReason).
	Reason int32
	// Now is the clock a reclamation deadline is judged by (time.Now if nil).
	Now func() time.Time
	// Budget, if set, is the daily close budget: each close is spent from
	// it just before signing; a close past it is skipped with the reason,
	// and a record that cannot be used fails every close of the batch.
	Budget *closebudget.Budget
	// Completion, if set, holds the closes that would bring the provider's
	// lease completion rate below its minimum (AEP-86, draft): asked after
	// the second look, before the budget.
	Completion *completion.Guard
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Batch is an actuator.BatchExecutor for close-lease and start-reclaim
// actions (one verb a batch).
func (e *Executor) Batch(ctx context.Context, batch []actuator.Action) []actuator.BatchResult {
	out := make([]actuator.BatchResult, len(batch))
	var leases []chain.Lease
	var index []int // of each lease's action
	for i, a := range batch {
		out[i].Fields = map[string]string{"backend": e.Closer.Backend()}
		planned, err := actuator.PayloadOf[chain.Lease](a)
		if err != nil {
			out[i].Err = err
			continue
		}
		if a.Verb != batch[0].Verb {
			out[i].Err = fmt.Errorf("a batch of %s actions holds a %s: nothing sent for it", batch[0].Verb, a.Verb)
			continue
		}
		l, err := e.Chain.LeaseBid(ctx, planned.ID, planned.BSeq)
		switch {
		case errors.Is(err, chain.ErrNotFound):
			out[i].Err = actuator.Skip("gone from the chain on a second look, just before acting")
			continue
		case err != nil:
			out[i].Err = fmt.Errorf("confirm the lease on chain just before acting (nothing sent): %w", err)
			continue
		}
		if why := e.notDue(a.Verb, l); why != "" {
			out[i].Err = actuator.Skip("%s, on a second look just before acting", why)
			continue
		}
		leases, index = append(leases, l), append(index, i)
	}
	if len(leases) == 0 {
		return out
	}
	var results []Result
	switch batch[0].Verb {
	case VerbClose:
		if leases, index = e.complete(ctx, leases, index, out); len(leases) == 0 {
			return out
		}
		granted := len(leases)
		leases, index = e.spend(ctx, leases, index, out)
		e.uncomplete(granted - len(leases)) // held by the budget: not made
		if len(leases) == 0 {
			return out
		}
		results = e.Closer.Close(ctx, leases, e.Reason)
		defer e.refund(ctx, leases, results)
	case VerbStartReclaim:
		results = e.Closer.StartReclaim(ctx, leases, e.Reason)
	default:
		for _, i := range index {
			out[i].Err = fmt.Errorf("no lease executor for %s", batch[0].Verb)
		}
		return out
	}
	byID := map[akash.LeaseID]Result{}
	for _, r := range results {
		if _, dup := byID[r.Lease.ID]; !dup {
			byID[r.Lease.ID] = r
		}
	}
	for j, i := range index {
		r, ok := byID[leases[j].ID]
		if !ok {
			out[i].Err = fmt.Errorf("the %s closer gave %d results for %d leases and none for this one: it is not known to be done", e.Closer.Backend(), len(results), len(leases))
			continue
		}
		out[i].Err = r.Err
		if r.TxHash != "" {
			out[i].Fields["tx_hash"] = r.TxHash
		}
	}
	return out
}

// notDue says why the lease as the chain has it now is not one the verb
// can act on, or "": the closers' own checks (closeBlocked, startBlocked),
// and for a close a lease neither active nor reclaiming.
func (e *Executor) notDue(verb string, l chain.Lease) string {
	if verb == VerbStartReclaim {
		if err := startBlocked(l); err != nil {
			return err.Error()
		}
		return ""
	}
	if err := closeBlocked(l, e.now()); err != nil {
		return err.Error()
	}
	if l.State != chain.StateActive && l.State != chain.StateReclaiming {
		return "the chain says " + l.State
	}
	return ""
}

// spend takes a close from the budget for each lease, in order: the leases
// past it are skipped with the reason, and all of them fail when the
// record cannot be used. It returns the leases granted and their indices.
func (e *Executor) spend(ctx context.Context, leases []chain.Lease, index []int, out []actuator.BatchResult) ([]chain.Lease, []int) {
	if e.Budget == nil {
		return leases, index
	}
	ids := make([]string, len(leases))
	for j, l := range leases {
		ids[j] = l.ID.String()
	}
	g, err := e.Budget.Spend(ctx, ids)
	if err != nil {
		for _, i := range index {
			out[i].Err = err
		}
		return nil, nil
	}
	n := len(g.Granted)
	for _, i := range index[n:] {
		out[i].Err = actuator.Skip("%s", e.Budget.Held(g))
	}
	return leases[:n], index[:n]
}

// complete asks the completion guard for the closes, in order: those past
// what it grants are skipped with its reason, and all fail when the rate
// cannot be read.
func (e *Executor) complete(ctx context.Context, leases []chain.Lease, index []int, out []actuator.BatchResult) ([]chain.Lease, []int) {
	if e.Completion == nil {
		return leases, index
	}
	n, why, err := e.Completion.Grant(ctx, len(leases))
	if err != nil {
		for _, i := range index {
			out[i].Err = err
		}
		return nil, nil
	}
	for _, i := range index[n:] {
		out[i].Err = actuator.Skip("%s", why)
	}
	return leases[:n], index[:n]
}

// uncomplete gives the completion guard back n closes granted and not
// made.
func (e *Executor) uncomplete(n int) {
	if e.Completion != nil && n > 0 {
		e.Completion.Refund(n)
	}
}

// refund gives the budget and the completion guard back the closes that
// were not made.
func (e *Executor) refund(ctx context.Context, leases []chain.Lease, results []Result) {
	closedCount := 0
	for _, r := range results {
		if r.Err == nil {
			closedCount++
		}
	}
	e.uncomplete(len(leases) - closedCount)
	if e.Budget == nil {
		return
	}
	closed := map[akash.LeaseID]bool{}
	for _, r := range results {
		if r.Err == nil {
			closed[r.Lease.ID] = true
		}
	}
	var back []string
	for _, l := range leases {
		if !closed[l.ID] {
			back = append(back, l.ID.String())
		}
	}
	_ = e.Budget.Refund(context.WithoutCancel(ctx), back)
}
