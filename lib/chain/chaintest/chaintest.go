// Package chaintest is an in-repo Akash node for tests: it answers the
// REST (grpc-gateway JSON) queries the janitor makes, in the node's shape
// (held to it by lib/chain/testdata), with the node's pagination (the next
// page is asked by key alone; filters in a request with a key are ignored),
// and faults on demand: failing, garbled or hanging answers, and a
// pagination that never ends.
package chaintest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/akash"
	"github.com/akash-janitor/akash-janitor/lib/chain"
)

// Chain is the simulated chain state and its REST server.
type Chain struct {
	mu     sync.Mutex
	leases map[akash.LeaseID]*chain.Lease
	// Height is the current block height.
	Height int64
	// Version is the node's application version: 2.0.1 (the recorded
	// node: no lease reclamation, the reclaiming filter refused) or 2.1.0
	// and on (reclamation).
	Version string

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
}

// New returns an empty chain at height 1,000,000, a node of version 2.0.1
// as recorded in shared/akash-node; WithReclamation makes it a 2.1 node.
func New() *Chain {
	return &Chain{leases: map[akash.LeaseID]*chain.Lease{}, Height: 1_000_000, Version: "2.0.1"}
}

// Start serves the chain until the test ends; the URL is the REST endpoint.
func (c *Chain) Start(t interface{ Cleanup(func()) }) *httptest.Server {
	s := httptest.NewServer(c)
	t.Cleanup(s.Close)
	return s
}

// WithReclamation makes the node one with lease reclamation (2.1).
func (c *Chain) WithReclamation() *Chain { c.Version = "2.1.0"; return c }

func (c *Chain) knowsReclamation() bool {
	return (chain.NodeInfo{AppVersion: c.Version}).KnowsReclamation()
}

// Put adds or replaces a lease.
func (c *Chain) Put(l chain.Lease) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leases[l.ID] = &l
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

// Close closes a lease as the chain does (state closed, reason, height).
func (c *Chain) Close(id akash.LeaseID, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.leases[id]; ok {
		l.State, l.Reason, l.ClosedOn = chain.StateClosed, reason, c.Height
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

type pageKey struct {
	Provider string `json:"p"`
	Owner    string `json:"o"`
	State    string `json:"s"`
	Offset   int    `json:"n"`
}

// ServeHTTP answers the market queries.
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
	if c.serveTx(w, r) {
		return
	}
	switch r.URL.Path {
	case "/cosmos/base/tendermint/v1beta1/node_info":
		writeJSON(w, http.StatusOK, map[string]any{
			"default_node_info":   map[string]any{"network": ChainID, "version": "0.38.19", "moniker": "chaintest"},
			"application_version": map[string]any{"name": "akash", "app_name": "akash", "version": c.Version}})
	case "/akash/market/v1beta5/leases/list":
		c.list(w, r)
	case "/akash/market/v1beta5/leases/info":
		c.info(w, r)
	default:
		writeJSON(w, http.StatusNotImplemented, map[string]any{"code": 12, "message": "Not Implemented", "details": []any{}})
	}
}

func (c *Chain) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c.mu.Lock()
	failAfter := c.failListAfter
	c.mu.Unlock()
	var k pageKey
	if key := q.Get("pagination.key"); key != "" {
		// As the node: with a key, the filters come from the key alone.
		b, err := base64.StdEncoding.DecodeString(key)
		if err != nil || json.Unmarshal(b, &k) != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "invalid pagination key", "details": []any{}})
			return
		}
	} else {
		k = pageKey{Provider: q.Get("filters.provider"), Owner: q.Get("filters.owner"), State: q.Get("filters.state")}
		switch k.State {
		case "", chain.StateActive, chain.StateInsufficientFunds, chain.StateClosed:
		case chain.StateReclaiming:
			if c.knowsReclamation() {
				break
			}
			fallthrough // a node before 2.1 knows no such state
		default:
			writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "invalid state value", "details": []any{}})
			return
		}
	}
	limit := 100
	if l, err := strconv.Atoi(q.Get("pagination.limit")); err == nil && l > 0 {
		limit = l
	}
	if failAfter > 0 && k.Offset >= failAfter*limit {
		writeJSON(w, http.StatusInternalServerError, map[string]any{"code": 13, "message": "simulated failure halfway through the listing", "details": []any{}})
		return
	}
	c.mu.Lock()
	var match []chain.Lease
	for _, l := range c.leases {
		if (k.Provider == "" || l.ID.Provider == k.Provider) && (k.Owner == "" || l.ID.Owner == k.Owner) && (k.State == "" || l.State == k.State) {
			match = append(match, *l)
		}
	}
	loop := c.loopPages
	c.mu.Unlock()
	sort.Slice(match, func(i, j int) bool { return match[i].ID.String() < match[j].ID.String() })
	end := min(k.Offset+limit, len(match))
	page := []any{}
	for _, l := range match[min(k.Offset, len(match)):end] {
		page = append(page, leaseResponse(l))
	}
	var next any
	if end < len(match) || loop {
		nk := k
		nk.Offset = end
		if loop {
			nk.Offset = k.Offset
		}
		b, _ := json.Marshal(nk)
		next = base64.StdEncoding.EncodeToString(b)
	}
	writeJSON(w, http.StatusOK, map[string]any{"leases": page, "pagination": map[string]any{"next_key": next, "total": "0"}})
}

func (c *Chain) info(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dseq, err1 := strconv.ParseUint(q.Get("id.dseq"), 10, 64)
	gseq, err2 := strconv.ParseUint(q.Get("id.gseq"), 10, 32)
	oseq, err3 := strconv.ParseUint(q.Get("id.oseq"), 10, 32)
	if err1 != nil || err2 != nil || err3 != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 3, "message": "invalid lease id", "details": []any{}})
		return
	}
	id := akash.LeaseID{Owner: q.Get("id.owner"), DSeq: dseq, GSeq: uint32(gseq), OSeq: uint32(oseq), Provider: q.Get("id.provider")}
	l, ok := c.Get(id)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"code": 5, "message": "lease not found", "details": []any{}})
		return
	}
	writeJSON(w, http.StatusOK, leaseResponse(l))
}

// leaseResponse is a QueryLeaseResponse in the node's JSON.
func leaseResponse(l chain.Lease) map[string]any {
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
	if r := l.Reclamation; r != nil {
		lease["reclamation"] = map[string]any{"window": fmt.Sprintf("%.0fs", r.Window.Seconds()),
			"started_at": strconv.FormatInt(r.StartedAt, 10), "deadline": strconv.FormatInt(r.Deadline.Unix(), 10), "reason": r.Reason}
	}
	payState := "open"
	if l.State == chain.StateClosed {
		payState = "closed"
	}
	denom := or(l.Price.Denom, "uakt")
	coin := func(a string) map[string]any { return map[string]any{"denom": denom, "amount": a} }
	return map[string]any{
		"lease": lease,
		"escrow_payment": map[string]any{
			"id": map[string]any{"aid": map[string]any{"scope": "deployment", "xid": fmt.Sprintf("%s/%d", l.ID.Owner, l.ID.DSeq)},
				"xid": fmt.Sprintf("%d/%d/%s", l.ID.GSeq, l.ID.OSeq, l.ID.Provider)},
			"state": map[string]any{"owner": l.ID.Provider, "state": payState, "rate": coin(or(l.Price.Amount, "1.000000000000000000")),
				"balance": coin("0.000000000000000000"), "unsettled": coin("0.000000000000000000"),
				"withdrawn": map[string]any{"denom": denom, "amount": "0"}},
		},
	}
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
