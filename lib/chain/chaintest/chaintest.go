// Package chaintest is an in-repo Akash node for tests: it answers the
// REST (grpc-gateway JSON) queries and transactions the janitor sends as
// the recorded nodes do (replay_test.go holds it to every recording in
// lib/chain/testdata: node-2.0.1 and node-2.0.1-run2, node-2.1.0-rc12):
// the node's lease walks and pagination keys, its refusals word for word,
// simulate that runs the messages, the ante handler's checks in their
// order at CheckTx, and the market module's codes in the block. New is
// the 2.0.1 node; WithReclamation makes it the 2.1 node (AEP-82). Faults
// on demand: failing, garbled or hanging answers, a pagination that never
// ends, a busy provider account.
package chaintest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"time"

	sdk "github.com/cosmos/cosmos-sdk/types"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
	"github.com/akash-janitor/akash-janitor/lib/chaintx"
)

// Chain is the simulated chain state and its REST server.
type Chain struct {
	mu     sync.Mutex
	leases map[akash.LeaseID]*chain.Lease
	byPK   []*chain.Lease // the leases in primary-key order; nil after a Put
	// Height is the current block height.
	Height int64
	// ChainID is the chain's ID (default ChainID): transactions must be
	// signed for it.
	ChainID string
	// MinGasPrice is what CheckTx asks a fee to pay per unit of gas, in
	// uakt (default 0.025, as the recorded node).
	MinGasPrice float64
	// Version is the node's application version: 2.0.1 (the recorded
	// node: no lease reclamation, the reclaiming filter refused) or 2.1.0
	// and on (reclamation).
	Version string
	// BlockInterval is the pace the chain made its blocks at
	// (DefaultBlockInterval if 0): the latest block is now, each one
	// before it that much earlier (BlockTime). The recorded nodes made one
	// a second.
	BlockInterval time.Duration
	// PrunedBelow, if set, is the lowest height whose block the node still
	// has: blocks below it are gone, as on a node that prunes its block
	// store.
	PrunedBelow int64
	// Clock, if set, is the chain's time: the time of the block being
	// made, which the reclamation deadlines are counted from and against;
	// nil is the wall clock.
	Clock func() time.Time
	// SDKSource is where the node's build had the cosmos-sdk sources, as
	// the locations in its error messages name them: cosmossdk.io/errors
	// (stacktrace.go, writeSimpleFrame) cuts a file's path after its first
	// "github.com/", so a node built from the module cache says
	// cosmos/cosmos-sdk@v0.53.6/baseapp/baseapp.go:1052, as both nodes
	// recorded on 2026-12-04 do (2.0.1 and 2.1.0-rc12); the first 2.0.1
	// node recorded (2026-12-01), whose sources sat one github.com/
	// deeper, said github.com/cosmos/cosmos-sdk@v0.53.5/... Empty is
	// cosmos/cosmos-sdk. The version after the @ is the node's
	// (sdkVersion).
	SDKSource string

	failNext  int
	failCode  int
	garbage   bool
	hang      time.Duration
	loopPages bool
	requests  int

	accounts     map[string]*account
	applied      []Applied
	mismatchNext int
	// unnamedMismatch: sequence refusals name no sequence.
	unnamedMismatch bool
	failListAfter   int
	grants          map[grantKey]bool

	// The deployments' escrow (escrow.go): accounts by deployment,
	// payments by lease.
	escrow   map[deploymentKey]*escrowAccount
	payments map[akash.LeaseID]*payment

	// Orders and bids (bids.go), and the bid deposits given back to each
	// provider.
	bids    map[chain.BidID]*simBid
	orders  map[orderKey]*simOrder
	refunds map[string]sdk.DecCoins

	// Providers, audits and certificates (registry.go).
	reg registry
}

// DefaultBlockInterval is the simulated chain's block pace unless set: about
// mainnet's (its price script counts 6.117 s a block).
const DefaultBlockInterval = 6117 * time.Millisecond

// New returns an empty chain at height 1,000,000, a node of version 2.0.1
// as recorded in shared/akash-node; WithReclamation makes it the 2.1 node
// recorded there (2.1.0-rc12).
func New() *Chain {
	return &Chain{leases: map[akash.LeaseID]*chain.Lease{}, Height: 1_000_000, Version: "2.0.1", ChainID: ChainID, MinGasPrice: 0.025,
		bids: map[chain.BidID]*simBid{}, orders: map[orderKey]*simOrder{}, refunds: map[string]sdk.DecCoins{}}
}

// Start serves the chain until the test ends; the URL is the REST endpoint.
func (c *Chain) Start(t interface{ Cleanup(func()) }) *httptest.Server {
	s := httptest.NewServer(c)
	t.Cleanup(s.Close)
	return s
}

// WithReclamation makes the node one with lease reclamation (2.1): the
// version recorded in shared/akash-node/v2.1.0-rc12.
func (c *Chain) WithReclamation() *Chain { c.Version = "2.1.0-rc12"; return c }

// sdkVersions is the cosmos-sdk each recorded node was built with, by its
// application version (node_info's cosmos_sdk_version, and the version in
// its error locations): shared/akash-node/v2.0.1 and v2.0.1-run2 (2.0.1),
// v2.1.0-rc12.
var sdkVersions = map[string]string{"2.0.1": "v0.53.5", "2.1.0-rc12": "v0.53.6"}

// sdkVersion is the cosmos-sdk of the node's version; a version not
// recorded takes its era's (2.1 and on: the 2.1.0-rc12 node's).
func (c *Chain) sdkVersion() string {
	if v, ok := sdkVersions[c.Version]; ok {
		return v
	}
	if c.knowsReclamation() {
		return sdkVersions["2.1.0-rc12"]
	}
	return sdkVersions["2.0.1"]
}

// where is a location in the cosmos-sdk as the node's error messages
// write it: " [cosmos/cosmos-sdk@v0.53.6/baseapp/baseapp.go:1052]"; none
// for none.
func (c *Chain) where(file string) string {
	if file == "" {
		return ""
	}
	return fmt.Sprintf(" [%s@%s/%s]", or(c.SDKSource, "cosmos/cosmos-sdk"), c.sdkVersion(), file)
}

// now is the chain's time (Clock, else the wall clock).
func (c *Chain) now() time.Time {
	if c.Clock != nil {
		return c.Clock().UTC()
	}
	return time.Now().UTC()
}

func (c *Chain) knowsReclamation() bool {
	return (chain.NodeInfo{AppVersion: c.Version}).KnowsReclamation()
}

// Put adds or replaces a lease.
func (c *Chain) Put(l chain.Lease) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leases[l.ID] = &l
	c.byPK = nil // a new pointer, maybe a new lease: sorted again when listed
	if c.escrow[keyOf(l.ID)] != nil && c.payments[l.ID] == nil && l.Live() {
		c.payments[l.ID] = newPayment() // a lease of a funded deployment
	}
}

// Forget removes a lease, as a node that does not know it (pruned, or
// another chain) answers.
func (c *Chain) Forget(id akash.LeaseID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.leases, id)
	c.byPK = nil
}

// Get returns a lease's state.
func (c *Chain) Get(id akash.LeaseID) (chain.Lease, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.leases[id]
	if !ok {
		return chain.Lease{}, false
	}
	return *l, true
}

// Close closes a lease as a transaction of its tenant or provider does
// (state closed, reason, height), and settles its deployment's escrow as
// the close does: a deployment that cannot pay ends its other leases for
// insufficient funds. A lease that ended already is left as it is.
func (c *Chain) Close(id akash.LeaseID, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.leases[id]; ok && l.Live() {
		l.State, l.Reason, l.ClosedOn = chain.StateClosed, reason, c.Height
		c.closePayment(id)
	}
}

// FailNext makes the next n requests answer HTTP status code.
func (c *Chain) FailNext(n, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failNext, c.failCode = n, status
}

// Garble makes every answer 200 with a body that is not the node's JSON.
func (c *Chain) Garble(on bool) { c.mu.Lock(); c.garbage = on; c.mu.Unlock() }

// Hang delays every answer by d.
func (c *Chain) Hang(d time.Duration) { c.mu.Lock(); c.hang = d; c.mu.Unlock() }

// LoopPages makes every page answer with the same next key.
func (c *Chain) LoopPages(on bool) { c.mu.Lock(); c.loopPages = on; c.mu.Unlock() }

// Requests is the number of requests served.
func (c *Chain) Requests() int { c.mu.Lock(); defer c.mu.Unlock(); return c.requests }

// ServeHTTP answers the node's REST queries the janitor makes.
func (c *Chain) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.requests++
	hang, garbage := c.hang, c.garbage
	fail := 0
	if c.failNext > 0 {
		c.failNext--
		fail = c.failCode
	}
	c.mu.Unlock()
	if hang > 0 {
		select {
		case <-time.After(hang):
		case <-r.Context().Done():
			return
		}
	}
	if fail != 0 {
		writeJSON(w, fail, map[string]any{"code": 14, "message": "simulated failure", "details": []any{}})
		return
	}
	if garbage {
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "<html><body>502 Bad Gateway</body></html>")
		return
	}
	if c.serveTx(w, r) || c.serveRegistry(w, r) {
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/cosmos/base/tendermint/v1beta1/node_info":
		c.nodeInfo(w)
	case r.Method == http.MethodGet && r.URL.Path == "/akash/market/v1beta5/leases/list":
		c.list(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/akash/market/v1beta5/leases/info":
		c.info(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/akash/market/v1beta5/bids/list":
		c.listBids(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/akash/market/v1beta5/bids/info":
		c.bidInfo(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/akash/market/v1beta5/orders/list":
		c.listOrders(w, r)
	default:
		// grpc-gateway's answer to a route it does not have (v1beta4 on a
		// 2.x node among them).
		writeJSON(w, http.StatusNotImplemented, map[string]any{"code": 12, "message": "Not Implemented", "details": []any{}})
	}
}

func (c *Chain) nodeInfo(w http.ResponseWriter) {
	c.mu.Lock()
	chainID, version, sdkVersion := c.ChainID, c.Version, c.sdkVersion()
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"default_node_info": map[string]any{
			"protocol_version": map[string]any{"p2p": "8", "block": "11", "app": "0"},
			"default_node_id":  "0000000000000000000000000000000000000000",
			"listen_addr":      "tcp://127.0.0.1:26656",
			"network":          chainID,
			"version":          "0.38.19",
			"channels":         "QCAhIiMwOGBhAA==",
			"moniker":          "chaintest",
			"other":            map[string]any{"tx_index": "on", "rpc_address": "tcp://127.0.0.1:26657"},
		},
		"application_version": map[string]any{
			"name": "akash", "app_name": "akash", "version": version,
			"git_commit": "", "build_tags": "", "go_version": "go version " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
			"build_deps":         []any{map[string]any{"path": "github.com/cosmos/cosmos-sdk", "version": sdkVersion, "sum": ""}},
			"cosmos_sdk_version": sdkVersion,
		},
	})
}

// info answers one lease by its full ID, bseq included, checking the
// addresses as the node does (owner first).
func (c *Chain) info(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var id akash.LeaseID
	var bseq uint64
	for _, p := range []struct {
		name string
		bits int
		to   func(uint64)
	}{
		{"id.dseq", 64, func(v uint64) { id.DSeq = v }},
		{"id.gseq", 32, func(v uint64) { id.GSeq = uint32(v) }},
		{"id.oseq", 32, func(v uint64) { id.OSeq = uint32(v) }},
		{"id.bseq", 32, func(v uint64) { bseq = v }},
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
	l, ok := c.Get(id)
	if !ok || uint64(l.BSeq) != bseq {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 5, "message": "codespace market code 20: invalid lease: lease not found", "details": []any{}})
		return
	}
	c.mu.Lock()
	pay, reclamation := c.paymentOf(&l), c.knowsReclamation()
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, leaseResponse(l, pay, reclamation))
}

// leaseResponse is a QueryLeaseResponse in the node's JSON: the lease and
// its escrow payment. A node with reclamation (2.1) writes every lease's
// reclamation, null for a lease bid without a window
// (02_list_provider_active_with_reclamation of node-2.1.0-rc12); a 2.0.1
// node has no such field. A closed lease keeps the reclamation it had
// (19_info_closed_keeps_reclamation).
func leaseResponse(l chain.Lease, pay paymentView, reclamation bool) map[string]any {
	reason := l.Reason
	if reason == "" {
		reason = "lease_closed_invalid"
	}
	lease := map[string]any{
		"id": map[string]any{"owner": l.ID.Owner, "dseq": strconv.FormatUint(l.ID.DSeq, 10), "gseq": l.ID.GSeq, "oseq": l.ID.OSeq,
			"provider": l.ID.Provider, "bseq": l.BSeq},
		"state":      l.State,
		"price":      map[string]any{"denom": or(l.Price.Denom, "uakt"), "amount": or(l.Price.Amount, "1.000000000000000000")},
		"created_at": strconv.FormatInt(l.CreatedAt, 10),
		"closed_on":  strconv.FormatInt(l.ClosedOn, 10),
		"reason":     reason,
	}
	if reclamation {
		lease["reclamation"] = nil
	}
	if r := l.Reclamation; r != nil {
		lease["reclamation"] = map[string]any{"window": fmt.Sprintf("%.0fs", r.Window.Seconds()),
			"started_at": strconv.FormatInt(r.StartedAt, 10), "deadline": unixOrZero(r.Deadline), "reason": or(r.Reason, "lease_closed_invalid")}
	}
	denom := or(l.Price.Denom, "uakt")
	coin := func(a string) map[string]any { return map[string]any{"denom": denom, "amount": a} }
	return map[string]any{
		"lease": lease,
		"escrow_payment": map[string]any{
			"id": map[string]any{"aid": map[string]any{"scope": "deployment", "xid": fmt.Sprintf("%s/%d", l.ID.Owner, l.ID.DSeq)},
				"xid": fmt.Sprintf("%d/%d/%s", l.ID.GSeq, l.ID.OSeq, l.ID.Provider)},
			"state": map[string]any{"owner": l.ID.Provider, "state": pay.state, "rate": coin(or(l.Price.Amount, "1.000000000000000000")),
				"balance": coin(pay.balance), "unsettled": coin(pay.unsettled),
				"withdrawn": map[string]any{"denom": denom, "amount": pay.withdrawn}},
		},
	}
}

// unixOrZero is a deadline as the chain keeps it: unix seconds, 0 for
// none yet.
func unixOrZero(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
