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
	"time"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// ChainID is the simulated chain's ID.
const ChainID = "akashnet-2"

// account is an account's committed state (what the accounts query
// answers) and what the mempool holds of it (what simulate and CheckTx
// count): a provider's daemon with a bid in flight is one ahead.
type account struct {
	number, sequence uint64
	pending          uint64 // transactions of the account in the mempool
	busy             bool   // a new one arrives with every block
}

func (a *account) checkSequence() uint64 { return a.sequence + a.pending }

// Busy makes the account's owner send a transaction every block, as a
// bidding provider's daemon does: one is always pending, so the sequence
// the accounts query answers is one behind what simulate and broadcast
// expect.
func (c *Chain) Busy(address string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.accounts[address]; ok {
		a.busy = on
		if on && a.pending == 0 {
			a.pending = 1
		}
	}
}

// commitBlock makes a block: every pending transaction is included; a busy
// account sends its next one.
func (c *Chain) commitBlock() {
	c.Height++
	for _, a := range c.accounts {
		a.sequence += a.pending
		a.pending = 0
		if a.busy {
			a.pending = 1
		}
	}
}

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
func (c *Chain) Advance(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := int64(0); i < n; i++ {
		c.commitBlock()
	}
}

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

// UnnamedMismatches makes sequence refusals say no sequence, as a node
// behind a proxy that trims messages might.
func (c *Chain) UnnamedMismatches(on bool) { c.mu.Lock(); c.unnamedMismatch = on; c.mu.Unlock() }

func (c *Chain) mismatchText(want, got uint64) string {
	if c.unnamedMismatch {
		return "account sequence mismatch: incorrect account sequence"
	}
	return fmt.Sprintf("account sequence mismatch, expected %d, got %d: incorrect account sequence", want, got)
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
		status, body := c.simulate(txBytes)
		writeJSON(w, status, body)
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

// Gas as the recorded node charges it (shared/akash-node, 2.0.1): one
// MsgCloseBid 241,314 with a fee, three 634,214; an authz MsgExec wrapping
// one 257,876; a probe without a fee about 18,062 less (223,252).
const (
	gasBase     = 44_864
	gasPerClose = 196_450
	gasExec     = 16_562
	gasNoFee    = 18_062
	// gasSequence is what the ante handler has used when it finds the
	// sequence wrong.
	gasSequence = 31_326
)

// simulate answers /cosmos/tx/v1beta1/simulate as the node does: it checks
// the signature and runs the messages on the check state (pending
// transactions counted), changing nothing; a refusal is HTTP 500 code 2.
func (c *Chain) simulate(txBytes []byte) (int, map[string]any) {
	refuse := func(msg string, gas int) (int, map[string]any) {
		return http.StatusInternalServerError, map[string]any{"code": 2, "details": []any{},
			"message": fmt.Sprintf("%s with gas used: '%d'", msg, gas)}
	}
	d, err := chaintx.Verify(txBytes, ChainID, c.accountNumber)
	if err != nil {
		return http.StatusBadRequest, map[string]any{"code": 3, "message": err.Error(), "details": []any{}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if want := c.accounts[d.Signer].checkSequence(); d.Sequence != want {
		return refuse(c.mismatchText(want, d.Sequence), gasSequence)
	}
	closes, exec, code, log := c.execute(d.Signer, d.Msgs)
	gas := gasBase + gasPerClose*max(len(closes), 1)
	if exec {
		gas += gasExec
	}
	if d.Fee.IsZero() {
		gas -= gasNoFee
	}
	if code != 0 {
		return refuse("failed to execute message; "+log, gas/4)
	}
	return http.StatusOK, map[string]any{"gas_info": map[string]any{"gas_wanted": "18446744073709551615",
		"gas_used": strconv.Itoa(gas)}, "result": map[string]any{"data": "", "log": "", "events": []any{}}}
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
	if want := a.checkSequence(); d.Sequence != want {
		return txResponse(hash, 0, "sdk", 32, c.mismatchText(want, d.Sequence))
	}
	a.pending++ // in the mempool until the block
	c.commitBlock()
	applied := Applied{Hash: hash, Height: c.Height, Signer: d.Signer, Fee: d.Fee.String(), Gas: d.GasLimit}
	closes, _, code, log := c.execute(d.Signer, d.Msgs)
	applied.Code, applied.Log = code, log
	if code == 0 {
		for _, cl := range closes {
			cl.lease.State, cl.lease.Reason, cl.lease.ClosedOn = chain.StateClosed, cl.reason, c.Height
			applied.Closed = append(applied.Closed, cl.id)
		}
	} else {
		applied.Log = "failed to execute message; " + applied.Log
	}
	c.applied = append(c.applied, applied)
	// Sync broadcast answers CheckTx: passed; the result is in the block.
	return txResponse(hash, 0, "", 0, "")
}

// closing is one lease a transaction closes.
type closing struct {
	lease  *chain.Lease
	id     chain.BidID
	reason string
}

// execute runs the messages on the current state without changing it, as
// the market module would: the leases they close, whether they came in an
// authz MsgExec, or the first failure's code and log (market codes: 6
// unknown bid, 10 lease not active).
func (c *Chain) execute(signer string, msgs []chaintx.Msg) (closes []closing, exec bool, code uint32, log string) {
	fail := func(i int, c uint32, format string, args ...any) ([]closing, bool, uint32, string) {
		return nil, exec, c, fmt.Sprintf("message index: %d: ", i) + fmt.Sprintf(format, args...)
	}
	// Each close, and whom it acts for: the signer itself, or the granter
	// of an authz grant it holds.
	type closeBy struct {
		index int
		msg   chain.MsgCloseBid
		grant bool
	}
	var wanted []closeBy
	for i, m := range msgs {
		switch m.TypeURL {
		case chain.TypeURLMsgCloseBid:
			msg, err := chain.UnmarshalMsgCloseBid(m.Value)
			if err != nil {
				return fail(i, 2, "%v", err)
			}
			wanted = append(wanted, closeBy{index: i, msg: msg})
		case chain.TypeURLMsgExec:
			exec = true
			x, err := chain.UnmarshalMsgExec(m.Value)
			if err != nil {
				return fail(i, 2, "%v", err)
			}
			if x.Grantee != signer {
				return fail(i, 4, "MsgExec grantee %s is not the signer %s", x.Grantee, signer)
			}
			for _, inner := range x.Msgs {
				if inner.TypeURL != chain.TypeURLMsgCloseBid {
					return fail(i, 6, "MsgExec of %s is not supported here", inner.TypeURL)
				}
				msg, err := chain.UnmarshalMsgCloseBid(inner.Value)
				if err != nil {
					return fail(i, 2, "%v", err)
				}
				wanted = append(wanted, closeBy{index: i, msg: msg, grant: true})
			}
		default:
			return fail(i, 6, "unknown type URL %s", m.TypeURL)
		}
	}
	for _, w := range wanted {
		l, ok := c.leases[w.msg.ID.LeaseID()]
		if !ok {
			return fail(w.index, 6, "unknown bid")
		}
		deadline, inWindow := l.InReclamationWindow(time.Now())
		switch {
		case !w.grant && l.ID.Provider != signer:
			return fail(w.index, 4, "%s may not close %s's bid", signer, l.ID.Provider)
		case w.grant && !c.grants[grantKey{l.ID.Provider, signer, chain.TypeURLMsgCloseBid}]:
			return fail(w.index, 4, "authorization not found: %s has no grant from %s for MsgCloseBid", signer, l.ID.Provider)
		case inWindow:
			return fail(w.index, 17, "lease %s is in its reclamation window until %s", l.ID, chain.WindowText(deadline))
		case l.State == chain.StateClosed:
			return fail(w.index, 10, "lease not active")
		}
		closes = append(closes, closing{lease: l, id: w.msg.ID, reason: reasonName(w.msg.Reason)})
	}
	return closes, exec, 0, ""
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
