package chaintest

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net/http"
	"slices"
	"strconv"

	sdkmath "cosmossdk.io/math"
	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// Orders and bids, as the node keeps them (node x/market/keeper,
// x/market/handler/server.go; chain-sdk akash/market/v1beta5 bid.proto,
// order.proto). A bid is placed on an open order with a deposit, which
// its own escrow account (scope bid) holds. It leaves the open state one
// of three ways, and each gives the deposit back to the provider (node
// x/escrow/keeper/keeper.go AccountClose): the tenant leases it
// (CreateLease: it goes active, and every other open bid on the order is
// lost), the tenant's group closes (OnGroupClosed: open bids closed), or
// the provider closes it (MsgCloseBid on an open bid: closed, whatever the
// order's state). The chain never expires an open bid by itself.

// Bid and order states as the market module numbers them
// (akash.market.v1beta5 Bid.State, Order.State).
var bidStateNumbers = map[string]byte{chain.BidOpen: 1, chain.BidActive: 2, chain.BidLost: 3, chain.BidClosed: 4}

const (
	orderOpen   = "open"
	orderActive = "active"
	orderClosed = "closed"
)

type orderKey struct {
	owner      string
	dseq       uint64
	gseq, oseq uint32
}

// simOrder is an order's state and the height it was made at.
type simOrder struct {
	state     string
	createdAt int64
}

// PlaceOrder opens an order at the current height, as a tenant's
// deployment does (one per group); an order the chain has is left as it
// is.
func (c *Chain) PlaceOrder(owner string, dseq uint64, gseq, oseq uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.placeOrder(orderKey{owner, dseq, gseq, oseq})
}

func (c *Chain) placeOrder(k orderKey) {
	if _, ok := c.orders[k]; !ok {
		c.orders[k] = &simOrder{state: orderOpen, createdAt: c.Height}
	}
}

// orderState is the order's state, "" when the chain has none. Called
// with c.mu held.
func (c *Chain) orderState(k orderKey) string {
	if o := c.orders[k]; o != nil {
		return o.state
	}
	return ""
}

func orderOf(id chain.BidID) orderKey { return orderKey{id.Owner, id.DSeq, id.GSeq, id.OSeq} }

// simBid is a bid and its escrow account.
type simBid struct {
	bid chain.Bid
	// deposit is what was deposited; funds what the account holds now
	// (nothing once closed); settledAt the height it was last settled
	// (placed, or closed).
	deposit   sdk.DecCoin
	funds     sdkmath.LegacyDec
	escrow    string
	settledAt int64
	// reclamationWindow is the window the provider offered (node 2.1 on).
	reclamationWindow string
}

// PlaceBid places the provider's bid on the order (made open if the chain
// does not have it) at the current height, with deposit held in the bid's
// escrow account (the provider's --bid-deposit: 500000uakt by default).
func (c *Chain) PlaceBid(id chain.BidID, price, deposit sdk.DecCoin) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.placeOrder(orderOf(id))
	c.bids[id] = &simBid{bid: chain.Bid{ID: id, State: chain.BidOpen, Price: chain.Coin{Denom: price.Denom, Amount: price.Amount.String()}, CreatedAt: c.Height},
		deposit: deposit, funds: deposit.Amount, escrow: escrowOpen, settledAt: c.Height}
}

// Bid returns a bid as the chain has it, its deposit as its escrow
// account holds it now.
func (c *Chain) Bid(id chain.BidID) (chain.Bid, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.bids[id]
	if !ok {
		return chain.Bid{}, false
	}
	return b.view(), true
}

func (b *simBid) view() chain.Bid {
	out := b.bid
	out.Escrow = b.escrow
	out.Deposit = []chain.Coin{{Denom: b.deposit.Denom, Amount: b.funds.String()}}
	return out
}

// Refunded is what closed bid escrow accounts have given back to the
// provider so far.
func (c *Chain) Refunded(provider string) sdk.DecCoins {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refunds[provider]
}

// closeBidEscrow closes the bid's escrow account and gives its funds back
// to the provider (node x/market/keeper/keeper.go OnBidClosed,
// x/escrow/keeper/keeper.go AccountClose). Called with c.mu held.
func (c *Chain) closeBidEscrow(b *simBid) {
	if b.escrow != escrowOpen {
		return
	}
	c.refunds[b.bid.ID.Provider] = c.refunds[b.bid.ID.Provider].Add(sdk.NewDecCoinFromDec(b.deposit.Denom, b.funds))
	b.funds, b.escrow, b.settledAt = sdkmath.LegacyZeroDec(), escrowClosed, c.Height
}

// LeaseBid is the tenant's MsgCreateLease on the bid (node
// x/market/handler/server.go CreateLease): the order and the bid go
// active, a lease is made, and every other open bid on the order is lost,
// its deposit given back.
func (c *Chain) LeaseBid(id chain.BidID) error {
	c.mu.Lock()
	b, ok := c.bids[id]
	switch {
	case !ok:
		c.mu.Unlock()
		return fmt.Errorf("bid %s: not found", id)
	case b.bid.State != chain.BidOpen:
		c.mu.Unlock()
		return fmt.Errorf("bid %s: bid not open", id)
	case c.orderState(orderOf(id)) != orderOpen:
		c.mu.Unlock()
		return fmt.Errorf("bid %s: bid: order not open", id)
	}
	c.orders[orderOf(id)].state = orderActive
	b.bid.State = chain.BidActive
	for _, other := range c.bids {
		if other != b && orderOf(other.bid.ID) == orderOf(id) && other.bid.State == chain.BidOpen {
			other.bid.State = chain.BidLost
			c.closeBidEscrow(other)
		}
	}
	l := chain.Lease{ID: id.LeaseID(), BSeq: id.BSeq, State: chain.StateActive, CreatedAt: c.Height, Price: b.bid.Price}
	c.mu.Unlock()
	c.Put(l)
	return nil
}

// CloseOrder closes the order as the tenant's group closing does (node
// x/market/keeper/keeper.go OnGroupClosed): its open bids are closed and
// their deposits given back.
func (c *Chain) CloseOrder(owner string, dseq uint64, gseq, oseq uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := orderKey{owner, dseq, gseq, oseq}
	if _, ok := c.orders[k]; !ok {
		return
	}
	c.orders[k].state = orderClosed
	for _, b := range c.bids {
		if orderOf(b.bid.ID) == k && b.bid.State == chain.BidOpen {
			b.bid.State = chain.BidClosed
			c.closeBidEscrow(b)
		}
	}
}

// closeOpenBid is MsgCloseBid on an open bid, in the block (node
// x/market/handler/server.go CloseBid: the order must exist, its state
// does not matter; OnBidClosed). Called with c.mu held.
func (c *Chain) closeOpenBid(b *simBid) {
	b.bid.State = chain.BidClosed
	c.closeBidEscrow(b)
}

// bidsByPK is the bids as list entries (their keys and states), in
// primary-key order (a bid's key is laid out as its lease's: node
// x/market/keeper/keys/bid.go). Called with c.mu held.
func (c *Chain) bidsByPK() []*chain.Lease {
	out := make([]*chain.Lease, 0, len(c.bids))
	for _, b := range c.bids {
		out = append(out, &chain.Lease{ID: b.bid.ID.LeaseID(), BSeq: b.bid.ID.BSeq, State: b.bid.State})
	}
	slices.SortFunc(out, comparePK)
	return out
}

// listBids answers /akash/market/v1beta5/bids/list as the node does (node
// x/market/keeper/grpc_query.go Bids): by owner over the primary key, by
// provider over its index (bidsProviderPath: every state walked, those
// asked for kept), else by state; "invalid state value" for a state not
// among open, active, lost and closed.
func (c *Chain) listBids(w http.ResponseWriter, r *http.Request) {
	lq, ok := c.parseList(w, r.URL.Query(), bidStateNumbers, []byte{1, 2, 3, 4})
	if !ok {
		return
	}
	c.listPage(w, lq, "bids", c.bidsByPK, func(e *chain.Lease) any {
		return c.bidResponse(c.bids[chain.BidIDOf(*e)])
	})
}

// bidInfo answers /akash/market/v1beta5/bids/info (node
// x/market/keeper/grpc_query.go Bid): the addresses checked, owner first;
// 404 for a bid the chain does not have (market code 18, bid not found).
func (c *Chain) bidInfo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var id chain.BidID
	for _, p := range []struct {
		name string
		bits int
		to   func(uint64)
	}{
		{"id.dseq", 64, func(v uint64) { id.DSeq = v }},
		{"id.gseq", 32, func(v uint64) { id.GSeq = uint32(v) }},
		{"id.oseq", 32, func(v uint64) { id.OSeq = uint32(v) }},
		{"id.bseq", 32, func(v uint64) { id.BSeq = uint32(v) }},
	} {
		if s := q.Get(p.name); s != "" {
			v, err := strconv.ParseUint(s, 10, p.bits)
			if err != nil {
				badRequest(w, err.Error())
				return
			}
			p.to(v)
		}
	}
	id.Owner, id.Provider = q.Get("id.owner"), q.Get("id.provider")
	if _, err := sdk.GetFromBech32(id.Owner, chaintx.AddressPrefix); err != nil {
		badRequest(w, "invalid owner address")
		return
	}
	if _, err := sdk.GetFromBech32(id.Provider, chaintx.AddressPrefix); err != nil {
		badRequest(w, "invalid provider address")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.bids[id]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 5, "message": "codespace market code 18: invalid bid: bid not found", "details": []any{}})
		return
	}
	writeJSON(w, http.StatusOK, c.bidResponse(b))
}

// bidResponse is a QueryBidResponse in the node's JSON: the bid and its
// escrow account (chain-sdk market/v1beta5 query.proto; escrow/types/v1
// account.proto: the account's xid is the bid's ID without its bseq,
// market/v1 escrow.go ToEscrowAccountID). A 2.1 node writes the bid's
// reclamation_window, null when none was offered; 2.0.1's Bid has no such
// field. Called with c.mu held.
func (c *Chain) bidResponse(b *simBid) map[string]any {
	id := b.bid.ID
	bid := map[string]any{
		"id": map[string]any{"owner": id.Owner, "dseq": strconv.FormatUint(id.DSeq, 10), "gseq": id.GSeq, "oseq": id.OSeq,
			"provider": id.Provider, "bseq": id.BSeq},
		"state":           b.bid.State,
		"price":           map[string]any{"denom": b.bid.Price.Denom, "amount": b.bid.Price.Amount},
		"created_at":      strconv.FormatInt(b.bid.CreatedAt, 10),
		"resources_offer": []any{},
	}
	if c.knowsReclamation() {
		bid["reclamation_window"] = nil
		if b.reclamationWindow != "" {
			bid["reclamation_window"] = b.reclamationWindow
		}
	}
	deposits := []any{}
	if b.escrow == escrowOpen {
		deposits = append(deposits, map[string]any{"owner": id.Provider, "height": strconv.FormatInt(b.bid.CreatedAt, 10), "source": "balance",
			"balance": map[string]any{"denom": b.deposit.Denom, "amount": b.funds.String()}})
	}
	return map[string]any{
		"bid": bid,
		"escrow_account": map[string]any{
			"id": map[string]any{"scope": "bid", "xid": fmt.Sprintf("%s/%d/%d/%d/%s", id.Owner, id.DSeq, id.GSeq, id.OSeq, id.Provider)},
			"state": map[string]any{"owner": id.Provider, "state": b.escrow, "transferred": []any{},
				"settled_at": strconv.FormatInt(b.settledAt, 10),
				"funds":      []any{map[string]any{"denom": b.deposit.Denom, "amount": b.funds.String()}},
				"deposits":   deposits},
		},
	}
}

// leaseOfBid is the lease of a bid, when it has one.
func leaseOfBid(c *Chain, id chain.BidID) (*chain.Lease, bool) {
	l, ok := c.leases[id.LeaseID()]
	if ok && l.BSeq != id.BSeq {
		return nil, false
	}
	return l, ok
}

// Order states as the market module numbers them (akash.market.v1beta5
// Order.State).
var orderStateNumbers = map[string]byte{orderOpen: 1, orderActive: 2, orderClosed: 3}

// listOrders answers /akash/market/v1beta5/orders/list as the node's state
// path does (node x/market/keeper/grpc_query.go Orders, ordersStatePath):
// state by state over the state index, each in primary-key order, a page
// of at most limit orders and a next key (the states left, the state, the
// order's key, and no walk byte); "invalid state value" for a state not
// among open, active and closed. The owner path (filters.owner) is not
// modelled: answered 501.
func (c *Chain) listOrders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("filters.owner") != "" {
		writeJSON(w, http.StatusNotImplemented, map[string]any{"code": 12, "message": "chaintest: the owner path of orders/list is not modelled", "details": []any{}})
		return
	}
	limit := uint64(defaultLimit)
	if s := q.Get("pagination.limit"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			badRequest(w, err.Error())
			return
		}
		if v > 0 {
			limit = v
		}
	}
	states := []byte{1, 2, 3}
	var resume *chain.Lease
	if key := q.Get("pagination.key"); key != "" {
		raw, err := base64Bytes(key)
		if err != nil {
			badRequest(w, err.Error())
			return
		}
		st, pk, _, err := decodePageKey(raw)
		if err != nil {
			badRequest(w, err.Error())
			return
		}
		// An order's key is a bid's without the provider and bseq.
		if resume, err = decodeLeaseKey(append(slices.Clone(pk), 0, 0, 0, 0, 0)); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]any{"code": 13, "message": err.Error(), "details": []any{}})
			return
		}
		states = st
	} else if s := q.Get("filters.state"); s != "" {
		n, ok := orderStateNumbers[s]
		if !ok {
			badRequest(w, "invalid state value")
			return
		}
		states = []byte{n}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]orderKey, 0, len(c.orders))
	for k := range c.orders {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b orderKey) int {
		return cmp.Or(cmp.Compare(a.owner, b.owner), cmp.Compare(a.dseq, b.dseq), cmp.Compare(a.gseq, b.gseq), cmp.Compare(a.oseq, b.oseq))
	})
	page := []any{}
	var next any
walk:
	for i, s := range states {
		for _, k := range keys {
			o := c.orders[k]
			if orderStateNumbers[o.state] != s {
				continue
			}
			if i == 0 && resume != nil && cmp.Or(cmp.Compare(k.owner, resume.ID.Owner), cmp.Compare(k.dseq, resume.ID.DSeq),
				cmp.Compare(k.gseq, resume.ID.GSeq), cmp.Compare(k.oseq, resume.ID.OSeq)) < 0 {
				continue
			}
			if uint64(len(page)) == limit {
				next = encodeOrderPageKey(states[i:], s, orderKeyBytes(k))
				break walk
			}
			page = append(page, c.orderResponse(k, o))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"orders": page,
		"pagination": map[string]any{"next_key": next, "total": strconv.Itoa(len(page))}})
}

// orderKeyBytes is an order's primary key in the store's encoding (node
// x/market/keeper/keys/order.go: owner, dseq, gseq, oseq).
func orderKeyBytes(k orderKey) []byte {
	b := append([]byte(k.owner), 0)
	b = binary.BigEndian.AppendUint64(b, k.dseq)
	b = binary.BigEndian.AppendUint32(b, k.gseq)
	return binary.BigEndian.AppendUint32(b, k.oseq)
}

// encodeOrderPageKey is the state path's next key: as encodePageKey, with
// no walk byte (node ordersStatePath: EncodePaginationKey(states[idx:],
// [state], pk, nil)).
func encodeOrderPageKey(states []byte, prefix byte, pk []byte) string {
	data := []byte{byte(len(states))}
	data = append(data, states...)
	data = append(data, 1, prefix, byte(len(pk)))
	data = append(data, pk...)
	return base64.StdEncoding.EncodeToString(append(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(data)), data...))
}

// orderResponse is an Order in the node's JSON (chain-sdk
// market/v1beta5 order.proto; the group spec as deployment/v1beta4
// groupspec.proto writes an empty one). A 2.1 node writes its
// reclamation, null here. Called with c.mu held.
func (c *Chain) orderResponse(k orderKey, o *simOrder) map[string]any {
	out := map[string]any{
		"id":    map[string]any{"owner": k.owner, "dseq": strconv.FormatUint(k.dseq, 10), "gseq": k.gseq, "oseq": k.oseq},
		"state": o.state,
		"spec": map[string]any{"name": "dcloud", "requirements": map[string]any{"signed_by": map[string]any{"all_of": []any{}, "any_of": []any{}}, "attributes": []any{}},
			"resources": []any{}},
		"created_at": strconv.FormatInt(o.createdAt, 10),
	}
	if c.knowsReclamation() {
		out["reclamation"] = nil
	}
	return out
}
