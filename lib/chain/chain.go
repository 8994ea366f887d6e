// Package chain reads what the janitor's jobs need from an Akash node's
// REST (grpc-gateway JSON) API: a provider's leases by state, with the
// node's pagination, and one lease by ID. Several endpoints are tried in
// order, each with a timeout, a bounded number of rounds. A response that
// does not parse, or pagination that does not finish, is an error, never an
// empty or short list: jobs that delete on "not on chain" depend on it.
package chain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/akash-janitor/akash-janitor/lib/akash"
)

// Lease states as the node names them (chain-sdk akash/market/v1
// lease.proto Lease.State). Two are live (active, and reclaiming from node
// 2.1 on) and two ended: closed, and insufficient_funds, which the chain
// sets when a settlement finds the deployment's escrow overdrawn (node
// x/market/hooks/hooks.go OnEscrowAccountClosed and OnEscrowPaymentClosed,
// x/market/keeper/keeper.go OnLeaseClosed). Nothing reopens an ended
// lease, and the node refuses to close one again (x/market/handler
// server.go CloseBid: market code 10, lease not active).
const (
	StateActive            = "active"
	StateInsufficientFunds = "insufficient_funds"
	StateClosed            = "closed"
	StateReclaiming        = "reclaiming"
)

// ReasonInsufficientFunds is the reason the chain gives a lease it ended
// because its escrow ran dry (LeaseClosedReason 20000).
const ReasonInsufficientFunds = "lease_closed_reason_insufficient_funds"

// Ended tells whether the lease is over on chain for good: closed, or
// ended for insufficient funds.
func (l Lease) Ended() bool { return l.State == StateClosed || l.State == StateInsufficientFunds }

// Live tells whether the lease still runs on chain: active or reclaiming.
func (l Lease) Live() bool { return l.State == StateActive || l.State == StateReclaiming }

// EndedText says for people how an ended lease ended: "insufficient funds
// (its escrow ran dry)", "closed by its owner", "closed (unstable)".
func (l Lease) EndedText() string {
	switch {
	case l.State == StateInsufficientFunds || l.Reason == ReasonInsufficientFunds:
		return "ended for insufficient funds (its escrow ran dry)"
	case l.Reason == "lease_closed_owner":
		return "closed by its owner"
	case strings.HasPrefix(l.Reason, "lease_closed_reason_"):
		return "closed (" + strings.ReplaceAll(strings.TrimPrefix(l.Reason, "lease_closed_reason_"), "_", " ") + ")"
	}
	return l.State
}

// Lease is a lease on chain.
type Lease struct {
	ID akash.LeaseID
	// BSeq is the bid sequence (v1beta5); 0 on older nodes.
	BSeq  uint32
	State string
	Price struct{ Denom, Amount string }
	// CreatedAt and ClosedOn are block heights.
	CreatedAt, ClosedOn int64
	// Reason is why it closed (lease_closed_...), if it did.
	Reason string
	// Reclamation, when set, is the window a provider must wait before the
	// lease can be closed.
	Reclamation *Reclamation
}

// InReclamationWindow tells whether the lease is reclaiming and its
// deadline has not passed at now: the chain refuses to close it until then
// (ErrReclamationWindowNotElapsed). A reclaiming lease whose window the
// node did not state is taken as inside it.
func (l Lease) InReclamationWindow(now time.Time) (deadline time.Time, inside bool) {
	if l.State != StateReclaiming {
		return time.Time{}, false
	}
	if l.Reclamation == nil || l.Reclamation.Deadline.IsZero() {
		return time.Time{}, true
	}
	return l.Reclamation.Deadline, now.Before(l.Reclamation.Deadline)
}

// ReclamationUnstarted tells whether the lease is active with a
// reclamation window not yet started (node 2.1 on, AEP-82): the chain
// refuses to close it (ErrReclamationNotStarted) until the provider sends
// MsgLeaseStartReclaim and the window has passed.
func (l Lease) ReclamationUnstarted() bool {
	return l.State == StateActive && l.Reclamation != nil && l.Reclamation.StartedAt == 0
}

// WindowText says a reclamation deadline for people: a time, or that the
// node did not give one.
func WindowText(deadline time.Time) string {
	if deadline.IsZero() {
		return "an unstated deadline"
	}
	return deadline.UTC().Format(time.RFC3339)
}

// Reclamation is a lease's reclamation window.
type Reclamation struct {
	Window time.Duration
	// StartedAt is the height MsgLeaseStartReclaim was included at.
	StartedAt int64
	// Deadline is when the lease may be closed: the chain keeps it as unix
	// seconds (chain-sdk akash/market/v1 Reclamation.deadline).
	Deadline time.Time
	Reason   string
}

// Client reads from one or more nodes.
type Client struct {
	// Endpoints are REST base URLs (https://api.akashnet.net:443), tried in
	// order.
	Endpoints []string
	// MarketVersion is the market API: v1beta5 (default), or v1beta4 for
	// older nodes.
	MarketVersion string
	HTTP          *http.Client
	// Timeout bounds each request; Rounds is how many times the endpoint
	// list is gone through before giving up.
	Timeout time.Duration
	Rounds  int
	// PageLimit is the leases asked per page.
	PageLimit int
	requests  atomic.Int64

	mu sync.Mutex
	// node is what the node said of itself, once asked (NodeInfo).
	node *NodeInfo
	// noReclaiming: the node refused the reclaiming filter once; it is not
	// asked again for the client's life (a run).
	noReclaiming bool
}

// asks tells whether a listing by state should be sent: a node known to
// predate lease reclamation (its version, or its refusal earlier in the
// run) is not asked for reclaiming leases, which it has none of.
func (c *Client) asks(state string) bool {
	if state != StateReclaiming {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.noReclaiming && (c.node == nil || !c.node.predatesReclamation())
}

// Requests is the number of requests made so far.
func (c *Client) Requests() int64 { return c.requests.Load() }

// ErrNotFound is returned for a lease the chain does not know.
var ErrNotFound = errors.New("not found on chain")

// Error is a node's answer that is an error.
type Error struct {
	Endpoint string
	Status   int
	Code     int
	Message  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: HTTP %d, code %d: %s", e.Endpoint, e.Status, e.Code, e.Message)
}

// definitive tells a node's answer about the request itself (HTTP 400: a
// bad filter, a bad address; a refused simulation), which another endpoint
// or another round would answer the same, from a failure worth failing over.
func definitive(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Status == http.StatusBadRequest || e.Status == http.StatusNotImplemented ||
		(e.Status == http.StatusInternalServerError && e.Code == 2)
}

// explain adds what to do to a node's answer an operator can fix: a market
// API the node does not serve (node 2.0 answers v1beta4 with 501).
func (c *Client) explain(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusNotImplemented {
		return fmt.Errorf("%w: the node does not serve the %s market API; nodes since 1.0 serve v1beta5 (--market-api, chart provider.marketAPI)", err, c.version())
	}
	return err
}

// ErrStateUnknown is the reclaiming state refused as a filter by a node
// before 2.1 (no lease reclamation); any other state refused is an error
// of its own.
var ErrStateUnknown = errors.New("the node does not know this lease state")

func (c *Client) version() string {
	if c.MarketVersion == "" {
		return "v1beta5"
	}
	return c.MarketVersion
}

// Validate checks the configuration.
func (c *Client) Validate() error {
	if len(c.Endpoints) == 0 {
		return errors.New("no chain REST endpoint configured")
	}
	for _, e := range c.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("chain REST endpoint %q: want http(s)://host[:port]", e)
		}
	}
	if v := c.version(); v != "v1beta5" && v != "v1beta4" {
		return fmt.Errorf("market API version %q: want v1beta5 or v1beta4", v)
	}
	return nil
}

// get fetches path?query from the first endpoint that answers, going
// through the endpoints up to Rounds times, and decodes the JSON into out.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, query, nil, max(c.Rounds, 1), out)
}

// post sends JSON to the first endpoint that answers, one round only: a
// transaction is not sent again and again.
func (c *Client) post(ctx context.Context, path string, body any, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, nil, payload, 1, out)
}

// do is one request with failover: each endpoint in order, for rounds
// rounds, with a growing pause between them. A 404 whose body is a gRPC
// NotFound is ErrNotFound at once.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, payload []byte, rounds int, out any) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	client := c.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	var errs []error
	for round := 0; round < rounds; round++ {
		for _, base := range c.Endpoints {
			if err := ctx.Err(); err != nil {
				return err
			}
			err := c.once(ctx, client, timeout, method, strings.TrimRight(base, "/")+path, query, payload, out)
			if err == nil || errors.Is(err, ErrNotFound) || definitive(err) {
				return err
			}
			errs = append(errs, err)
		}
		if round+1 < rounds {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(round+1) * 500 * time.Millisecond):
			}
		}
	}
	return fmt.Errorf("no chain endpoint answered %s: %w", path, distinct(errs))
}

// distinct joins the errors, each text once with how many times it came
// (an endpoint down answers every round alike).
func distinct(errs []error) error {
	var out []error
	count := map[string]int{}
	for _, err := range errs {
		if count[err.Error()]++; count[err.Error()] == 1 {
			out = append(out, err)
		}
	}
	for i, err := range out {
		if n := count[err.Error()]; n > 1 {
			out[i] = fmt.Errorf("%w (%d times)", err, n)
		}
	}
	return errors.Join(out...)
}

func (c *Client) once(ctx context.Context, client *http.Client, timeout time.Duration, method, u string, query url.Values, payload []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	full := u
	if len(query) > 0 {
		full += "?" + query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, full, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.requests.Add(1)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s: read the answer: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(answer, &e)
		if e.Message == "" {
			e.Message = fmt.Sprintf("%.200s", answer)
		}
		// gRPC NotFound is code 5.
		if resp.StatusCode == http.StatusNotFound && e.Code == 5 {
			return fmt.Errorf("%s: %w", e.Message, ErrNotFound)
		}
		return &Error{Endpoint: u, Status: resp.StatusCode, Code: e.Code, Message: e.Message}
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("%s: the answer is not the expected JSON: %w", u, err)
	}
	return nil
}

// wire forms (grpc-gateway JSON: 64-bit integers as strings).
type wireLeaseID struct {
	Owner    string      `json:"owner"`
	DSeq     json.Number `json:"dseq"`
	GSeq     json.Number `json:"gseq"`
	OSeq     json.Number `json:"oseq"`
	Provider string      `json:"provider"`
	BSeq     json.Number `json:"bseq"`
}

type wireLease struct {
	ID      *wireLeaseID `json:"id"`       // v1beta5
	LeaseID *wireLeaseID `json:"lease_id"` // v1beta4
	State   *string      `json:"state"`
	Price   struct {
		Denom  string `json:"denom"`
		Amount string `json:"amount"`
	} `json:"price"`
	CreatedAt   json.Number `json:"created_at"`
	ClosedOn    json.Number `json:"closed_on"`
	Reason      string      `json:"reason"`
	Reclamation *struct {
		Window    string      `json:"window"`
		StartedAt json.Number `json:"started_at"`
		Deadline  json.Number `json:"deadline"`
		Reason    string      `json:"reason"`
	} `json:"reclamation"`
}

type wireLeaseResponse struct {
	Lease *wireLease `json:"lease"`
}

type wireLeasesResponse struct {
	Leases     *[]wireLeaseResponse `json:"leases"`
	Pagination *wirePagination      `json:"pagination"`
}

// parseUint reads a JSON number (a string, for 64-bit integers) of at
// most bits bits; empty is 0.
func parseUint(field string, n json.Number, bits int) (uint64, error) {
	if n == "" {
		return 0, nil
	}
	v, err := strconv.ParseUint(string(n), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not an unsigned integer", field, n)
	}
	return v, nil
}

// parse reads a lease's (or a bid's) ID and its bid sequence.
func (id *wireLeaseID) parse() (akash.LeaseID, uint32, error) {
	dseq, err1 := parseUint("dseq", id.DSeq, 64)
	gseq, err2 := parseUint("gseq", id.GSeq, 32)
	oseq, err3 := parseUint("oseq", id.OSeq, 32)
	bseq, err4 := parseUint("bseq", id.BSeq, 32)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return akash.LeaseID{}, 0, fmt.Errorf("id: %w", err)
	}
	l := akash.LeaseID{Owner: id.Owner, DSeq: dseq, GSeq: uint32(gseq), OSeq: uint32(oseq), Provider: id.Provider}
	if err := l.Validate(); err != nil {
		return akash.LeaseID{}, 0, fmt.Errorf("lease id: %w", err)
	}
	return l, uint32(bseq), nil
}

func (w *wireLease) lease() (Lease, error) {
	id := w.ID
	if id == nil {
		id = w.LeaseID
	}
	if id == nil || w.State == nil {
		return Lease{}, errors.New("lease without id or state")
	}
	var l Lease
	var err error
	if l.ID, l.BSeq, err = id.parse(); err != nil {
		return Lease{}, err
	}
	created, err1 := parseUint("created_at", w.CreatedAt, 63)
	closed, err2 := parseUint("closed_on", w.ClosedOn, 63)
	if err := errors.Join(err1, err2); err != nil {
		return Lease{}, fmt.Errorf("lease %s: %w", l.ID, err)
	}
	l.State, l.Reason = *w.State, w.Reason
	l.Price.Denom, l.Price.Amount = w.Price.Denom, w.Price.Amount
	l.CreatedAt, l.ClosedOn = int64(created), int64(closed)
	switch l.State {
	case StateActive, StateInsufficientFunds, StateClosed, StateReclaiming:
	default:
		return Lease{}, fmt.Errorf("lease %s: unknown state %q", l.ID, l.State)
	}
	if r := w.Reclamation; r != nil {
		window, err := time.ParseDuration(r.Window)
		if err != nil {
			return Lease{}, fmt.Errorf("lease %s: reclamation window %q: %v", l.ID, r.Window, err)
		}
		started, err1 := parseUint("reclamation.started_at", r.StartedAt, 63)
		deadline, err2 := parseUint("reclamation.deadline", r.Deadline, 63)
		if err := errors.Join(err1, err2); err != nil {
			return Lease{}, err
		}
		l.Reclamation = &Reclamation{Window: window, StartedAt: int64(started), Reason: r.Reason}
		if deadline != 0 { // 0: not started
			l.Reclamation.Deadline = time.Unix(int64(deadline), 0).UTC()
		}
	}
	return l, nil
}

// maxPages bounds a listing: a node that keeps answering with a next key
// is broken, and the listing fails rather than going on forever.
const maxPages = 100_000

// Leases returns every lease of the provider in the state ("" for all),
// through every page. The first request carries the filters; each next one
// the page key (and the page size) alone, as the node expects.
func (c *Client) Leases(ctx context.Context, provider, state string) ([]Lease, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := ValidateAddress(provider); err != nil {
		return nil, fmt.Errorf("list the leases of %q: %w", provider, err)
	}
	path := "/akash/market/" + c.version() + "/leases/list"
	limit := c.PageLimit
	if limit <= 0 {
		limit = 1000
	}
	q := url.Values{"filters.provider": {provider}, "pagination.limit": {strconv.Itoa(limit)}}
	if state != "" {
		q.Set("filters.state", state)
	}
	var out []Lease
	err := listPages(ctx, c, path, q, limit, "the leases of "+provider, func(page int, resp *wireLeasesResponse) (*wirePagination, error) {
		if resp.Leases == nil {
			return nil, fmt.Errorf("list the leases of %s (page %d): the answer has no \"leases\" field", provider, page+1)
		}
		for i, w := range *resp.Leases {
			if w.Lease == nil {
				return nil, fmt.Errorf("list the leases of %s (page %d): leases[%d] has no lease", provider, page+1, i)
			}
			l, err := w.Lease.lease()
			if err != nil {
				return nil, fmt.Errorf("list the leases of %s (page %d): leases[%d]: %w", provider, page+1, i, err)
			}
			out = append(out, l)
		}
		return resp.Pagination, nil
	})
	if err != nil {
		var e *Error
		var first firstPageError
		if state == StateReclaiming && errors.As(err, &first) && errors.As(err, &e) && e.Status == http.StatusBadRequest && e.Code == 3 && strings.Contains(e.Message, "invalid state value") {
			return nil, fmt.Errorf("list the %s leases of %s: %w (%s)", state, provider, ErrStateUnknown, e.Message)
		}
		return nil, err
	}
	return out, nil
}

type wirePagination struct {
	NextKey *string `json:"next_key"`
}

// firstPageError marks a request error on a listing's first page.
type firstPageError struct{ error }

func (e firstPageError) Unwrap() error { return e.error }

// listPages asks path page after page, each answer decoded as R and given
// to take, which returns the page's pagination. The first request carries
// q's filters; each next one the page key (and the page size) alone, as
// the node expects: the key says where to go on, filters included, and
// the node ignores filters given with a key. A key seen twice, or more
// than maxPages pages, is an error: pagination that does not finish.
func listPages[R any](ctx context.Context, c *Client, path string, q url.Values, limit int, what string, take func(page int, resp *R) (*wirePagination, error)) error {
	seen := map[string]bool{}
	for page := 0; page < maxPages; page++ {
		var resp R
		if err := c.get(ctx, path, q, &resp); err != nil {
			err = fmt.Errorf("list %s (page %d): %w", what, page+1, c.explain(err))
			if page == 0 {
				return firstPageError{err}
			}
			return err
		}
		pg, err := take(page, &resp)
		if err != nil {
			return err
		}
		if pg == nil || pg.NextKey == nil || *pg.NextKey == "" {
			return nil
		}
		key := *pg.NextKey
		if seen[key] {
			return fmt.Errorf("list %s: the node returned page key %q twice: pagination does not finish", what, key)
		}
		seen[key] = true
		q = url.Values{"pagination.key": {key}, "pagination.limit": {strconv.Itoa(limit)}}
	}
	return fmt.Errorf("list %s: more than %d pages: pagination does not finish", what, maxPages)
}

// LeasesByState lists the provider's leases in each of the states, by ID.
// A state the node does not know (reclaiming before 2.1) is returned in
// unknown, not as an error: such a node has no lease in it. It is not
// asked at all of a node whose version (NodeInfo, read earlier) predates
// it, nor again after the node refused it once. A lease the
// node lists under another state than the one asked for makes the whole
// answer untrustworthy: an error.
func (c *Client) LeasesByState(ctx context.Context, provider string, states ...string) (leases map[akash.LeaseID]Lease, unknown []string, err error) {
	leases = map[akash.LeaseID]Lease{}
	for _, state := range states {
		if !c.asks(state) {
			unknown = append(unknown, state)
			continue
		}
		got, err := c.Leases(ctx, provider, state)
		if errors.Is(err, ErrStateUnknown) {
			c.mu.Lock()
			c.noReclaiming = true
			c.mu.Unlock()
			unknown = append(unknown, state)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		for _, l := range got {
			if l.State != state {
				return nil, nil, fmt.Errorf("asked for %s leases, the node answered lease %s %s: the answer cannot be trusted", state, l.ID, l.State)
			}
			leases[l.ID] = l
		}
	}
	return leases, unknown, nil
}

// Lease returns one lease by ID; ErrNotFound if the chain has none.
func (c *Client) Lease(ctx context.Context, id akash.LeaseID) (Lease, error) {
	return c.LeaseBid(ctx, id, 0)
}

// LeaseBid returns one lease by ID and bid sequence (part of the node's
// lookup key since v1beta5); ErrNotFound if the chain has none.
func (c *Client) LeaseBid(ctx context.Context, id akash.LeaseID, bseq uint32) (Lease, error) {
	if err := c.Validate(); err != nil {
		return Lease{}, err
	}
	if err := errors.Join(ValidateAddress(id.Owner), ValidateAddress(id.Provider)); err != nil {
		return Lease{}, fmt.Errorf("read lease %s: %w", id, err)
	}
	q := url.Values{"id.owner": {id.Owner}, "id.dseq": {strconv.FormatUint(id.DSeq, 10)},
		"id.gseq": {strconv.FormatUint(uint64(id.GSeq), 10)}, "id.oseq": {strconv.FormatUint(uint64(id.OSeq), 10)}, "id.provider": {id.Provider}}
	if c.version() == "v1beta5" {
		q.Set("id.bseq", strconv.FormatUint(uint64(bseq), 10))
	}
	var resp wireLeaseResponse
	if err := c.get(ctx, "/akash/market/"+c.version()+"/leases/info", q, &resp); err != nil {
		return Lease{}, fmt.Errorf("read lease %s: %w", id, c.explain(err))
	}
	if resp.Lease == nil {
		return Lease{}, fmt.Errorf("read lease %s: the answer has no \"lease\" field", id)
	}
	l, err := resp.Lease.lease()
	if err != nil {
		return Lease{}, fmt.Errorf("read lease %s: %w", id, err)
	}
	if l.ID != id {
		return Lease{}, fmt.Errorf("read lease %s: the node answered with lease %s", id, l.ID)
	}
	return l, nil
}
