package chaintest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	sdk "github.com/cosmos/cosmos-sdk/types"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// ChainID is the simulated chain's default ID.
const ChainID = "akashnet-2"

// account is an account's committed state (what the accounts query
// answers) and what the mempool holds of it (what simulate and CheckTx
// count): a provider's daemon with a bid in flight is one ahead.
type account struct {
	number, sequence uint64
	pending          uint64 // transactions of the account in the mempool
	busy             bool   // a new one arrives with every block
	pubKey           []byte // set by its first transaction
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

// Applied is a transaction the chain ran in a block.
type Applied struct {
	Hash   string
	Height int64
	// Signer is the account that signed (the messages' signer).
	Signer string
	// Closed are the leases its messages closed; Reclaiming those whose
	// reclamation it started.
	Closed, Reclaiming []chain.BidID
	// ClosedBids are the open bids its messages closed.
	ClosedBids []chain.BidID
	Code       uint32
	Codespace  string
	Log        string
	// Fee and Gas are what the transaction offered; GasUsed what it used.
	Fee     string
	Gas     uint64
	GasUsed uint64
	Time    time.Time

	tx     chaintx.Decoded
	events []any
}

// AddAccount opens an account and returns its number.
func (c *Chain) AddAccount(address string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.accounts[address]; ok {
		return a.number
	}
	n := uint64(len(c.accounts) + 100)
	c.setAccount(address, n, 0, nil)
	return n
}

// SetAccount opens or sets an account: its number, sequence and public
// key (nil: it has sent no transaction yet).
func (c *Chain) SetAccount(address string, number, sequence uint64, pubKey []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setAccount(address, number, sequence, pubKey)
}

func (c *Chain) setAccount(address string, number, sequence uint64, pubKey []byte) {
	if c.accounts == nil {
		c.accounts = map[string]*account{}
	}
	c.accounts[address] = &account{number: number, sequence: sequence, pubKey: pubKey}
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
		c.account(w, strings.TrimPrefix(r.URL.Path, "/cosmos/auth/v1beta1/accounts/"))
	case r.Method == http.MethodGet && r.URL.Path == "/cosmos/base/tendermint/v1beta1/blocks/latest":
		c.latestBlock(w)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/cosmos/base/tendermint/v1beta1/blocks/"):
		c.blockAt(w, strings.TrimPrefix(r.URL.Path, "/cosmos/base/tendermint/v1beta1/blocks/"))
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
		c.getTx(w, strings.TrimPrefix(r.URL.Path, "/cosmos/tx/v1beta1/txs/"))
	default:
		return false
	}
	return true
}

func (c *Chain) account(w http.ResponseWriter, addr string) {
	if _, err := sdk.GetFromBech32(addr, chaintx.AddressPrefix); err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"code": 2, "message": err.Error(), "details": []any{}})
		return
	}
	c.mu.Lock()
	a, ok := c.accounts[addr]
	var num, seq uint64
	var pub any
	if ok {
		num, seq = a.number, a.sequence
		if a.pubKey != nil {
			pub = map[string]any{"@type": "/cosmos.crypto.secp256k1.PubKey", "key": base64.StdEncoding.EncodeToString(a.pubKey)}
		}
	}
	c.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 5, "message": fmt.Sprintf("account %s not found", addr), "details": []any{}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": map[string]any{"@type": "/cosmos.auth.v1beta1.BaseAccount", "address": addr,
		"pub_key": pub, "account_number": strconv.FormatUint(num, 10), "sequence": strconv.FormatUint(seq, 10)}})
}

// latestBlock answers the newest block in CometBFT's shape; hashes are
// zeros and the block holds the transactions the chain ran at its height.
func (c *Chain) latestBlock(w http.ResponseWriter) {
	c.mu.Lock()
	h := c.Height
	c.mu.Unlock()
	c.block(w, h)
}

// blockAt answers /cosmos/base/tendermint/v1beta1/blocks/{height} as the
// node's cmtservice GetBlockByHeight does (cosmos-sdk
// client/grpc/cmtservice/service.go): a height above the chain's is
// refused as an invalid argument; one below PrunedBelow is gone from the
// block store, as on a node that prunes blocks (CometBFT's words).
func (c *Chain) blockAt(w http.ResponseWriter, raw string) {
	h, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		badRequest(w, fmt.Sprintf("type mismatch, parameter: height, error: strconv.ParseInt: parsing %q: invalid syntax", raw))
		return
	}
	c.mu.Lock()
	latest, pruned := c.Height, c.PrunedBelow
	c.mu.Unlock()
	switch {
	case h > latest:
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "requested block height is bigger then the chain length", "details": []any{}})
	case h < max(pruned, 1):
		writeJSON(w, http.StatusInternalServerError, map[string]any{"code": 2, "message": fmt.Sprintf("height %d is not available, lowest height is %d", h, max(pruned, 1)), "details": []any{}})
	default:
		c.block(w, h)
	}
}

// BlockTime is when the block at height h was made: the latest block now,
// each one before it BlockInterval earlier (the chain made its blocks at
// that pace up to now).
func (c *Chain) BlockTime(h int64) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blockTime(h)
}

func (c *Chain) blockTime(h int64) time.Time {
	interval := c.BlockInterval
	if interval <= 0 {
		interval = DefaultBlockInterval
	}
	return c.now().Add(-time.Duration(c.Height-h) * interval)
}

// block answers one block in CometBFT's shape: hashes are zeros, the time
// is the block's (BlockTime), and it holds the transactions the chain ran
// at its height.
func (c *Chain) block(w http.ResponseWriter, h int64) {
	c.mu.Lock()
	chainID := c.ChainID
	at, before := c.blockTime(h), c.blockTime(h-1)
	txs := []any{}
	for _, a := range c.applied {
		if a.Height == h {
			txs = append(txs, base64.StdEncoding.EncodeToString(a.tx.Raw()))
		}
	}
	c.mu.Unlock()
	zero := base64.StdEncoding.EncodeToString(make([]byte, 32))
	id := map[string]any{"hash": zero, "part_set_header": map[string]any{"total": 1, "hash": zero}}
	header := func(proposer string) map[string]any {
		return map[string]any{"version": map[string]any{"block": "11", "app": "0"}, "chain_id": chainID,
			"height": strconv.FormatInt(h, 10), "time": at.Format(time.RFC3339Nano), "last_block_id": id,
			"last_commit_hash": zero, "data_hash": zero, "validators_hash": zero, "next_validators_hash": zero,
			"consensus_hash": zero, "app_hash": zero, "last_results_hash": zero, "evidence_hash": zero, "proposer_address": proposer}
	}
	commit := map[string]any{"height": strconv.FormatInt(h-1, 10), "round": 0, "block_id": id,
		"signatures": []any{map[string]any{"block_id_flag": "BLOCK_ID_FLAG_COMMIT", "validator_address": base64.StdEncoding.EncodeToString(make([]byte, 20)),
			"timestamp": before.Format(time.RFC3339Nano), "signature": base64.StdEncoding.EncodeToString(make([]byte, 64))}}}
	block := func(proposer string) map[string]any {
		return map[string]any{"header": header(proposer), "data": map[string]any{"txs": txs},
			"evidence": map[string]any{"evidence": []any{}}, "last_commit": commit}
	}
	writeJSON(w, http.StatusOK, map[string]any{"block_id": id, "block": block(base64.StdEncoding.EncodeToString(make([]byte, 20))),
		"sdk_block": block("akashvalcons1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a")})
}

// Gas as the recorded node charges it (shared/akash-node, 2.0.1): one
// MsgCloseBid 241,314 with a fee, three 634,214; an authz MsgExec wrapping
// one 257,876; a probe without a fee about 18,062 less (223,252). A
// refusal stops the count where the node's did: a close of a lease not
// active at 52,249 (2.1.0-rc12's codes 37 and 38 at 52,274 and 52,310),
// of a bid that does not exist at 48,346; an authz MsgExec whose grant is
// missing at 32,428 (both versions). MsgLeaseStartReclaim, as node
// 2.1.0-rc12 charges it: 77,974 with a fee, 59,856 without (about 1.30
// times: the fee's 18,000 weigh more on a small message).
//
// The ante handler's sequence check counts what came before it (cosmos-sdk
// x/auth/ante: ConsumeTxSizeGasDecorator, DeductFeeDecorator, ...): the
// transaction's size at 10 a byte (x/auth's TxSizeCostPerByte), 11,316 of
// reads, and 16,830 more to deduct a fee. Recorded: 31,326 for 318 bytes
// with a fee (v2.0.1 04e_simulate_wrongseq, 04p), 14,566 and 17,506 for
// 325 and 619 without (v2.0.1-run2 12 and 08), 14,576 for 326 without
// (v2.1.0-rc12 18). The other figures hold the size of the recorded
// transactions (about 320 bytes): 10 a byte more or less is well inside
// what the replay allows.
const (
	gasBase        = 44_864
	gasPerClose    = 196_450
	gasPerStart    = 33_110
	gasNoGrant     = 32_428
	gasExec        = 16_562
	gasNoFee       = 18_062
	gasPerTxByte   = 10
	gasSequence    = 11_316
	gasDeductFee   = 16_830
	gasNotActive   = 52_249
	gasUnknownBid  = 48_346
	gasMaxSimulate = "18446744073709551615"
	// Where in the cosmos-sdk the node's errors come from, as its messages
	// say (Chain.where adds the build's source and version).
	atSequence = "x/auth/ante/sigverify.go:364"
	atExecute  = "baseapp/baseapp.go:1052"
	atGrant    = "x/authz/keeper/keeper.go:129"
)

// gasAtSequence is what the ante handler has counted when it refuses the
// sequence.
func gasAtSequence(d chaintx.Decoded) uint64 {
	gas := uint64(gasSequence + gasPerTxByte*len(d.Raw()))
	if !d.Fee.IsZero() {
		gas += gasDeductFee
	}
	return gas
}

// refusal is a transaction the ante handler or the messages refused.
type refusal struct {
	codespace string
	code      uint32
	log       string
	at        string // where in the cosmos-sdk (simulate's message names it: Chain.where)
	gas       uint64
}

// signerOf is the account a message acts for (its GetSigners).
func signerOf(m chaintx.Msg) (string, error) {
	switch m.TypeURL {
	case chain.TypeURLMsgCloseBid, chain.TypeURLMsgLeaseStartReclaim:
		msg, err := chain.UnmarshalMsgCloseBid(m.Value)
		if err != nil {
			return "", err
		}
		return msg.ID.Provider, nil
	case chain.TypeURLMsgExec:
		x, err := chain.UnmarshalMsgExec(m.Value)
		if err != nil {
			return "", err
		}
		return x.Grantee, nil
	}
	return "", fmt.Errorf("unable to resolve type URL %s", m.TypeURL)
}

// ante runs what the node's ante handler checks, in its order: the
// signers the messages name, in CheckTx the fee against the minimum gas
// price, the key against the signer, the sequence, and in CheckTx the
// signature. It returns the signing account.
func (c *Chain) ante(d chaintx.Decoded, checkTx bool) (*account, string, *refusal) {
	var signers []string
	for _, m := range d.Msgs {
		s, err := signerOf(m)
		if err != nil {
			return nil, "", &refusal{codespace: "sdk", code: 2, log: err.Error() + ": tx parse error"}
		}
		if !slices.Contains(signers, s) {
			signers = append(signers, s)
		}
	}
	if len(signers) != 1 {
		return nil, "", &refusal{codespace: "sdk", code: 4, log: fmt.Sprintf("wrong number of signers; expected %d, got 1: unauthorized", len(signers))}
	}
	signer := signers[0]
	if checkTx && c.MinGasPrice > 0 {
		need := sdk.NewInt64Coin("uakt", int64(math.Ceil(float64(d.GasLimit)*c.MinGasPrice)))
		if !d.Fee.IsAnyGTE(sdk.NewCoins(need)) {
			return nil, "", &refusal{codespace: "sdk", code: 13, log: fmt.Sprintf("insufficient fees; got: %s required: %s: insufficient fee", d.Fee, need)}
		}
	}
	a, ok := c.accounts[signer]
	if !ok {
		return nil, "", &refusal{codespace: "sdk", code: 9, log: fmt.Sprintf("account %s does not exist: unknown address", signer)}
	}
	if checkTx && d.Signer != signer {
		return nil, "", &refusal{codespace: "sdk", code: 8, log: fmt.Sprintf("pubKey does not match signer address %s with signer index: 0: invalid pubkey", signer)}
	}
	if want := a.checkSequence(); d.Sequence != want {
		return nil, "", &refusal{codespace: "sdk", code: 32, log: c.mismatchText(want, d.Sequence), at: atSequence, gas: gasAtSequence(d)}
	}
	if checkTx && !d.VerifySignature(c.ChainID, a.number) {
		return nil, "", &refusal{codespace: "sdk", code: 4, log: fmt.Sprintf("signature verification failed; please verify account number (%d) and chain-id (%s): (unable to verify single signer signature): unauthorized", a.number, c.ChainID)}
	}
	return a, signer, nil
}

// gasFor is what running the messages costs when they succeed.
func gasFor(d chaintx.Decoded, r result) uint64 {
	// A bid's close is charged as a lease's: no recording has one (derived).
	work := gasPerClose*(len(r.closes)+len(r.bidCloses)) + gasPerStart*len(r.starts)
	if work == 0 {
		work = gasPerClose
	}
	gas := uint64(gasBase + work)
	if r.exec {
		gas += gasExec
	}
	if d.Fee.IsZero() {
		gas -= gasNoFee
	}
	return gas
}

// simulate answers /cosmos/tx/v1beta1/simulate as the node does: the ante
// handler without the signature and fee checks, then the messages on the
// check state (pending transactions counted), changing nothing; a refusal
// is HTTP 500 code 2 with the node's words.
func (c *Chain) simulate(txBytes []byte) (int, map[string]any) {
	d, err := chaintx.Decode(txBytes)
	if err != nil {
		return http.StatusBadRequest, map[string]any{"code": 3, "message": err.Error(), "details": []any{}}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	refuse := func(r *refusal) (int, map[string]any) {
		return http.StatusInternalServerError, map[string]any{"code": 2, "details": []any{},
			"message": fmt.Sprintf("%s%s with gas used: '%d'", r.log, c.where(r.at), r.gas)}
	}
	_, signer, rf := c.ante(d, false)
	if rf != nil {
		return refuse(rf)
	}
	res := c.execute(signer, d.Msgs)
	if res.refusal != nil {
		return refuse(res.refusal)
	}
	gas := gasFor(d, res)
	return http.StatusOK, map[string]any{
		"gas_info": map[string]any{"gas_wanted": gasMaxSimulate, "gas_used": strconv.FormatUint(gas, 10)},
		"result": map[string]any{"data": base64.StdEncoding.EncodeToString(msgData(d.Msgs)), "log": "",
			"events": c.events(d, signer, res), "msg_responses": msgResponses(d.Msgs)}}
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
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": err.Error(), "details": []any{}})
		return nil, false
	}
	return b, true
}

// txResponse is a TxResponse as broadcast answers it: CheckTx's verdict.
func txResponse(hash, codespace string, code uint32, log string) map[string]any {
	return map[string]any{"height": "0", "txhash": hash, "codespace": codespace, "code": code, "data": "",
		"raw_log": log, "logs": []any{}, "info": "", "gas_wanted": "0", "gas_used": "0", "tx": nil, "timestamp": "", "events": []any{}}
}

// broadcast answers a sync broadcast as a node does: CheckTx (the ante
// handler), then the transaction runs in the next block: every message
// applies, or none does.
func (c *Chain) broadcast(txBytes []byte) map[string]any {
	sum := sha256.Sum256(txBytes)
	hash := strings.ToUpper(hex.EncodeToString(sum[:]))
	d, err := chaintx.Decode(txBytes)
	if err != nil {
		return txResponse(hash, "sdk", 2, err.Error())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mismatchNext > 0 {
		c.mismatchNext--
		if s, err := signerOf(d.Msgs[0]); err == nil && c.accounts[s] != nil {
			c.accounts[s].sequence++
		}
	}
	a, signer, rf := c.ante(d, true)
	if rf != nil {
		return txResponse(hash, rf.codespace, rf.code, rf.log)
	}
	a.pending++ // in the mempool until the block
	a.pubKey = d.PubKey
	c.commitBlock()
	applied := Applied{Hash: hash, Height: c.Height, Signer: signer, Fee: d.Fee.String(), Gas: d.GasLimit, Time: c.now(), tx: d}
	res := c.execute(signer, d.Msgs)
	switch gas := gasFor(d, res); {
	case res.refusal != nil:
		applied.Codespace, applied.Code, applied.Log, applied.GasUsed = res.refusal.codespace, res.refusal.code, res.refusal.log, res.refusal.gas
	case d.GasLimit < gas:
		applied.Codespace, applied.Code, applied.GasUsed = "sdk", 11, d.GasLimit+1
		applied.Log = fmt.Sprintf("out of gas in location: Has; gasWanted: %d, gasUsed: %d: out of gas", d.GasLimit, applied.GasUsed)
	default:
		applied.GasUsed = gas
		for _, cl := range res.closes {
			cl.lease.State, cl.lease.Reason, cl.lease.ClosedOn = chain.StateClosed, cl.reason, c.Height
			c.closePayment(cl.lease.ID)
			if b := c.bids[cl.id]; b != nil {
				c.closeOpenBid(b) // the lease's bid closes with it (OnBidClosed)
			}
			if o := c.orders[orderOf(cl.id)]; o != nil {
				o.state = orderClosed
			}
			applied.Closed = append(applied.Closed, cl.id)
		}
		for _, b := range res.bidCloses {
			c.closeOpenBid(b)
			applied.ClosedBids = append(applied.ClosedBids, b.bid.ID)
		}
		for _, st := range res.starts {
			st.lease.State = chain.StateReclaiming
			st.lease.Reclamation.StartedAt = c.Height
			st.lease.Reclamation.Deadline = applied.Time.Add(st.lease.Reclamation.Window).Truncate(time.Second)
			st.lease.Reclamation.Reason = st.reason
			applied.Reclaiming = append(applied.Reclaiming, st.id)
		}
	}
	if applied.Code == 0 {
		applied.events = c.events(d, signer, res)
	} else {
		applied.events = c.events(d, signer, result{})
	}
	c.applied = append(c.applied, applied)
	return txResponse(hash, "", 0, "")
}

// getTx answers a transaction by hash once it is in a block.
func (c *Chain) getTx(w http.ResponseWriter, hash string) {
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
		return
	}
	tx := txJSON(found.tx)
	anyTx := map[string]any{"@type": "/cosmos.tx.v1beta1.Tx"}
	for k, v := range tx {
		anyTx[k] = v
	}
	data := ""
	if found.Code == 0 {
		data = strings.ToUpper(hex.EncodeToString(msgData(found.tx.Msgs)))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tx": tx, "tx_response": map[string]any{
		"height": strconv.FormatInt(found.Height, 10), "txhash": found.Hash, "codespace": found.Codespace, "code": found.Code,
		"data": data, "raw_log": found.Log, "logs": []any{}, "info": "",
		"gas_wanted": strconv.FormatUint(found.Gas, 10), "gas_used": strconv.FormatUint(found.GasUsed, 10),
		"tx": anyTx, "timestamp": found.Time.Format(time.RFC3339), "events": found.events}})
}

// closing is one lease a transaction closes, or starts the reclamation of.
type closing struct {
	lease  *chain.Lease
	id     chain.BidID
	reason string
}

// result is what the messages do, or the first refusal.
type result struct {
	closes, starts []closing
	// bidCloses are open bids closed (MsgCloseBid on an open bid).
	bidCloses []*simBid
	exec      bool
	refusal   *refusal
}

// execute runs the messages on the current state without changing it, as
// the market module's handlers would (market codes: 6 unknown bid, 7
// unknown lease, 10 lease not active, 35-38 reclamation).
func (c *Chain) execute(signer string, msgs []chaintx.Msg) result {
	var res result
	fail := func(i int, codespace string, code uint32, gas uint64, text string) result {
		return result{exec: res.exec, refusal: &refusal{codespace: codespace, code: code, gas: gas, at: atExecute,
			log: fmt.Sprintf("failed to execute message; message index: %d: %s", i, text)}}
	}
	type want struct {
		index int
		typ   string
		msg   chain.MsgCloseBid
		grant bool
	}
	var wanted []want
	for i, m := range msgs {
		switch m.TypeURL {
		case chain.TypeURLMsgCloseBid, chain.TypeURLMsgLeaseStartReclaim:
			msg, err := chain.UnmarshalMsgCloseBid(m.Value)
			if err != nil {
				return fail(i, "sdk", 2, gasBase, err.Error())
			}
			wanted = append(wanted, want{index: i, typ: m.TypeURL, msg: msg})
		case chain.TypeURLMsgExec:
			res.exec = true
			x, err := chain.UnmarshalMsgExec(m.Value)
			if err != nil {
				return fail(i, "sdk", 2, gasBase, err.Error())
			}
			for _, inner := range x.Msgs {
				if inner.TypeURL != chain.TypeURLMsgCloseBid && inner.TypeURL != chain.TypeURLMsgLeaseStartReclaim {
					return fail(i, "sdk", 6, gasBase, "unknown message type "+inner.TypeURL)
				}
				msg, err := chain.UnmarshalMsgCloseBid(inner.Value)
				if err != nil {
					return fail(i, "sdk", 2, gasBase, err.Error())
				}
				wanted = append(wanted, want{index: i, typ: inner.TypeURL, msg: msg, grant: true})
			}
		}
	}
	now := c.now()
	for _, w := range wanted {
		if w.grant && !c.grants[grantKey{w.msg.ID.Provider, signer, w.typ}] {
			// cosmos-sdk x/authz/keeper/keeper.go DispatchActions: the grant
			// of that message type is looked up, by granter and grantee.
			r := fail(w.index, "authz", 2, gasNoGrant, fmt.Sprintf("failed to get grant with given granter: %s, grantee: %s & msgType: %s : authorization not found",
				w.msg.ID.Provider, signer, w.typ))
			r.refusal.at = atGrant
			return r
		}
		l, ok := leaseOfBid(c, w.msg.ID)
		if b, isBid := c.bids[w.msg.ID]; isBid && w.typ == chain.TypeURLMsgCloseBid {
			// node x/market/handler/server.go CloseBid: an open bid is
			// closed whatever its order's state, the order must exist; a
			// bid in another state needs its lease.
			switch {
			case c.orderState(orderOf(w.msg.ID)) == "":
				return fail(w.index, "market", 9, gasUnknownBid, "unknown order for bid")
			case b.bid.State == chain.BidOpen:
				res.bidCloses = append(res.bidCloses, b)
				continue
			case !ok:
				return fail(w.index, "market", 8, gasUnknownBid, "unknown lease for bid")
			}
		}
		if w.typ == chain.TypeURLMsgLeaseStartReclaim {
			switch {
			case !ok:
				return fail(w.index, "market", 7, gasUnknownBid, "unknown lease")
			case l.State != chain.StateActive:
				return fail(w.index, "market", 10, gasNotActive, "lease not active")
			case l.Reclamation == nil:
				return fail(w.index, "market", 35, gasNotActive, "lease does not have reclamation configured")
			case l.Reclamation.StartedAt != 0:
				return fail(w.index, "market", 36, gasNotActive, "reclamation already in progress")
			}
			res.starts = append(res.starts, closing{lease: l, id: w.msg.ID, reason: chain.CloseReasonName(w.msg.Reason)})
			continue
		}
		if !ok {
			return fail(w.index, "market", 6, gasUnknownBid, "unknown bid")
		}
		switch {
		case l.State == chain.StateActive && l.Reclamation != nil && c.knowsReclamation():
			return fail(w.index, "market", 37, gasNotActive, "reclamation not started; call MsgLeaseStartReclaim first")
		case l.State == chain.StateReclaiming:
			if _, inside := l.InReclamationWindow(now); inside {
				return fail(w.index, "market", 38, gasNotActive, "reclamation window has not elapsed")
			}
		case l.State != chain.StateActive:
			return fail(w.index, "market", 10, gasNotActive, "lease not active")
		}
		res.closes = append(res.closes, closing{lease: l, id: w.msg.ID, reason: chain.CloseReasonName(w.msg.Reason)})
	}
	return res
}

// msgData is the TxMsgData of a successful run: one response Any a
// message (an authz MsgExec's holds one empty result per inner message).
func msgData(msgs []chaintx.Msg) []byte {
	var out []byte
	for _, m := range msgs {
		a := protowire.AppendTag(nil, 1, protowire.BytesType)
		a = protowire.AppendString(a, m.TypeURL+"Response")
		if m.TypeURL == chain.TypeURLMsgExec {
			x, _ := chain.UnmarshalMsgExec(m.Value)
			var results []byte
			for range x.Msgs {
				results = protowire.AppendTag(results, 1, protowire.BytesType)
				results = protowire.AppendBytes(results, nil)
			}
			a = protowire.AppendTag(a, 2, protowire.BytesType)
			a = protowire.AppendBytes(a, results)
		}
		out = protowire.AppendTag(out, 2, protowire.BytesType)
		out = protowire.AppendBytes(out, a)
	}
	return out
}

func msgResponses(msgs []chaintx.Msg) []any {
	var out []any
	for _, m := range msgs {
		r := map[string]any{"@type": m.TypeURL + "Response"}
		if m.TypeURL == chain.TypeURLMsgExec {
			x, _ := chain.UnmarshalMsgExec(m.Value)
			results := []any{}
			for range x.Msgs {
				results = append(results, "")
			}
			r["results"] = results
		}
		out = append(out, r)
	}
	return out
}

// events are the ones a run emits that the janitor could read: the fee,
// the signer's sequence and signature, and per message its action and the
// leases it closed or started reclaiming.
func (c *Chain) events(d chaintx.Decoded, signer string, res result) []any {
	ev := func(typ string, kv ...string) any {
		attrs := []any{}
		for i := 0; i+1 < len(kv); i += 2 {
			attrs = append(attrs, map[string]any{"key": kv[i], "value": kv[i+1], "index": false})
		}
		return map[string]any{"type": typ, "attributes": attrs}
	}
	var out []any
	if !d.Fee.IsZero() {
		out = append(out, ev("coin_spent", "spender", signer, "amount", d.Fee.String()),
			ev("coin_received", "receiver", feeCollector, "amount", d.Fee.String()),
			ev("transfer", "recipient", feeCollector, "sender", signer, "amount", d.Fee.String()),
			ev("message", "sender", signer))
	}
	out = append(out, ev("tx", "fee", d.Fee.String(), "fee_payer", signer),
		ev("tx", "acc_seq", fmt.Sprintf("%s/%d", signer, d.Sequence)),
		ev("tx", "signature", base64.StdEncoding.EncodeToString(d.Signature)))
	if res.refusal != nil || (len(res.closes) == 0 && len(res.starts) == 0 && len(res.bidCloses) == 0) {
		return out
	}
	for i, m := range d.Msgs {
		out = append(out, ev("message", "action", m.TypeURL, "sender", signer, "module", "market", "msg_index", strconv.Itoa(i)))
	}
	for _, cl := range res.closes {
		out = append(out, ev("akash.market.v1.EventLeaseClosed", "id", leaseIDJSON(cl.id), "reason", strconv.Quote(cl.reason)))
	}
	for _, b := range res.bidCloses {
		out = append(out, ev("akash.market.v1.EventBidClosed", "id", leaseIDJSON(b.bid.ID)))
	}
	for _, st := range res.starts {
		// The deadline is the block's time and the window (simulate's: the
		// check state's, v2.1.0-rc12 06_simulate_start_reclaim).
		deadline := strconv.Quote(strconv.FormatInt(c.now().Add(st.lease.Reclamation.Window).Unix(), 10))
		out = append(out, ev("akash.market.v1.EventLeaseReclaimStarted", "deadline", deadline, "id", leaseIDJSON(st.id), "reason", strconv.Quote(st.reason)))
	}
	return out
}

// feeCollector is the fee collector module's account on Akash.
const feeCollector = "akash17xpfvakm2amg962yls6f84z3kell8c5lazw8j8"

func leaseIDJSON(id chain.BidID) string {
	b, _ := json.Marshal(bidIDJSON(id))
	return string(b)
}

func bidIDJSON(id chain.BidID) map[string]any {
	return map[string]any{"owner": id.Owner, "dseq": strconv.FormatUint(id.DSeq, 10), "gseq": id.GSeq, "oseq": id.OSeq,
		"provider": id.Provider, "bseq": id.BSeq}
}

// txJSON is a transaction as the node's tx service writes it.
func txJSON(d chaintx.Decoded) map[string]any {
	var msgs []any
	for _, m := range d.Msgs {
		msgs = append(msgs, msgJSON(m))
	}
	coins := []any{}
	for _, c := range d.Fee {
		coins = append(coins, map[string]any{"denom": c.Denom, "amount": c.Amount.String()})
	}
	return map[string]any{
		"body": map[string]any{"messages": msgs, "memo": d.Memo, "timeout_height": strconv.FormatUint(d.TimeoutHeight, 10),
			"unordered": false, "timeout_timestamp": nil, "extension_options": []any{}, "non_critical_extension_options": []any{}},
		"auth_info": map[string]any{
			"signer_infos": []any{map[string]any{
				"public_key": map[string]any{"@type": "/cosmos.crypto.secp256k1.PubKey", "key": base64.StdEncoding.EncodeToString(d.PubKey)},
				"mode_info":  map[string]any{"single": map[string]any{"mode": "SIGN_MODE_DIRECT"}},
				"sequence":   strconv.FormatUint(d.Sequence, 10)}},
			"fee": map[string]any{"amount": coins, "gas_limit": strconv.FormatUint(d.GasLimit, 10), "payer": d.Payer, "granter": d.Granter},
			"tip": nil},
		"signatures": []any{base64.StdEncoding.EncodeToString(d.Signature)},
	}
}

func msgJSON(m chaintx.Msg) map[string]any {
	switch m.TypeURL {
	case chain.TypeURLMsgCloseBid, chain.TypeURLMsgLeaseStartReclaim:
		msg, err := chain.UnmarshalMsgCloseBid(m.Value)
		if err == nil {
			return map[string]any{"@type": m.TypeURL, "id": bidIDJSON(msg.ID), "reason": chain.CloseReasonName(msg.Reason)}
		}
	case chain.TypeURLMsgExec:
		x, err := chain.UnmarshalMsgExec(m.Value)
		if err == nil {
			inner := []any{}
			for _, a := range x.Msgs {
				inner = append(inner, msgJSON(chaintx.Msg{TypeURL: a.TypeURL, Value: a.Value}))
			}
			return map[string]any{"@type": m.TypeURL, "grantee": x.Grantee, "msgs": inner}
		}
	}
	return map[string]any{"@type": m.TypeURL, "value": base64.StdEncoding.EncodeToString(m.Value)}
}
