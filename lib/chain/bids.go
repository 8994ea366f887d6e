package chain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	sdkmath "cosmossdk.io/math"
)

// Bid states as the node names them (chain-sdk akash/market/v1beta5
// bid.proto Bid.State). A provider's bid is open until the order is
// leased, to it (active) or to another provider (lost: node
// x/market/handler/server.go CreateLease closes the losing bids and their
// escrow accounts), or until it is closed: by the provider's MsgCloseBid,
// or by the chain when the tenant's group closes (node
// x/market/keeper/keeper.go OnGroupClosed).
const (
	BidOpen   = "open"
	BidActive = "active"
	BidLost   = "lost"
	BidClosed = "closed"
)

// Coin is an amount of a denom; Amount is a decimal (a DecCoin's
// "500000.000000000000000000").
type Coin struct{ Denom, Amount string }

// Bid is a provider's bid on an order, with the deposit its escrow
// account holds.
type Bid struct {
	ID    BidID
	State string
	Price Coin
	// CreatedAt is the height the bid was placed at.
	CreatedAt int64
	// Escrow is the state of the bid's escrow account (open, closed);
	// Deposit what it holds, per denom: what MsgCloseBid on the open bid
	// gives back to the provider (node x/market/keeper/keeper.go
	// OnBidClosed closes the account, x/escrow/keeper/keeper.go
	// AccountClose returns its funds to the depositors).
	Escrow  string
	Deposit []Coin
}

// Order is the bid's order.
func (b Bid) Order() string {
	return fmt.Sprintf("%s/%d/%d/%d", b.ID.Owner, b.ID.DSeq, b.ID.GSeq, b.ID.OSeq)
}

func (b BidID) String() string {
	return fmt.Sprintf("%s/%d/%d/%d/%s/%d", b.Owner, b.DSeq, b.GSeq, b.OSeq, b.Provider, b.BSeq)
}

// wire forms (grpc-gateway JSON) of a QueryBidResponse: the bid and its
// escrow account (chain-sdk market/v1beta5 query.proto, bid.proto;
// escrow/types/v1 account.proto, balance.proto, deposit.proto).
type wireBid struct {
	ID        *wireLeaseID `json:"id"`
	State     *string      `json:"state"`
	Price     wireCoin     `json:"price"`
	CreatedAt json.Number  `json:"created_at"`
}

type wireCoin struct {
	Denom  string `json:"denom"`
	Amount string `json:"amount"`
}

type wireEscrowAccount struct {
	ID *struct {
		Scope string `json:"scope"`
		XID   string `json:"xid"`
	} `json:"id"`
	State *struct {
		Owner string     `json:"owner"`
		State string     `json:"state"`
		Funds []wireCoin `json:"funds"`
	} `json:"state"`
}

type wireBidResponse struct {
	Bid    *wireBid           `json:"bid"`
	Escrow *wireEscrowAccount `json:"escrow_account"`
}

type wireBidsResponse struct {
	Bids       *[]wireBidResponse `json:"bids"`
	Pagination *wirePagination    `json:"pagination"`
}

func (w *wireBidResponse) bid() (Bid, error) {
	if w.Bid == nil || w.Bid.ID == nil || w.Bid.State == nil {
		return Bid{}, errors.New("bid without id or state")
	}
	lid, bseq, err := w.Bid.ID.parse()
	if err != nil {
		return Bid{}, err
	}
	b := Bid{ID: BidIDOf(Lease{ID: lid, BSeq: bseq}), State: *w.Bid.State, Price: Coin(w.Bid.Price)}
	switch b.State {
	case BidOpen, BidActive, BidLost, BidClosed:
	default:
		return Bid{}, fmt.Errorf("bid %s: unknown state %q", b.ID, b.State)
	}
	created, err := parseUint("created_at", w.Bid.CreatedAt, 63)
	if err != nil {
		return Bid{}, fmt.Errorf("bid %s: %w", b.ID, err)
	}
	b.CreatedAt = int64(created)
	if w.Escrow == nil || w.Escrow.State == nil {
		return Bid{}, fmt.Errorf("bid %s: the answer has no escrow account", b.ID)
	}
	if id := w.Escrow.ID; id == nil || id.Scope != "bid" {
		return Bid{}, fmt.Errorf("bid %s: its escrow account is not a bid's", b.ID)
	}
	b.Escrow = w.Escrow.State.State
	for _, f := range w.Escrow.State.Funds {
		if _, err := sdkmath.LegacyNewDecFromStr(f.Amount); err != nil || f.Denom == "" {
			return Bid{}, fmt.Errorf("bid %s: escrow funds %q%s: not a decimal amount of a denom", b.ID, f.Amount, f.Denom)
		}
		b.Deposit = append(b.Deposit, Coin(f))
	}
	return b, nil
}

// Bids returns every bid of the provider in the state ("" for all),
// through every page. The node walks the provider's bids of every state
// in its provider index and keeps those in the state (node
// x/market/keeper/grpc_query.go Bids, bidsProviderPath), so a listing of
// open bids reads past the provider's closed and lost ones.
func (c *Client) Bids(ctx context.Context, provider, state string) ([]Bid, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateAddress(provider); err != nil {
		return nil, fmt.Errorf("list the bids of %q: %w", provider, err)
	}
	if c.version() != "v1beta5" {
		return nil, fmt.Errorf("list the bids of %s: bids are read with the v1beta5 market API only", provider)
	}
	limit := c.PageLimit
	if limit <= 0 {
		limit = 1000
	}
	q := url.Values{"filters.provider": {provider}, "pagination.limit": {strconv.Itoa(limit)}}
	if state != "" {
		q.Set("filters.state", state)
	}
	var out []Bid
	err := listPages(ctx, c, "/akash/market/v1beta5/bids/list", q, limit, "the bids of "+provider, func(page int, resp *wireBidsResponse) (*wirePagination, error) {
		if resp.Bids == nil {
			return nil, fmt.Errorf("list the bids of %s (page %d): the answer has no \"bids\" field", provider, page+1)
		}
		for i, w := range *resp.Bids {
			b, err := w.bid()
			if err != nil {
				return nil, fmt.Errorf("list the bids of %s (page %d): bids[%d]: %w", provider, page+1, i, err)
			}
			if state != "" && b.State != state {
				return nil, fmt.Errorf("asked for %s bids, the node answered bid %s %s: the answer cannot be trusted", state, b.ID, b.State)
			}
			if b.ID.Provider != provider {
				return nil, fmt.Errorf("asked for the bids of %s, the node answered bid %s: the answer cannot be trusted", provider, b.ID)
			}
			out = append(out, b)
		}
		return resp.Pagination, nil
	})
	return out, err
}

// Bid returns one bid by ID; ErrNotFound if the chain has none.
func (c *Client) Bid(ctx context.Context, id BidID) (Bid, error) {
	if err := c.Validate(); err != nil {
		return Bid{}, err
	}
	if err := errors.Join(ValidateAddress(id.Owner), ValidateAddress(id.Provider)); err != nil {
		return Bid{}, fmt.Errorf("read bid %s: %w", id, err)
	}
	q := url.Values{"id.owner": {id.Owner}, "id.dseq": {strconv.FormatUint(id.DSeq, 10)},
		"id.gseq": {strconv.FormatUint(uint64(id.GSeq), 10)}, "id.oseq": {strconv.FormatUint(uint64(id.OSeq), 10)},
		"id.provider": {id.Provider}, "id.bseq": {strconv.FormatUint(uint64(id.BSeq), 10)}}
	var resp wireBidResponse
	if err := c.get(ctx, "/akash/market/v1beta5/bids/info", q, &resp); err != nil {
		return Bid{}, fmt.Errorf("read bid %s: %w", id, c.explain(err))
	}
	b, err := resp.bid()
	if err != nil {
		return Bid{}, fmt.Errorf("read bid %s: %w", id, err)
	}
	if b.ID != id {
		return Bid{}, fmt.Errorf("read bid %s: the node answered with bid %s", id, b.ID)
	}
	return b, nil
}

// Order states as the node names them (chain-sdk akash/market/v1beta5
// order.proto Order.State): open until leased (active), closed with its
// group.
const (
	OrderOpen   = "open"
	OrderActive = "active"
	OrderClosed = "closed"
)

// Order is an order on chain: a tenant's group asking for bids.
type Order struct {
	Owner      string
	DSeq       uint64
	GSeq, OSeq uint32
	State      string
	// CreatedAt is the height the order was made at.
	CreatedAt int64
}

type wireOrder struct {
	ID *struct {
		Owner string      `json:"owner"`
		DSeq  json.Number `json:"dseq"`
		GSeq  json.Number `json:"gseq"`
		OSeq  json.Number `json:"oseq"`
	} `json:"id"`
	State     *string     `json:"state"`
	CreatedAt json.Number `json:"created_at"`
}

type wireOrdersResponse struct {
	Orders     *[]wireOrder    `json:"orders"`
	Pagination *wirePagination `json:"pagination"`
}

func (w *wireOrder) order() (Order, error) {
	if w.ID == nil || w.State == nil {
		return Order{}, errors.New("order without id or state")
	}
	dseq, err1 := parseUint("dseq", w.ID.DSeq, 64)
	gseq, err2 := parseUint("gseq", w.ID.GSeq, 32)
	oseq, err3 := parseUint("oseq", w.ID.OSeq, 32)
	created, err4 := parseUint("created_at", w.CreatedAt, 63)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return Order{}, fmt.Errorf("order %s/%s: %w", w.ID.Owner, w.ID.DSeq, err)
	}
	o := Order{Owner: w.ID.Owner, DSeq: dseq, GSeq: uint32(gseq), OSeq: uint32(oseq), State: *w.State, CreatedAt: int64(created)}
	switch o.State {
	case OrderOpen, OrderActive, OrderClosed:
	default:
		return Order{}, fmt.Errorf("order %s/%d: unknown state %q", o.Owner, o.DSeq, o.State)
	}
	return o, nil
}

// Orders returns every order on chain in the state, through every page
// (node x/market/keeper/grpc_query.go Orders: the state index, walked
// state by state).
func (c *Client) Orders(ctx context.Context, state string) ([]Order, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.version() != "v1beta5" {
		return nil, errors.New("list the orders: orders are read with the v1beta5 market API only")
	}
	limit := c.PageLimit
	if limit <= 0 {
		limit = 1000
	}
	q := url.Values{"pagination.limit": {strconv.Itoa(limit)}}
	if state != "" {
		q.Set("filters.state", state)
	}
	var out []Order
	err := listPages(ctx, c, "/akash/market/v1beta5/orders/list", q, limit, "the "+state+" orders", func(page int, resp *wireOrdersResponse) (*wirePagination, error) {
		if resp.Orders == nil {
			return nil, fmt.Errorf("list the %s orders (page %d): the answer has no \"orders\" field", state, page+1)
		}
		for i, w := range *resp.Orders {
			o, err := w.order()
			if err != nil {
				return nil, fmt.Errorf("list the %s orders (page %d): orders[%d]: %w", state, page+1, i, err)
			}
			if state != "" && o.State != state {
				return nil, fmt.Errorf("asked for %s orders, the node answered order %s/%d %s: the answer cannot be trusted", state, o.Owner, o.DSeq, o.State)
			}
			out = append(out, o)
		}
		return resp.Pagination, nil
	})
	return out, err
}
