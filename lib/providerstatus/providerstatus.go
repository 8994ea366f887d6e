// Package providerstatus reads what an akash-provider says of itself on
// its gateway's unauthenticated GET /status (port 8443): how many leases
// it holds a deployment manager for, and its inventory reservations. The
// provider keeps both in memory, rebuilt from the Manifest CRs only when
// it starts (provider cluster/service.go, cluster/inventory.go), so a
// lease torn down by anyone but the provider stays counted there until
// the provider restarts: the capacity is not bid again. Comparing this
// with what the cluster holds tells whether a restart would give it back.
//
// The answer's shape follows the provider's source: gateway/rest/router.go
// createStatusHandler, chain-sdk go/provider/client/types.go and
// go/inventory/v1/metrics.go (testdata/README.md says which version).
package providerstatus

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// DefaultURL is the status of the provider the akash-provider Helm chart
// installs: its Service akash-provider in akash-services, gateway port
// 8443.
const DefaultURL = "https://akash-provider.akash-services.svc:8443/status"

// Status is what the provider says of itself.
type Status struct {
	// Address is the provider's account (akash1...).
	Address string
	// Leases is the number of leases it holds a deployment manager for
	// (cluster.leases).
	Leases int
	// Active and Pending are its inventory reservations: deployed and
	// healthy, and the rest (a lease whose namespace is gone among them).
	Active, Pending int
	// InventoryReady is false while the provider's inventory is not yet
	// known (just after it started): its counts are then not final.
	InventoryReady bool
	// Orders is the number of orders its bid engine is working on.
	Orders int
}

// Reservations is every reservation the provider holds.
func (s Status) Reservations() int { return s.Active + s.Pending }

// Reader reads one provider's status.
type Reader struct {
	// URL is the status endpoint: https://host:8443/status.
	URL string
	// Timeout bounds one read (10 s if 0).
	Timeout time.Duration
	// HTTP is the client (one with the provider's TLS, below, if nil).
	HTTP *http.Client
}

// NewReader checks the URL and returns a reader of it.
//
// The provider serves its gateway with its own certificate, the one it
// published on chain, which no CA signed: the reader does not verify it.
// What it reads is public and holds no secret, it sends nothing (no
// client certificate, no authorization header: the provider refuses a
// malformed one even here, gateway/rest/auth.go), and the most a forged
// answer can make a job do is restart the provider once per cool-down,
// which does not touch running workloads.
func NewReader(rawURL string, timeout time.Duration) (*Reader, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("provider status URL %q: want https://host:8443/status", rawURL)
	}
	return &Reader{URL: rawURL, Timeout: timeout}, nil
}

func (r *Reader) client() *http.Client {
	if r.HTTP != nil {
		return r.HTTP
	}
	return &http.Client{Transport: &http.Transport{
		// See NewReader: the provider's self-signed certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // public counts, see NewReader
		Proxy:           http.ProxyFromEnvironment,
	}}
}

// wire is the JSON of the provider's answer; pointers tell a field that
// is missing from a zero.
type wire struct {
	Cluster *struct {
		Leases    *int `json:"leases"`
		Inventory *struct {
			Active    []json.RawMessage `json:"active"`
			Pending   []json.RawMessage `json:"pending"`
			Available json.RawMessage   `json:"available"`
			Error     json.RawMessage   `json:"error"`
		} `json:"inventory"`
	} `json:"cluster"`
	BidEngine *struct {
		Orders int `json:"orders"`
	} `json:"bidengine"`
	Address string `json:"address"`
}

// Read asks the provider for its status. An answer that is not the
// provider's status (no cluster.leases, not JSON, another status code) is
// an error, never a zero count.
func (r *Reader) Read(ctx context.Context) (Status, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return Status{}, fmt.Errorf("read the provider's status at %s: %w", r.URL, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client().Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("read the provider's status: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return Status{}, fmt.Errorf("read the provider's status at %s: %w", r.URL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("read the provider's status at %s: HTTP %d: %.200s", r.URL, resp.StatusCode, body)
	}
	return Parse(body)
}

// Parse reads a status answer.
func Parse(body []byte) (Status, error) {
	var w wire
	if err := json.Unmarshal(body, &w); err != nil {
		return Status{}, fmt.Errorf("the provider's status is not the expected JSON: %w", err)
	}
	if w.Cluster == nil || w.Cluster.Leases == nil {
		return Status{}, errors.New("the provider's status has no cluster.leases: not an akash-provider's /status answer")
	}
	if *w.Cluster.Leases < 0 {
		return Status{}, fmt.Errorf("the provider's status counts %d leases", *w.Cluster.Leases)
	}
	s := Status{Address: w.Address, Leases: *w.Cluster.Leases}
	if inv := w.Cluster.Inventory; inv != nil {
		s.Active, s.Pending = len(inv.Active), len(inv.Pending)
		s.InventoryReady = len(inv.Error) == 0 || string(inv.Error) == "null"
	}
	if w.BidEngine != nil {
		s.Orders = w.BidEngine.Orders
	}
	return s, nil
}
