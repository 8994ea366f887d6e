package chain

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Account is an account's number and next sequence.
type Account struct {
	Address  string
	Number   uint64
	Sequence uint64
}

// Account reads an account (cosmos auth BaseAccount).
func (c *Client) Account(ctx context.Context, address string) (Account, error) {
	if err := c.Validate(); err != nil {
		return Account{}, err
	}
	var resp struct {
		Account *struct {
			Type     string      `json:"@type"`
			Address  string      `json:"address"`
			Number   json.Number `json:"account_number"`
			Sequence json.Number `json:"sequence"`
		} `json:"account"`
	}
	if err := c.get(ctx, "/cosmos/auth/v1beta1/accounts/"+address, nil, &resp); err != nil {
		return Account{}, fmt.Errorf("read account %s: %w", address, err)
	}
	if resp.Account == nil {
		return Account{}, fmt.Errorf("read account %s: the answer has no \"account\" field", address)
	}
	num, err1 := strconv.ParseUint(string(resp.Account.Number), 10, 64)
	seq, err2 := strconv.ParseUint(orZero(string(resp.Account.Sequence)), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Account{}, fmt.Errorf("read account %s: %w", address, err)
	}
	return Account{Address: resp.Account.Address, Number: num, Sequence: seq}, nil
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// TxResponse is a node's answer about a transaction.
type TxResponse struct {
	Hash      string
	Height    int64
	Code      uint32
	Codespace string
	RawLog    string
	GasUsed   uint64
}

// OK tells whether the transaction passed (code 0).
func (r TxResponse) OK() bool { return r.Code == 0 }

// SequenceMismatch tells whether the node refused the transaction for its
// account sequence (sdk code 32): another client used the account.
func (r TxResponse) SequenceMismatch() bool {
	return r.Codespace == "sdk" && r.Code == 32
}

type wireTxResponse struct {
	TxResponse *struct {
		Height    json.Number `json:"height"`
		TxHash    string      `json:"txhash"`
		Codespace string      `json:"codespace"`
		Code      uint32      `json:"code"`
		RawLog    string      `json:"raw_log"`
		GasUsed   json.Number `json:"gas_used"`
	} `json:"tx_response"`
}

func (w wireTxResponse) response() (TxResponse, error) {
	if w.TxResponse == nil {
		return TxResponse{}, errors.New("the answer has no \"tx_response\" field")
	}
	r := w.TxResponse
	h, _ := strconv.ParseInt(orZero(string(r.Height)), 10, 64)
	g, _ := strconv.ParseUint(orZero(string(r.GasUsed)), 10, 64)
	return TxResponse{Hash: r.TxHash, Height: h, Code: r.Code, Codespace: r.Codespace, RawLog: r.RawLog, GasUsed: g}, nil
}

// Mismatch returns the sequence mismatch a refusal is, if it is one.
func (r TxResponse) Mismatch() (*SequenceMismatch, bool) {
	if !r.SequenceMismatch() {
		return nil, false
	}
	if m, ok := parseSequenceMismatch(r.RawLog); ok {
		return m, true
	}
	return &SequenceMismatch{Message: r.RawLog}, true
}

// Simulate asks a node what the transaction would use in gas.
func (c *Client) Simulate(ctx context.Context, txBytes []byte) (uint64, error) {
	var resp struct {
		GasInfo *struct {
			GasUsed json.Number `json:"gas_used"`
		} `json:"gas_info"`
	}
	if err := c.post(ctx, "/cosmos/tx/v1beta1/simulate", map[string]any{"tx_bytes": base64.StdEncoding.EncodeToString(txBytes)}, &resp); err != nil {
		// The node runs the transaction on its check state, pending
		// transactions included: a sequence behind them is refused here.
		var e *Error
		if errors.As(err, &e) && e.Code == 2 {
			if m, ok := parseSequenceMismatch(e.Message); ok {
				return 0, fmt.Errorf("simulate the transaction: %w", m)
			}
		}
		return 0, fmt.Errorf("simulate the transaction: %w", err)
	}
	if resp.GasInfo == nil {
		return 0, errors.New("simulate the transaction: the answer has no \"gas_info\"")
	}
	gas, err := strconv.ParseUint(string(resp.GasInfo.GasUsed), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("simulate the transaction: gas_used %q: %w", resp.GasInfo.GasUsed, err)
	}
	return gas, nil
}

// Broadcast sends a signed transaction (sync: the node checks it and
// answers before inclusion).
func (c *Client) Broadcast(ctx context.Context, txBytes []byte) (TxResponse, error) {
	var resp wireTxResponse
	body := map[string]any{"tx_bytes": base64.StdEncoding.EncodeToString(txBytes), "mode": "BROADCAST_MODE_SYNC"}
	if err := c.post(ctx, "/cosmos/tx/v1beta1/txs", body, &resp); err != nil {
		return TxResponse{}, fmt.Errorf("broadcast the transaction: %w", err)
	}
	r, err := resp.response()
	if err != nil {
		return TxResponse{}, fmt.Errorf("broadcast the transaction: %w", err)
	}
	return r, nil
}

// Tx looks a transaction up by hash; ErrNotFound while it is not in a block.
func (c *Client) Tx(ctx context.Context, hash string) (TxResponse, error) {
	var resp wireTxResponse
	if err := c.get(ctx, "/cosmos/tx/v1beta1/txs/"+hash, nil, &resp); err != nil {
		return TxResponse{}, fmt.Errorf("look up transaction %s: %w", hash, err)
	}
	return resp.response()
}

// WaitTx polls for a transaction until it is in a block or ctx ends.
func (c *Client) WaitTx(ctx context.Context, hash string, every time.Duration) (TxResponse, error) {
	for {
		r, err := c.Tx(ctx, hash)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return TxResponse{}, err
		}
		select {
		case <-ctx.Done():
			return TxResponse{}, fmt.Errorf("transaction %s not in a block yet: %w", hash, context.Cause(ctx))
		case <-time.After(every):
		}
	}
}

// LatestHeight is the height of the node's latest block.
func (c *Client) LatestHeight(ctx context.Context) (int64, error) {
	b, err := c.Block(ctx, 0)
	return b.Height, err
}

// Block is a block's height and the time its proposer gave it.
type Block struct {
	Height int64
	Time   time.Time
}

// Block reads the block at height (0: the latest) from
// /cosmos/base/tendermint/v1beta1/blocks/{height|latest}.
func (c *Client) Block(ctx context.Context, height int64) (Block, error) {
	what, path := "the latest block", "/cosmos/base/tendermint/v1beta1/blocks/latest"
	if height > 0 {
		what, path = fmt.Sprintf("block %d", height), "/cosmos/base/tendermint/v1beta1/blocks/"+strconv.FormatInt(height, 10)
	}
	var resp struct {
		Block *struct {
			Header struct {
				Height json.Number `json:"height"`
				Time   string      `json:"time"`
			} `json:"header"`
		} `json:"block"`
	}
	if err := c.get(ctx, path, nil, &resp); err != nil {
		return Block{}, fmt.Errorf("read %s: %w", what, err)
	}
	if resp.Block == nil {
		return Block{}, fmt.Errorf("read %s: the answer has no \"block\"", what)
	}
	h, err := strconv.ParseInt(string(resp.Block.Header.Height), 10, 64)
	if err != nil || h <= 0 || (height > 0 && h != height) {
		return Block{}, fmt.Errorf("read %s: height %q", what, resp.Block.Header.Height)
	}
	t, err := time.Parse(time.RFC3339Nano, resp.Block.Header.Time)
	if err != nil {
		return Block{}, fmt.Errorf("read %s: time %q: %v", what, resp.Block.Header.Time, err)
	}
	return Block{Height: h, Time: t}, nil
}

// Clock tells how long ago a height was, as the chain measures it: from
// its latest block and the pace of its recent blocks. Block times differ
// from chain to chain and over a chain's upgrades (1 s on a local node,
// about 6 s on mainnet), so no constant is assumed.
type Clock struct {
	Latest Block
	// PerBlock is the mean time between the recent blocks, measured over
	// Span blocks.
	PerBlock time.Duration
	Span     int64
}

// Age is how long before the latest block the block at height was made,
// at the recent pace.
func (k Clock) Age(height int64) time.Duration {
	return time.Duration(k.Latest.Height-height) * k.PerBlock
}

// Clock reads the latest block and one 1,000 blocks before it (100, or
// 10, on a node that has pruned those or a chain that young) and measures
// the pace between them. A chain whose pace cannot be measured is an
// error: ages are not guessed.
func (c *Client) Clock(ctx context.Context) (Clock, error) {
	latest, err := c.Block(ctx, 0)
	if err != nil {
		return Clock{}, err
	}
	var errs []error
	for _, span := range []int64{1000, 100, 10} {
		span = min(span, latest.Height-1)
		if span < 1 {
			break
		}
		before, err := c.Block(ctx, latest.Height-span)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		per := latest.Time.Sub(before.Time) / time.Duration(span)
		if per <= 0 {
			return Clock{}, fmt.Errorf("block %d is dated %s, not before the latest block %d (%s): the chain's pace cannot be measured",
				before.Height, before.Time.Format(time.RFC3339), latest.Height, latest.Time.Format(time.RFC3339))
		}
		return Clock{Latest: latest, PerBlock: per, Span: span}, nil
	}
	return Clock{}, fmt.Errorf("measure the chain's block pace: no earlier block can be read: %w", errors.Join(errs...))
}
