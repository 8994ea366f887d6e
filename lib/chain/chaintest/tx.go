package chaintest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// ChainID is the simulated chain's ID.
const ChainID = "akashnet-2"

type account struct{ number, sequence uint64 }

// Applied is a transaction the chain ran.
type Applied struct {
	Hash   string
	Height int64
	Signer string
	// Closed are the leases its messages closed.
	Closed []chain.BidID
	Code   uint32
	Log    string
	// Fee and Gas are what the transaction offered.
	Fee string
	Gas uint64
}

// AddAccount opens an account and returns its number.
func (c *Chain) AddAccount(address string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.accounts == nil {
		c.accounts = map[string]*account{}
	}
	if a, ok := c.accounts[address]; ok {
		return a.number
	}
	n := uint64(len(c.accounts) + 100)
	c.accounts[address] = &account{number: n}
	return n
}

// UseSequence advances an account's sequence, as another client sending a
// transaction from the same account does.
func (c *Chain) UseSequence(address string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.accounts[address]; ok {
		a.sequence++
	}
}

// Advance moves the chain n blocks on.
func (c *Chain) Advance(n int64) { c.mu.Lock(); c.Height += n; c.mu.Unlock() }

// FailListAfter makes lease listings fail (HTTP 500) from their page n on
// (0: never), as a node that errors halfway through.
func (c *Chain) FailListAfter(n int) { c.mu.Lock(); c.failListAfter = n; c.mu.Unlock() }

type grantKey struct{ granter, grantee, msgType string }

// Grant records an authz grant: grantee may send msgType for granter.
func (c *Chain) Grant(granter, grantee, msgType string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.grants == nil {
		c.grants = map[grantKey]bool{}
	}
	c.grants[grantKey{granter, grantee, msgType}] = true
}

// MismatchNext makes the next n broadcasts meet an account whose sequence
// another client has just used.
func (c *Chain) MismatchNext(n int) { c.mu.Lock(); c.mismatchNext = n; c.mu.Unlock() }

// Applied returns the transactions run, in order.
func (c *Chain) Applied() []Applied {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Applied(nil), c.applied...)
}

func (c *Chain) serveTx(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/cosmos/auth/v1beta1/accounts/"):
		addr := strings.TrimPrefix(r.URL.Path, "/cosmos/auth/v1beta1/accounts/")
		c.mu.Lock()
		a, ok := c.accounts[addr]
		var num, seq uint64
		if ok {
			num, seq = a.number, a.sequence
		}
		c.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]any{"code": 5, "message": fmt.Sprintf("account %s not found", addr), "details": []any{}})
			return true
		}
		writeJSON(w, http.StatusOK, map[string]any{"account": map[string]any{"@type": "/cosmos.auth.v1beta1.BaseAccount", "address": addr,
			"pub_key": nil, "account_number": strconv.FormatUint(num, 10), "sequence": strconv.FormatUint(seq, 10)}})
	case r.Method == http.MethodGet && r.URL.Path == "/cosmos/base/tendermint/v1beta1/blocks/latest":
		c.mu.Lock()
		h := c.Height
		c.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"block_id": map[string]any{}, "block": map[string]any{"header": map[string]any{
			"chain_id": ChainID, "height": strconv.FormatInt(h, 10)}}})
	case r.Method == http.MethodPost && r.URL.Path == "/cosmos/tx/v1beta1/simulate":
		txBytes, ok := txBytesOf(w, r)
		if !ok {
			return true
		}
		d, err := chaintx.Verify(txBytes, ChainID, c.accountNumber)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": err.Error(), "details": []any{}})
			return true
		}
		writeJSON(w, http.StatusOK, map[string]any{"gas_info": map[string]any{"gas_wanted": "0",
			"gas_used": strconv.Itoa(60000 + 25000*len(d.Msgs))}, "result": map[string]any{"log": ""}})
	case r.Method == http.MethodPost && r.URL.Path == "/cosmos/tx/v1beta1/txs":
		txBytes, ok := txBytesOf(w, r)
		if !ok {
			return true
		}
		writeJSON(w, http.StatusOK, map[string]any{"tx_response": c.broadcast(txBytes)})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/cosmos/tx/v1beta1/txs/"):
		hash := strings.TrimPrefix(r.URL.Path, "/cosmos/tx/v1beta1/txs/")
		c.mu.Lock()
		var found *Applied
		for i := range c.applied {
			if c.applied[i].Hash == hash {
				found = &c.applied[i]
			}
		}
		c.mu.Unlock()
		if found == nil {
			writeJSON(w, http.StatusNotFound, map[string]any{"code": 5, "message": "tx not found: " + hash, "details": []any{}})
			return true
		}
		writeJSON(w, http.StatusOK, map[string]any{"tx_response": txResponse(found.Hash, found.Height, found.Codespace(), found.Code, found.Log)})
	default:
		return false
	}
	return true
}

func txBytesOf(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var req struct {
		TxBytes string `json:"tx_bytes"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "invalid request: " + err.Error(), "details": []any{}})
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(req.TxBytes)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "tx_bytes is not base64", "details": []any{}})
		return nil, false
	}
	return b, true
}

func (c *Chain) accountNumber(address string) (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.accounts[address]
	if !ok {
		return 0, false
	}
	return a.number, true
}

func txResponse(hash string, height int64, codespace string, code uint32, log string) map[string]any {
	return map[string]any{"height": strconv.FormatInt(height, 10), "txhash": hash, "codespace": codespace, "code": code,
		"raw_log": log, "gas_wanted": "0", "gas_used": "0"}
}

// broadcast checks a transaction as a node's CheckTx does (signature,
// sequence), then runs it in the next block: every MsgCloseBid closes its
// lease, or the whole transaction fails.
func (c *Chain) broadcast(txBytes []byte) map[string]any {
	sum := sha256.Sum256(txBytes)
	hash := strings.ToUpper(hex.EncodeToString(sum[:]))
	d, err := chaintx.Verify(txBytes, ChainID, c.accountNumber)
	if err != nil {
		return txResponse(hash, 0, "sdk", 4, "unauthorized: "+err.Error())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.accounts[d.Signer]
	if c.mismatchNext > 0 {
		c.mismatchNext--
		a.sequence++
	}
	if d.Sequence != a.sequence {
		return txResponse(hash, 0, "sdk", 32, fmt.Sprintf("account sequence mismatch, expected %d, got %d: incorrect account sequence", a.sequence, d.Sequence))
	}
	a.sequence++
	c.Height++
	applied := Applied{Hash: hash, Height: c.Height, Signer: d.Signer, Fee: d.Fee.String(), Gas: d.GasLimit}
	var closes []*chain.Lease
	var reasons []string
	// Each close, and whom it acts for: the signer itself, or the granter
	// of an authz grant it holds.
	type closeBy struct {
		msg   chain.MsgCloseBid
		grant bool
	}
	var wanted []closeBy
	for i, m := range d.Msgs {
		switch m.TypeURL {
		case chain.TypeURLMsgCloseBid:
			msg, err := chain.UnmarshalMsgCloseBid(m.Value)
			if err != nil {
				applied.Code, applied.Log = 2, err.Error()
			}
			wanted = append(wanted, closeBy{msg: msg})
		case chain.TypeURLMsgExec:
			exec, err := chain.UnmarshalMsgExec(m.Value)
			if err != nil {
				applied.Code, applied.Log = 2, err.Error()
				break
			}
			if exec.Grantee != d.Signer {
				applied.Code, applied.Log = 4, fmt.Sprintf("message %d: MsgExec grantee %s is not the signer %s", i, exec.Grantee, d.Signer)
				break
			}
			for _, inner := range exec.Msgs {
				if inner.TypeURL != chain.TypeURLMsgCloseBid {
					applied.Code, applied.Log = 6, fmt.Sprintf("message %d: MsgExec of %s is not supported here", i, inner.TypeURL)
					break
				}
				msg, err := chain.UnmarshalMsgCloseBid(inner.Value)
				if err != nil {
					applied.Code, applied.Log = 2, err.Error()
					break
				}
				wanted = append(wanted, closeBy{msg: msg, grant: true})
			}
		default:
			applied.Code, applied.Log = 6, fmt.Sprintf("message %d: unknown type URL %s", i, m.TypeURL)
		}
		if applied.Code != 0 {
			break
		}
	}
	for i, w := range wanted {
		if applied.Code != 0 {
			break
		}
		msg := w.msg
		l, ok := c.leases[msg.ID.LeaseID()]
		switch {
		case !ok:
			applied.Code, applied.Log = 5, fmt.Sprintf("message %d: bid %s not found", i, msg.ID.LeaseID())
		case !w.grant && l.ID.Provider != d.Signer:
			applied.Code, applied.Log = 4, fmt.Sprintf("message %d: %s may not close %s's bid", i, d.Signer, l.ID.Provider)
		case w.grant && !c.grants[grantKey{l.ID.Provider, d.Signer, chain.TypeURLMsgCloseBid}]:
			applied.Code, applied.Log = 4, fmt.Sprintf("message %d: authorization not found: %s has no grant from %s for MsgCloseBid", i, d.Signer, l.ID.Provider)
		case l.State == chain.StateReclaiming && l.Reclamation != nil && c.Height < l.Reclamation.Deadline:
			applied.Code, applied.Log = 17, fmt.Sprintf("message %d: lease %s is in its reclamation window until height %d", i, l.ID, l.Reclamation.Deadline)
		case l.State == chain.StateClosed:
			applied.Code, applied.Log = 8, fmt.Sprintf("message %d: lease %s is not active", i, l.ID)
		}
		if applied.Code != 0 {
			break
		}
		closes = append(closes, l)
		reasons = append(reasons, reasonName(msg.Reason))
		applied.Closed = append(applied.Closed, msg.ID)
	}
	if applied.Code == 0 {
		for i, l := range closes {
			l.State, l.Reason, l.ClosedOn = chain.StateClosed, reasons[i], c.Height
		}
	} else {
		applied.Closed = nil
		applied.Log = "failed to execute message; " + applied.Log
	}
	c.applied = append(c.applied, applied)
	// Sync broadcast answers CheckTx: passed; the result is in the block.
	return txResponse(hash, 0, "", 0, "")
}

// Codespace of a failed run (the market module's).
func (a Applied) Codespace() string {
	if a.Code == 0 {
		return ""
	}
	return "market"
}

func reasonName(n int32) string {
	switch n {
	case 10000:
		return "lease_closed_reason_unstable"
	case 10001:
		return "lease_closed_reason_decommission"
	case 10002:
		return "lease_closed_reason_unspecified"
	case 10003:
		return "lease_closed_reason_manifest_timeout"
	}
	return "lease_closed_invalid"
}
