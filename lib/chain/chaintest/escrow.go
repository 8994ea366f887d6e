package chaintest

import (
	"cmp"
	"fmt"
	"slices"

	sdkmath "cosmossdk.io/math"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
)

// The escrow a deployment pays its leases from, as the node keeps it
// (node x/escrow/keeper/keeper.go; chain-sdk akash/escrow/types/v1
// account.proto, payment.proto, state.proto). A deployment is funded with
// Fund; its leases are paid at their price per block, lazily: nothing
// moves until a settlement, which only a transaction makes (the node's
// escrow EndBlocker does nothing, x/escrow/keeper/abci.go). The
// settlements modelled are the provider's MsgWithdrawLease
// (WithdrawLease), a close of one of its leases (MsgCloseBid) and a
// deposit to an overdrawn account (Deposit). A settlement that cannot pay
// every lease overdraws the account, and the market hooks end every live
// lease of the deployment as insufficient_funds (node
// x/market/hooks/hooks.go, x/market/keeper/keeper.go OnLeaseClosed).
// Leases of a deployment never funded are paid for ever, as before this
// model: nothing in them changes by itself.

// Escrow states (akash.escrow.types.v1.State).
const (
	escrowOpen      = "open"
	escrowClosed    = "closed"
	escrowOverdrawn = "overdrawn"
)

// deploymentKey names a deployment: its owner and dseq.
type deploymentKey struct {
	owner string
	dseq  uint64
}

// escrowAccount is a deployment's escrow account.
type escrowAccount struct {
	state string
	// funds may go below zero: what a settlement could not pay.
	funds       sdkmath.LegacyDec
	transferred sdkmath.LegacyDec
	settledAt   int64
}

// payment is a lease's escrow payment.
type payment struct {
	state              string
	balance, unsettled sdkmath.LegacyDec
	withdrawn          sdkmath.Int
}

func newPayment() *payment {
	return &payment{state: escrowOpen, balance: sdkmath.LegacyZeroDec(), unsettled: sdkmath.LegacyZeroDec(), withdrawn: sdkmath.ZeroInt()}
}

func keyOf(id akash.LeaseID) deploymentKey { return deploymentKey{id.Owner, id.DSeq} }

// Fund opens the escrow account of the deployment owner/dseq with amount
// (in the leases' denomination), settled at the current height: its
// leases are paid from it from now on, at their price per block.
func (c *Chain) Fund(owner string, dseq uint64, amount int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.escrow == nil {
		c.escrow = map[deploymentKey]*escrowAccount{}
		c.payments = map[akash.LeaseID]*payment{}
	}
	c.escrow[deploymentKey{owner, dseq}] = &escrowAccount{state: escrowOpen, funds: sdkmath.LegacyNewDec(amount),
		transferred: sdkmath.LegacyZeroDec(), settledAt: c.Height}
	for id, l := range c.leases {
		if keyOf(id) == (deploymentKey{owner, dseq}) && l.Live() {
			c.payments[id] = newPayment()
		}
	}
}

// Funds returns what the deployment's escrow account holds now, settled
// at the current height as a query would not (the node settles only in a
// transaction): what a tenant would see run out. ok is false for a
// deployment never funded.
func (c *Chain) Funds(owner string, dseq uint64) (left sdkmath.LegacyDec, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.escrow[deploymentKey{owner, dseq}]
	if a == nil {
		return sdkmath.LegacyDec{}, false
	}
	left = a.funds
	if a.state == escrowOpen {
		for id, p := range c.payments {
			if keyOf(id) == (deploymentKey{owner, dseq}) && p.state == escrowOpen {
				left = left.Sub(c.rate(id).MulInt64(c.Height - a.settledAt).TruncateDec())
			}
		}
	}
	return left, true
}

// WithdrawLease is what the provider's daemon sends when its balance
// checker finds a lease out of funds, and every withdrawal period
// (MsgWithdrawLease; node x/market/handler/server.go WithdrawLease ->
// x/escrow/keeper PaymentWithdraw): the deployment's account is settled
// at the current height and the lease's balance paid out to the
// provider. An account that cannot pay is overdrawn, and the hooks end
// its leases for insufficient funds; the withdrawal itself succeeds. A
// payment not open is refused (escrow code 7).
func (c *Chain) WithdrawLease(id akash.LeaseID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.leases[id]; !ok {
		return fmt.Errorf("market code 20: unknown lease")
	}
	p := c.payments[id]
	a := c.escrow[keyOf(id)]
	if p == nil || a == nil {
		return fmt.Errorf("lease %s: its deployment was never funded (Fund)", id)
	}
	if p.state != escrowOpen {
		return fmt.Errorf("escrow code 7: payment closed")
	}
	c.commitBlock() // the transaction's block
	if !c.settle(keyOf(id)) {
		withdraw(p)
	}
	return nil
}

// Deposit adds amount to the deployment's escrow account (MsgAccountDeposit;
// node x/escrow/keeper AccountDeposit). An open account just holds more.
// An overdrawn one pays what its payments could not, in order, as far as
// the deposit goes, and closes with its payments once all of it is paid.
// Its leases stay ended: nothing reopens a lease. A closed account takes
// no deposit.
func (c *Chain) Deposit(owner string, dseq uint64, amount int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := deploymentKey{owner, dseq}
	a := c.escrow[key]
	switch {
	case a == nil:
		return fmt.Errorf("deployment %s/%d: no escrow account", owner, dseq)
	case a.state == escrowClosed:
		return fmt.Errorf("escrow: account closed")
	}
	c.commitBlock()
	a.funds = a.funds.Add(sdkmath.LegacyNewDec(amount))
	if a.state != escrowOverdrawn {
		return nil
	}
	left := sdkmath.LegacyNewDec(amount)
	owed := false
	for _, id := range c.paymentsOf(key) {
		p := c.payments[id]
		if p.state != escrowOverdrawn {
			continue
		}
		paid := sdkmath.LegacyMinDec(left, p.unsettled)
		left = left.Sub(paid)
		p.unsettled = p.unsettled.Sub(paid)
		p.balance = p.balance.Add(paid)
		a.transferred = a.transferred.Add(paid)
		withdraw(p)
		owed = owed || p.unsettled.IsPositive()
	}
	if owed {
		return nil
	}
	a.state = escrowClosed
	for _, id := range c.paymentsOf(key) {
		if p := c.payments[id]; p.state == escrowOverdrawn {
			p.state = escrowClosed
		}
	}
	return nil
}

// paymentsOf are the payments of a deployment in the node's store order
// (by lease ID), so that which lease a short account pays first is the
// same every time. Called with c.mu held.
func (c *Chain) paymentsOf(key deploymentKey) []akash.LeaseID {
	var ids []akash.LeaseID
	for id := range c.payments {
		if keyOf(id) == key {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b akash.LeaseID) int {
		return cmp.Or(cmp.Compare(a.GSeq, b.GSeq), cmp.Compare(a.OSeq, b.OSeq), cmp.Compare(a.Provider, b.Provider))
	})
	return ids
}

// rate is what a lease pays per block: its price.
func (c *Chain) rate(id akash.LeaseID) sdkmath.LegacyDec {
	l := c.leases[id]
	r, err := sdkmath.LegacyNewDecFromStr(or(l.Price.Amount, "1"))
	if err != nil {
		return sdkmath.LegacyOneDec()
	}
	return r
}

// settle pays the account's open payments for the blocks since it was
// last settled (node x/escrow/keeper accountSettle: rate times blocks,
// truncated, taken from the funds; what the funds cannot pay is left
// unsettled and the funds go below zero). It reports whether the account
// is overdrawn: then every payment is overdrawn and paid out, and every
// live lease of the deployment ended for insufficient funds at this
// height. Called with c.mu held.
func (c *Chain) settle(key deploymentKey) (overdrawn bool) {
	a := c.escrow[key]
	if a == nil || a.state != escrowOpen {
		return a != nil && a.state == escrowOverdrawn
	}
	blocks := c.Height - a.settledAt
	a.settledAt = c.Height
	short := false
	for _, id := range c.paymentsOf(key) {
		p := c.payments[id]
		if p.state != escrowOpen {
			continue
		}
		due := c.rate(id).MulInt64(blocks).TruncateDec()
		paid := sdkmath.LegacyMinDec(due, sdkmath.LegacyMaxDec(a.funds, sdkmath.LegacyZeroDec()))
		p.balance = p.balance.Add(paid)
		a.transferred = a.transferred.Add(paid)
		if due.GT(paid) {
			p.unsettled = p.unsettled.Add(due.Sub(paid))
			short = true
		}
		a.funds = a.funds.Sub(due)
	}
	if !short {
		return false
	}
	a.state = escrowOverdrawn
	for _, id := range c.paymentsOf(key) {
		p := c.payments[id]
		if p.state != escrowOpen {
			continue
		}
		p.state = escrowOverdrawn
		withdraw(p)
		// node x/market/hooks/hooks.go OnEscrowAccountClosed: the
		// deployment's groups close as insufficient_funds, and with them
		// their orders, bids and leases (x/market/keeper/keeper.go
		// OnGroupClosed, OnLeaseClosed: state, closed_on, reason).
		if l := c.leases[id]; l.Live() {
			l.State, l.ClosedOn, l.Reason = chain.StateInsufficientFunds, c.Height, chain.ReasonInsufficientFunds
		}
	}
	return true
}

// withdraw pays a payment's balance out to the provider, in whole units
// (node x/escrow/keeper paymentWithdraw).
func withdraw(p *payment) {
	out := p.balance.TruncateInt()
	p.withdrawn = p.withdrawn.Add(out)
	p.balance = p.balance.Sub(sdkmath.LegacyNewDecFromInt(out))
}

// closePayment settles the deployment when one of its leases is closed by
// a transaction (node x/market/handler/server.go CloseBid: the lease is
// closed first, then x/escrow/keeper PaymentClose settles): an account
// that cannot pay ends its other leases for insufficient funds; the
// closed lease stays closed. Called with c.mu held.
func (c *Chain) closePayment(id akash.LeaseID) {
	p := c.payments[id]
	if p == nil || p.state != escrowOpen {
		return
	}
	if c.settle(keyOf(id)) {
		return
	}
	withdraw(p)
	p.state = escrowClosed
}

// paymentView is a lease's escrow payment as leases/info answers it.
type paymentView struct {
	state                         string
	balance, unsettled, withdrawn string
}

// paymentOf is the lease's payment as the node stores it (a query settles
// nothing: x/market/keeper/grpc_query.go). A lease of a deployment never
// funded has a payment open while it is live, closed once it ended, with
// nothing in it. Called with c.mu held.
func (c *Chain) paymentOf(l *chain.Lease) paymentView {
	if p := c.payments[l.ID]; p != nil {
		return paymentView{state: p.state, balance: p.balance.String(), unsettled: p.unsettled.String(), withdrawn: p.withdrawn.String()}
	}
	state := escrowOpen
	switch l.State {
	case chain.StateClosed:
		state = escrowClosed
	case chain.StateInsufficientFunds:
		state = escrowOverdrawn
	}
	zero := sdkmath.LegacyZeroDec().String()
	return paymentView{state: state, balance: zero, unsettled: zero, withdrawn: "0"}
}
